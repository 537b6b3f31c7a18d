package upper

import (
	"github.com/brisk-containers/brisk/internal/usage"

	"context"
	"os"
	"path/filepath"
)

// RootStore keeps uppers on the persistent root, in the snapshot's own
// directory, as containerd's overlayfs snapshotter does. Image unpacking and
// views use it. The snapshot's directory is made and removed with the
// snapshot, so Create and Release have nothing of their own to do.
type RootStore struct {
	// Dir is the directory holding every snapshot's directory by ID.
	Dir string
}

// Kind is KindRoot.
func (RootStore) Kind() Kind { return KindRoot }

// Path is the snapshot's own directory.
func (r RootStore) Path(id string) string { return filepath.Join(r.Dir, id) }

// Reserve books nothing: the root is not budgeted per snapshot.
func (RootStore) Reserve(string, Limits) error { return nil }

// Adopt books nothing.
func (RootStore) Adopt(string, Limits) {}

// Unreserve books nothing.
func (RootStore) Unreserve(string) {}

// Create has nothing to do: the snapshot's directory is the upper.
func (RootStore) Create(context.Context, string, Limits) error { return nil }

// Present reports whether the snapshot's directory exists.
func (r RootStore) Present(id string) (bool, error) {
	_, err := os.Stat(r.Path(id))
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// Release has nothing to do: the snapshot's directory goes with it.
func (RootStore) Release(context.Context, string) error { return nil }

// Usage walks the upper: the root has no per-snapshot accounting.
func (r RootStore) Usage(ctx context.Context, id string, _ Limits) (usage.Usage, error) {
	return usage.Walk(ctx, FS(r.Path(id)))
}
