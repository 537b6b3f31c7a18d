package upper

import (
	"os"
	"path/filepath"
)

// Every upper, wherever it is placed, is a directory holding the overlay's
// upperdir and workdir under these names. The snapshotter builds its mount
// options from them and the backends create them, so they are said once.
const (
	// FSName is the overlay upperdir (and, on the root, a layer's content).
	FSName = "fs"
	// WorkName is the overlay workdir, on the same filesystem as FSName.
	WorkName = "work"
)

// FS is the upperdir of the upper in base.
func FS(base string) string { return filepath.Join(base, FSName) }

// Work is the workdir of the upper in base.
func Work(base string) string { return filepath.Join(base, WorkName) }

// MakeDirs creates the upperdir and workdir in base. The workdir is 0711, as
// containerd's overlayfs snapshotter makes it; the upperdir becomes the
// container's / and gets the parent layer's owner from the caller.
func MakeDirs(base string) error {
	if err := MakeFS(base); err != nil {
		return err
	}
	return os.Mkdir(Work(base), 0o711)
}

// MakeFS creates only the upperdir in base: a snapshot whose upper is
// elsewhere keeps an fs directory on the root for the layer Commit writes.
func MakeFS(base string) error {
	return os.Mkdir(FS(base), 0o755)
}
