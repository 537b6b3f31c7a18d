// Package upper decides and manages where an active snapshot's overlay
// upperdir and workdir live: on the persistent root next to the image layers,
// on a tmpfs of the snapshot's own (TmpfsPool), or on a dedicated mount
// (DirStore). Keeping container writes off the root disk is the point of
// Brisk; keeping each container's limits its own is why a tmpfs is per
// snapshot rather than shared.
package upper

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
