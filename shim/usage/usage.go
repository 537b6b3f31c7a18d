// Package usage measures a task's writable layer at exit: the overlay
// upperdir of its rootfs. On a Brisk tmpfs (a filesystem holding that one
// upper) statfs answers in O(1) with limits; anywhere else the upper is
// walked, as containerd does, and no limit is known.
package usage

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/continuity/fs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Usage of a writable layer: the one spelling of these figures, which the
// spool entry stores, the log object's metadata and the exit event carry.
type Usage struct {
	Upperdir    string `json:"upperdir,omitempty"`
	Exclusive   bool   `json:"exclusive"` // the upper has a filesystem of its own: O(1), limits known
	InodesUsed  int64  `json:"inodes_used"`
	InodesLimit int64  `json:"inodes_limit"`
	BytesUsed   int64  `json:"bytes_used"`
	BytesLimit  int64  `json:"bytes_limit"`
}

// Field is one figure of a Usage under its name.
type Field struct {
	Name  string
	Value int64
}

// Fields lists the figures, named as in JSON; every rendering of a Usage
// (object metadata, event labels, log fields) derives its names from these.
func (u Usage) Fields() []Field {
	return []Field{
		{"inodes_used", u.InodesUsed},
		{"inodes_limit", u.InodesLimit},
		{"bytes_used", u.BytesUsed},
		{"bytes_limit", u.BytesLimit},
	}
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

// Measure measures the upper at upperdir.
func Measure(ctx context.Context, upperdir string) (Usage, error) {
	u := Usage{Upperdir: upperdir}
	// Brisk mounts a tmpfs at the upper's parent (holding fs and work)
	// and nothing else on it, so its statfs is this upper's usage.
	parent := filepath.Dir(upperdir)
	if ok, _ := mountinfo.Mounted(parent); ok {
		var st unix.Statfs_t
		if err := unix.Statfs(parent, &st); err == nil && st.Type == unix.TMPFS_MAGIC {
			bsize := int64(st.Bsize)
			u.Exclusive = true
			u.InodesUsed = int64(st.Files - st.Ffree)
			u.InodesLimit = int64(st.Files)
			u.BytesUsed = int64(st.Blocks-st.Bfree) * bsize
			u.BytesLimit = int64(st.Blocks) * bsize
			return u, nil
		}
	}
	du, err := fs.DiskUsage(ctx, upperdir)
	if err != nil {
		return u, err
	}
	u.InodesUsed, u.BytesUsed = du.Inodes, du.Size
	return u, nil
}
