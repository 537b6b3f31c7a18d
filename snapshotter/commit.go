//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"

	"github.com/brisk-containers/brisk/snapshotter/layercopy"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/log"
)

// Commit turns an active snapshot into a committed layer on the persistent
// root. An upper on fast storage is copied to the root first (layercopy keeps
// whiteouts, opaque directories, hardlinks and sparse holes) and released
// only once the layer is committed: a failed copy leaves the active snapshot
// as it was.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	var (
		id  string
		rec upper.Record
	)
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (retErr error) {
		var err error
		if id, _, _, err = storage.GetInfo(ctx, key); err != nil {
			return err
		}
		rec = s.placement(id)
		layer := s.persistentFS(id)
		if rec.Kind != upper.KindRoot {
			if err := s.restoreUpper(ctx, id, knownActive); err != nil {
				return err
			}
			if err := s.copyUpper(ctx, id, rec, layer); err != nil {
				return err
			}
			defer func() {
				if retErr != nil {
					resetLayer(layer)
				}
			}()
		}
		usage, err := fs.DiskUsage(ctx, layer)
		if err != nil {
			return err
		}
		if _, err := storage.CommitActive(ctx, key, name, snapshots.Usage(usage), opts...); err != nil {
			return fmt.Errorf("failed to commit snapshot %s: %w", key, err)
		}
		if rec.Kind == upper.KindTmpfs {
			// No live snapshot owns the tmpfs once this commits; its
			// memory stays booked until it is unmounted below.
			s.drain(id, rec.Limits.Bytes)
		}
		return nil
	}); err != nil {
		if rec.Kind == upper.KindTmpfs {
			s.undrain(id, rec)
		}
		return err
	}
	if rec.Kind != upper.KindRoot {
		// The layer is safe on the root; the fast upper has done its job.
		if err := s.releaseUpper(ctx, id, rec); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("committed, but failed to release the fast upper; Cleanup will retry")
		}
	}
	return nil
}

// copyUpper copies the fast upper of id to layer. It does not sync: neither
// does containerd's overlayfs snapshotter, whose uppers are never synced
// either, and a syncfs of the shared root disk is the very fsync storm that
// Brisk keeps containers out of.
func (s *Snapshotter) copyUpper(ctx context.Context, id string, rec upper.Record, layer string) error {
	src := s.upperFS(id, rec)
	// Prepare left an empty fs directory; a failed earlier attempt may have
	// left a partial copy. Either way start from nothing.
	if err := os.RemoveAll(layer); err != nil {
		return err
	}
	if err := layercopy.Copy(ctx, layer, src); err != nil {
		resetLayer(layer)
		return fmt.Errorf("copy %s upper of snapshot %s to the root: %w", rec.Kind, id, err)
	}
	return nil
}

// resetLayer puts back the empty layer directory Prepare made, after a copy
// or a commit that failed: the snapshot stays active, as it was.
func resetLayer(layer string) {
	_ = os.RemoveAll(layer)
	_ = os.Mkdir(layer, 0o755)
}
