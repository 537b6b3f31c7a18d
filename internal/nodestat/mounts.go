package nodestat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/brisk-containers/brisk/internal/mountpoint"
)

// MountOf returns the mount that holds path: the deepest mount point at or
// above it, the topmost when several are stacked there (mountpoint.Of).
func MountOf(path string) (*mountinfo.Info, error) {
	m, _, err := mountpoint.Of(path)
	return m, err
}

// HasOption reports whether a comma-separated mount option list holds name,
// alone or as name=VALUE.
func HasOption(opts, name string) bool {
	_, ok := OptionValue(opts, name)
	return ok
}

// OptionValue returns the value of key in a comma-separated option list
// ("" for a flag without value).
func OptionValue(opts, key string) (string, bool) {
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

// Device is the block device behind a mount.
type Device struct {
	MajMin     string `json:"dev"`
	Name       string `json:"name"`
	Rotational bool   `json:"rotational"`
}

// BlockDevice names the block device behind m; ok is false for filesystems
// without one (tmpfs, overlay, network filesystems).
func BlockDevice(sysRoot string, m *mountinfo.Info) (d Device, ok bool) {
	d.MajMin = fmt.Sprintf("%d:%d", m.Major, m.Minor)
	link, err := os.Readlink(filepath.Join(sysRoot, "dev/block", d.MajMin))
	if err != nil {
		return d, false
	}
	d.Name = filepath.Base(link)
	// A partition's queue settings are its disk's.
	for _, q := range []string{"queue/rotational", "../queue/rotational"} {
		if b, err := os.ReadFile(filepath.Join(sysRoot, "dev/block", d.MajMin, q)); err == nil {
			d.Rotational = strings.TrimSpace(string(b)) == "1"
			break
		}
	}
	return d, true
}

// Watched names a path whose device is sampled, and what it holds.
type Watched struct{ What, Path string }

// WatchedDevice is a block device and the watched paths on it.
type WatchedDevice struct {
	Device
	Holds []string `json:"holds"`
}

// DevicesOf maps paths to their block devices, one entry per device. A
// path that does not exist yet is taken at its nearest existing parent,
// where it will be created. Paths on no block device (tmpfs, overlay) or
// not found come back as notes.
func DevicesOf(sysRoot string, paths []Watched) (devs []WatchedDevice, notes []string) {
	index := map[string]int{}
	for _, p := range paths {
		m, err := MountOf(ExistingParent(p.Path))
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s %s: %v", p.What, p.Path, err))
			continue
		}
		d, ok := BlockDevice(sysRoot, m)
		if !ok {
			notes = append(notes, fmt.Sprintf("%s %s is on %s (%s): no block device to sample", p.What, p.Path, m.FSType, m.Mountpoint))
			continue
		}
		i, seen := index[d.MajMin]
		if !seen {
			i = len(devs)
			index[d.MajMin] = i
			devs = append(devs, WatchedDevice{Device: d})
		}
		devs[i].Holds = append(devs[i].Holds, p.What)
	}
	return devs, notes
}

// ExistingParent is path or its nearest existing parent.
func ExistingParent(path string) string {
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == "/" || p == "." {
			return p
		}
	}
}
