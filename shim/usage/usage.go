// Package usage measures a task's writable layer at exit: the overlay
// upperdir of its rootfs. On a Brisk tmpfs (a filesystem holding that one
// upper) statfs answers in O(1) with limits; anywhere else the upper is
// walked, as containerd does, and no limit is known.
package usage

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/continuity/fs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Usage of a writable layer.
type Usage struct {
	Upperdir    string
	Exclusive   bool // the upper has a filesystem of its own: O(1), limits known
	InodesUsed  int64
	InodesLimit int64
	BytesUsed   int64
	BytesLimit  int64
}

// Map renders u as the spool/object metadata fields.
func (u Usage) Map() map[string]string {
	return map[string]string{
		"inodes-used":  strconv.FormatInt(u.InodesUsed, 10),
		"inodes-limit": strconv.FormatInt(u.InodesLimit, 10),
		"bytes-used":   strconv.FormatInt(u.BytesUsed, 10),
		"bytes-limit":  strconv.FormatInt(u.BytesLimit, 10),
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
