//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
)

// A profile is what one containerd snapshotter name ([proxy_plugins.NAME])
// gets from this daemon: its own placement of container uppers, its own view
// of the snapshots (profiled.go), and the tmpfs budget, the root and the image
// layers of everybody else.
type profile struct {
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
// profile: a profile's name, config.DefaultProfileName, or a snapshotter name
// profileName resolves. Operations under any other name are refused.
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

// buildProfiles builds the default profile, from the options, and every
// other profile. Each goes through newProfile, so a profile is checked in
// one place whichever way it came.
func (o *options) buildProfiles() (def profile, byName map[string]profile, err error) {
	def, err = newProfile(config.DefaultProfileName, o.backend, o.tmpfsLimits, o.fallbackToDir, o.volatile, o.upperDir)
	if err != nil {
		return profile{}, nil, err
	}
	byName = make(map[string]profile, len(o.profiles))
	for _, p := range o.profiles {
		if p.Name == config.DefaultProfileName {
			return profile{}, nil, fmt.Errorf("profile %q: the name belongs to the default profile: %w", p.Name, errdefs.ErrInvalidArgument)
		}
		pol, err := newProfile(p.Name, upper.Kind(p.Upper), upper.Limits{Bytes: int64(p.TmpfsSize), Inodes: int64(p.TmpfsInodes)},
			p.OnBudgetExceeded == config.OnBudgetDir, p.Volatile, p.UpperDir)
		if err != nil {
			return profile{}, nil, err
		}
		if p.UpperDir != o.upperDir {
			pol.upperDir = p.UpperDir
		}
		byName[p.Name] = pol
	}
	return def, byName, nil
}

// newProfile checks what a profile decides about its uppers.
func newProfile(name string, backend upper.Kind, limits upper.Limits, fallbackToDir, volatile bool, upperDir string) (profile, error) {
	switch {
	case backend != upper.KindTmpfs && backend != upper.KindDir:
		return profile{}, fmt.Errorf("profile %q: upper backend %q: must be %q or %q: %w", name, backend, upper.KindTmpfs, upper.KindDir, errdefs.ErrInvalidArgument)
	case limits.Bytes <= 0 || limits.Inodes <= 0:
		return profile{}, fmt.Errorf("profile %q: tmpfs limits must be positive, got size=%d inodes=%d: %w", name, limits.Bytes, limits.Inodes, errdefs.ErrInvalidArgument)
	case config.CheckTmpfsInodes(limits.Inodes) != "":
		return profile{}, fmt.Errorf("profile %q: tmpfs inodes %d: %s: %w", name, limits.Inodes, config.CheckTmpfsInodes(limits.Inodes), errdefs.ErrInvalidArgument)
	case (backend == upper.KindDir || fallbackToDir) && upperDir == "":
		return profile{}, fmt.Errorf("profile %q: the dir backend needs upper_dir: %w", name, errdefs.ErrInvalidArgument)
	}
	return profile{name: name, backend: backend, limits: limits, fallbackToDir: fallbackToDir, volatile: volatile}, nil
}

// openProfileDirs opens the upper_dir of each profile that has one of its
// own.
func (s *Snapshotter) openProfileDirs(ctx context.Context) error {
	s.profileDirs = make(map[string]*upper.DirStore)
	for _, pol := range s.profiles {
		if pol.upperDir == "" {
			continue
		}
		if _, ok := s.profileDirs[pol.upperDir]; ok {
			continue
		}
		dirs, err := upper.OpenDirStore(ctx, pol.upperDir)
		if err != nil {
			return fmt.Errorf("profile %q: %w", pol.name, err)
		}
		s.profileDirs[pol.upperDir] = dirs
	}
	return nil
}

// profileOf is the profile ctx runs under.
func (s *Snapshotter) profileOf(ctx context.Context) profile {
	if p, ok := s.profiles[ProfileFrom(ctx)]; ok {
		return p
	}
	return s.defaultProfile
}

// profileName resolves the snapshotter name a request came under
// ([proxy_plugins.NAME]) to a profile name. The default profile answers to
// one name only, config.DefaultSnapshotterName, and to a request that names
// no snapshotter; any other name that is no profile's is refused. Were it
// served, it would share the default profile's key space with "brisk", and
// containerd's garbage collector for each name would delete the other's
// snapshots (Profiled).
func (s *Snapshotter) profileName(requested string) (string, error) {
	if _, ok := s.profiles[requested]; ok {
		return requested, nil
	}
	if requested == "" || requested == config.DefaultSnapshotterName {
		return config.DefaultProfileName, nil
	}
	var known []string
	if _, taken := s.profiles[config.DefaultSnapshotterName]; !taken {
		known = append(known, config.DefaultSnapshotterName+" (the default profile)")
	}
	known = append(known, slices.Sorted(maps.Keys(s.profiles))...)
	return "", fmt.Errorf("snapshotter %q is no profile of brisk-snapshotter, which serves %s: add [snapshotter.profiles.%s] to its config or fix the name in containerd's config: %w",
		requested, strings.Join(known, ", "), requested, errdefs.ErrInvalidArgument)
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
