package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
)

// DefaultProfileName names the profile that [snapshotter] itself defines
// (in metrics, briskctl usage and errors).
const DefaultProfileName = "default"

// DefaultSnapshotterName is the containerd snapshotter name
// ([proxy_plugins.NAME], a runtime handler's snapshotter) that reaches the
// default profile, as the README, contrib/containerd and brisk-installer
// declare it. A profile of that name takes it over. Any other name must be a
// profile's: two names on one view of the snapshots would have containerd's
// garbage collector for each delete the other's snapshots.
const DefaultSnapshotterName = "brisk"

// ProfileTable is one [snapshotter.profiles.NAME] table as written. A key
// left out (nil) is inherited from [snapshotter].
type ProfileTable struct {
	Upper            *string `toml:"upper"`
	UpperDir         *string `toml:"upper_dir"`
	TmpfsSize        *Size   `toml:"tmpfs_size"`
	TmpfsInodes      *Count  `toml:"tmpfs_inodes"`
	Volatile         *bool   `toml:"volatile"`
	OnBudgetExceeded *string `toml:"on_budget_exceeded"`
}

// Profile is what a profile decides about the uppers of active snapshots,
// with every inherited key filled in.
type Profile struct {
	Name             string
	Upper            string
	UpperDir         string
	TmpfsSize        Size
	TmpfsInodes      Count
	Volatile         bool
	OnBudgetExceeded string
}

// profileName is what containerd accepts as a [proxy_plugins] key and a
// runtime handler's snapshotter, minus what would not read well in a
// Prometheus label.
var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// DefaultProfile is the profile [snapshotter] defines.
func (s *Snapshotter) DefaultProfile() Profile {
	return Profile{
		Name:             DefaultProfileName,
		Upper:            s.Upper,
		UpperDir:         s.UpperDir,
		TmpfsSize:        s.TmpfsSize,
		TmpfsInodes:      s.TmpfsInodes,
		Volatile:         s.Volatile,
		OnBudgetExceeded: s.OnBudgetExceeded,
	}
}

// Profile returns the named profile over the defaults of [snapshotter]; ok
// is false when there is no table of that name.
func (s *Snapshotter) Profile(name string) (p Profile, ok bool) {
	t, ok := s.Profiles[name]
	if !ok {
		return Profile{}, false
	}
	p = s.DefaultProfile()
	p.Name = name
	set(&p.Upper, t.Upper)
	set(&p.UpperDir, t.UpperDir)
	set(&p.TmpfsSize, t.TmpfsSize)
	set(&p.TmpfsInodes, t.TmpfsInodes)
	set(&p.Volatile, t.Volatile)
	set(&p.OnBudgetExceeded, t.OnBudgetExceeded)
	return p, true
}

// ProfileList returns every [snapshotter.profiles.NAME] profile, by name.
// The default profile is not among them.
func (s *Snapshotter) ProfileList() []Profile {
	names := make([]string, 0, len(s.Profiles))
	for name := range s.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	list := make([]Profile, 0, len(names))
	for _, name := range names {
		p, _ := s.Profile(name)
		list = append(list, p)
	}
	return list
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// validateProfiles checks every profile table with its inherited keys, so
// that an inherited value a profile cannot live with (upper = "dir" without
// an upper_dir anywhere) is reported against the profile.
func (s *Snapshotter) validateProfiles() error {
	for _, p := range s.ProfileList() {
		prefix := "snapshotter.profiles." + p.Name
		if !profileName.MatchString(p.Name) {
			return invalid(prefix, p.Name, "a profile name must be letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		if p.Name == DefaultProfileName {
			return invalid(prefix, p.Name, "names the profile [snapshotter] defines; choose another name")
		}
		if err := p.validate(prefix+".", s.TmpfsBudget); err != nil {
			return err
		}
	}
	return nil
}

// validate checks the keys of a profile; prefix is how the error names them
// ("snapshotter." or "snapshotter.profiles.NAME.").
func (p Profile) validate(prefix string, budget Size) error {
	switch p.Upper {
	case UpperTmpfs, UpperDir:
	default:
		return invalid(prefix+"upper", p.Upper, `must be "tmpfs" or "dir"`)
	}
	if p.Upper == UpperDir || p.OnBudgetExceeded == OnBudgetDir {
		if p.UpperDir == "" || !filepath.IsAbs(p.UpperDir) {
			return invalid(prefix+"upper_dir", p.UpperDir, fmt.Sprintf("must be an absolute path when upper = %q or on_budget_exceeded = %q", UpperDir, OnBudgetDir))
		}
	} else if p.UpperDir != "" && !filepath.IsAbs(p.UpperDir) {
		return invalid(prefix+"upper_dir", p.UpperDir, "must be an absolute path")
	}
	if p.TmpfsSize <= 0 {
		return invalid(prefix+"tmpfs_size", int64(p.TmpfsSize), "must be positive")
	}
	if why := CheckTmpfsInodes(int64(p.TmpfsInodes)); why != "" {
		return invalid(prefix+"tmpfs_inodes", int64(p.TmpfsInodes), why)
	}
	if p.TmpfsSize > budget {
		return invalid(prefix+"tmpfs_size", p.TmpfsSize.String(), fmt.Sprintf("is larger than tmpfs_budget (%s)", budget))
	}
	switch p.OnBudgetExceeded {
	case OnBudgetFail, OnBudgetDir:
	default:
		return invalid(prefix+"on_budget_exceeded", p.OnBudgetExceeded, `must be "fail" or "dir"`)
	}
	return nil
}

// UpperDirs returns, for each distinct upper_dir brisk-snapshotter opens as
// a dedicated mount at start, the first profile naming it: [snapshotter]'s
// own (when set), then the profiles' in ProfileList order.
func (s *Snapshotter) UpperDirs() []Profile {
	var out []Profile
	seen := map[string]bool{}
	for _, p := range append([]Profile{s.DefaultProfile()}, s.ProfileList()...) {
		if p.UpperDir == "" || seen[p.UpperDir] {
			continue
		}
		seen[p.UpperDir] = true
		out = append(out, p)
	}
	return out
}
