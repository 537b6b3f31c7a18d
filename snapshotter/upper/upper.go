// Package upper decides and manages where an active snapshot's overlay
// upperdir and workdir live: on the persistent root next to the image layers,
// on a tmpfs of the snapshot's own (TmpfsPool), or on a dedicated mount
// (DirStore). Keeping container writes off the root disk is the point of
// Brisk; keeping each container's limits its own is why a tmpfs is per
// snapshot rather than shared.
package upper

import "golang.org/x/sys/unix"

// Kind names a placement.
type Kind string

const (
	// KindRoot keeps the upper on the persistent root, as containerd's
	// overlayfs snapshotter does. Image unpacking and views use it.
	KindRoot Kind = "root"
	// KindTmpfs gives the snapshot a tmpfs of its own.
	KindTmpfs Kind = "tmpfs"
	// KindDir puts the upper on the dedicated upper_dir mount.
	KindDir Kind = "dir"
)

// Limits caps one snapshot's upper. Zero means unlimited.
type Limits struct {
	Bytes  int64 `json:"bytes"`
	Inodes int64 `json:"inodes"`
}

// Usage is what an upper holds and may hold. Limits of zero mean the upper is
// not limited (a plain directory on a filesystem without quotas).
type Usage struct {
	Bytes       int64
	Inodes      int64
	BytesLimit  int64
	InodesLimit int64
}

func statfsUsage(st *unix.Statfs_t) Usage {
	bsize := int64(st.Bsize)
	return Usage{
		Bytes:       int64(st.Blocks-st.Bfree) * bsize,
		Inodes:      int64(st.Files - st.Ffree),
		BytesLimit:  int64(st.Blocks) * bsize,
		InodesLimit: int64(st.Files),
	}
}
