package doctor

import (
	"os"
	"slices"

	"github.com/pelletier/go-toml/v2"
)

// profileNames lists the [snapshotter.profiles.NAME] tables of the config
// file. Each profile is served on Brisk's one socket and must be registered
// in containerd as [proxy_plugins.NAME]. Only the names matter here, so they
// are read from the file itself rather than from config's types: the check
// works with any version of the profile settings, and finds nothing on a
// config without profiles.
func profileNames(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var f struct {
		Snapshotter struct {
			Profiles map[string]any `toml:"profiles"`
		} `toml:"snapshotter"`
	}
	if toml.Unmarshal(b, &f) != nil {
		return nil
	}
	var names []string
	for name := range f.Snapshotter.Profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
