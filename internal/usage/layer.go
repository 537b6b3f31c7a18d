package usage

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/api/types"
	"github.com/moby/sys/mountinfo"
)

// Layer is a task's writable layer as the shim measures it at exit: the
// overlay upperdir of its rootfs. The spool entry stores it, the log
// object's metadata and the exit event carry it; its JSON is the Usage's
// figures beside these two fields.
type Layer struct {
	Upperdir  string `json:"upperdir,omitempty"`
	Exclusive bool   `json:"exclusive"` // the upper has a filesystem of its own: O(1), limits known
	Usage
}

// Upperdir returns the upperdir option of an overlay rootfs mount, or "".
func Upperdir(rootfs []*types.Mount) string {
	for _, m := range rootfs {
		if m.Type != "overlay" {
			continue
		}
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				return v
			}
		}
	}
	return ""
}

// Measure measures the upper at upperdir. On a Brisk tmpfs (a filesystem
// holding that one upper) statfs answers in O(1) with limits; anywhere else
// the upper is walked, as containerd does, and no limit is known.
func Measure(ctx context.Context, upperdir string) (Layer, error) {
	l := Layer{Upperdir: upperdir}
	// Brisk mounts a tmpfs at the upper's parent (holding fs and work)
	// and nothing else on it, so its statfs is this upper's usage.
	parent := filepath.Dir(upperdir)
	if ok, _ := mountinfo.Mounted(parent); ok {
		if u, err := Tmpfs(parent); err == nil {
			l.Exclusive, l.Usage = true, u
			return l, nil
		}
	}
	u, err := Walk(ctx, upperdir)
	l.Usage = u
	return l, err
}
