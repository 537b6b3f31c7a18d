//go:build linux

package snapshotter

import (
	"context"
	"fmt"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
)

// A profile is what one containerd snapshotter name ([proxy_plugins.NAME])
// gets from this daemon: its own placement of container uppers, its own view
// of the snapshots (profiled.go), and the tmpfs budget, the root and the image
// layers of everybody else.
type policy struct {
	name          string
	backend       upper.Kind
	limits        upper.Limits
	fallbackToDir bool
	volatile      bool
	// upperDir is the profile's upper_dir when it is not the default
	// profile's; it is recorded with each upper placed there.
	upperDir string
}

type profileKey struct{}

// WithProfile returns a context whose snapshot operations run under the named
// profile. A name that is no profile of the daemon's means the default
// profile, so that a containerd config naming the plugin anything works as it
// did before profiles existed.
func WithProfile(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, profileKey{}, name)
}

// ProfileFrom returns the profile name WithProfile put in ctx, as given.
func ProfileFrom(ctx context.Context) string {
	name, _ := ctx.Value(profileKey{}).(string)
	return name
}

// WithProfiles adds profiles besides the default one, which the other options
// define. WithConfig passes those of the configuration file.
func WithProfiles(profiles ...config.Profile) Opt {
	return func(o *options) error {
		o.profiles = append(o.profiles, profiles...)
		return nil
	}
}

// openProfiles builds the policy of every profile and opens the upper_dir of
// each that has one of its own.
func (s *Snapshotter) openProfiles(ctx context.Context) error {
	s.defaultPolicy = policy{
		name:          config.DefaultProfileName,
		backend:       s.opts.backend,
		limits:        s.opts.tmpfsLimits,
		fallbackToDir: s.opts.fallbackToDir,
		volatile:      s.opts.volatile,
	}
	s.policies = make(map[string]policy, len(s.opts.profiles))
	s.profileDirs = make(map[string]*upper.DirStore)
	for _, p := range s.opts.profiles {
		if p.Name == config.DefaultProfileName {
			return fmt.Errorf("profile %q: the name belongs to the default profile: %w", p.Name, errdefs.ErrInvalidArgument)
		}
		pol := policy{
			name:          p.Name,
			backend:       upper.Kind(p.Upper),
			limits:        upper.Limits{Bytes: int64(p.TmpfsSize), Inodes: int64(p.TmpfsInodes)},
			fallbackToDir: p.OnBudgetExceeded == config.OnBudgetDir,
			volatile:      p.Volatile,
		}
		if pol.backend != upper.KindTmpfs && pol.backend != upper.KindDir {
			return fmt.Errorf("profile %q: upper backend %q: %w", p.Name, p.Upper, errdefs.ErrInvalidArgument)
		}
		if pol.limits.Bytes <= 0 || pol.limits.Inodes <= 0 {
			return fmt.Errorf("profile %q: tmpfs limits must be positive, got size=%d inodes=%d: %w", p.Name, pol.limits.Bytes, pol.limits.Inodes, errdefs.ErrInvalidArgument)
		}
		if (pol.backend == upper.KindDir || pol.fallbackToDir) && p.UpperDir == "" {
			return fmt.Errorf("profile %q: the dir backend needs upper_dir: %w", p.Name, errdefs.ErrInvalidArgument)
		}
		if p.UpperDir != "" && p.UpperDir != s.opts.upperDir {
			pol.upperDir = p.UpperDir
			if _, ok := s.profileDirs[p.UpperDir]; !ok {
				dirs, err := upper.OpenDirStore(ctx, p.UpperDir)
				if err != nil {
					return fmt.Errorf("profile %q: %w", p.Name, err)
				}
				s.profileDirs[p.UpperDir] = dirs
			}
		}
		s.policies[p.Name] = pol
	}
	return nil
}

// policy is the placement policy of the profile ctx runs under.
func (s *Snapshotter) policy(ctx context.Context) policy {
	if p, ok := s.policies[ProfileFrom(ctx)]; ok {
		return p
	}
	return s.defaultPolicy
}

// profileName resolves a requested snapshotter name to a profile name.
func (s *Snapshotter) profileName(requested string) string {
	if _, ok := s.policies[requested]; ok {
		return requested
	}
	return config.DefaultProfileName
}

// dirsFor is the store of a "dir" upper: the default upper_dir, or the one of
// the profile that placed it, as its record says.
func (s *Snapshotter) dirsFor(rec upper.Record) *upper.DirStore {
	if rec.Dir == "" {
		return s.dirs
	}
	return s.profileDirs[rec.Dir]
}

// upperDirOf is the upper_dir a record's "dir" upper lives in.
func (s *Snapshotter) upperDirOf(rec upper.Record) string {
	if rec.Dir == "" {
		return s.opts.upperDir
	}
	return rec.Dir
}

// allDirStores lists every upper_dir store, the default's first.
func (s *Snapshotter) allDirStores() []*upper.DirStore {
	var all []*upper.DirStore
	if s.dirs != nil {
		all = append(all, s.dirs)
	}
	for _, d := range s.profileDirs {
		all = append(all, d)
	}
	return all
}

// WithLayerSharing lets a profile use an image layer another profile has
// unpacked (Profiled.Prepare) instead of unpacking it again.
func WithLayerSharing(share bool) Opt {
	return func(o *options) error {
		o.shareLayers = share
		return nil
	}
}
