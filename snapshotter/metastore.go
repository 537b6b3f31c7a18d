//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// metadataLockTimeout bounds the wait for the metadata file's lock. Only a
// live snapshotter on the same root holds it (the kernel drops a dead one's
// lock), and a supervisor starts a new daemon once the old one has exited, so
// a short wait suffices; without one, a second daemon on the root would hang
// for as long as the first lives.
const metadataLockTimeout = 3 * time.Second

// openMetaStore opens root's metadata, and takes its lock now rather than at
// the first transaction, so that a second snapshotter on the root stops here,
// with an error that says why, before it touches anything.
func openMetaStore(ctx context.Context, root string) (*storage.MetaStore, error) {
	path := filepath.Join(root, "metadata.db")
	ms, err := storage.NewMetaStore(path, func(o *bolt.Options) error {
		o.Timeout = metadataLockTimeout
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = ms.WithTransaction(ctx, false, func(context.Context) error { return nil })
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("root %s is in use: another brisk-snapshotter holds the lock on %s (waited %v): %w", root, path, metadataLockTimeout, errdefs.ErrUnavailable)
	case err != nil:
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	return ms, nil
}
