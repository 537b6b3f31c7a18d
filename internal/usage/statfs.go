package usage

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// FromStatfs is the one translation of statfs(2) into a Usage. Blocks
// reserved for root count as used: what is left is what an unprivileged
// writer, a container, can still write. On tmpfs nothing is reserved.
func FromStatfs(st *unix.Statfs_t) Usage {
	bsize := int64(st.Bsize)
	return Usage{
		InodesUsed:  int64(st.Files - st.Ffree),
		InodesLimit: int64(st.Files),
		BytesUsed:   int64(st.Blocks-st.Bavail) * bsize,
		BytesLimit:  int64(st.Blocks) * bsize,
	}
}

// Statfs reads the usage of the filesystem holding path in O(1), and
// whether it is a tmpfs.
func Statfs(path string) (u Usage, tmpfs bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Usage{}, false, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return FromStatfs(&st), st.Type == unix.TMPFS_MAGIC, nil
}

// Tmpfs reads the usage of the tmpfs at dir in O(1). It only stats: where
// dir holds no tmpfs (removed meanwhile, or gone with a reboot) it fails
// with errdefs.ErrNotFound rather than report the filesystem below.
func Tmpfs(dir string) (Usage, error) {
	u, tmpfs, err := Statfs(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && !tmpfs {
		return Usage{}, fmt.Errorf("no tmpfs at %s: %w", dir, errdefs.ErrNotFound)
	}
	return u, err
}

// Walk measures the tree at dir as containerd does, a stat per file: no
// limit is known.
func Walk(ctx context.Context, dir string) (Usage, error) {
	d, err := fs.DiskUsage(ctx, dir)
	if err != nil {
		return Usage{}, err
	}
	return Usage{InodesUsed: d.Inodes, BytesUsed: d.Size}, nil
}
