//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/brisk-containers/brisk/snapshotter/layercopy"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// Commit turns an active snapshot into a committed layer on the persistent
// root. An upper on fast storage is copied to the root first (layercopy keeps
// whiteouts, opaque directories, hardlinks and sparse holes) and released
// only once the layer is committed: a failed copy leaves the active snapshot
// as it was.
//
// The copy runs outside the metadata's write transaction, which every
// Prepare, Remove and Commit on the node needs: a big upper, a slow root
// disk or a file lease held in the upper would otherwise make them all wait.
// While it runs, the snapshot is marked as committing, and Remove and a
// second Commit of it are refused. A crash during the copy leaves the
// snapshot active with a partial layer that no metadata refers to; the next
// Commit, or the next start, clears it.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	id, rec, err := s.beginCommit(ctx, key)
	if err != nil {
		return err
	}
	defer s.endCommit(id)

	layer := s.persistentFS(id)
	if rec.Kind != upper.KindRoot {
		if err := s.copyUpper(ctx, id, rec, layer); err != nil {
			return err
		}
	}
	usage, err := fs.DiskUsage(ctx, layer)
	if err != nil {
		if rec.Kind != upper.KindRoot {
			resetLayer(layer)
		}
		return err
	}

	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		got, info, _, err := storage.GetInfo(ctx, key)
		if err != nil {
			return err
		}
		if got != id || info.Kind != snapshots.KindActive {
			// Remove and Commit refuse a committing snapshot, so this
			// is a bug, not a race: say so rather than adopt the copy.
			return fmt.Errorf("snapshot %s changed while it was being committed (ID %s, now %s, %v): %w", key, id, got, info.Kind, errdefs.ErrFailedPrecondition)
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
		if rec.Kind != upper.KindRoot {
			resetLayer(layer)
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

// errBegun rolls back beginCommit's transaction, which writes nothing: a
// commit of it would cost two fsyncs of the metadata for nothing.
var errBegun = errors.New("commit begun")

// beginCommit finds the active snapshot key and marks it as committing, in a
// short write transaction: Remove checks the mark inside its own, so one of
// the two sees the other. A tmpfs upper that went away (a reboot) is mounted
// again, empty, so that the copy finds it.
func (s *Snapshotter) beginCommit(ctx context.Context, key string) (id string, rec upper.Record, retErr error) {
	marked := false
	defer func() {
		if retErr != nil && marked {
			s.endCommit(id)
		}
	}()
	err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		var (
			info snapshots.Info
			err  error
		)
		if id, info, _, err = storage.GetInfo(ctx, key); err != nil {
			return err
		}
		if info.Kind != snapshots.KindActive {
			return fmt.Errorf("snapshot %s is %v, not active: %w", key, info.Kind, errdefs.ErrFailedPrecondition)
		}
		if !s.markCommitting(id) {
			return fmt.Errorf("snapshot %s is already being committed: %w", key, errdefs.ErrFailedPrecondition)
		}
		marked = true
		rec = s.placement(id)
		if rec.Kind == upper.KindRoot {
			return errBegun
		}
		// Inside the transaction, the snapshot is known active.
		if err := s.restoreUpper(ctx, id, knownActive); err != nil {
			return err
		}
		return errBegun
	})
	if !errors.Is(err, errBegun) {
		return id, rec, err
	}
	return id, rec, nil
}

// markCommitting marks id as being committed, unless it already is.
func (s *Snapshotter) markCommitting(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.committing[id]; ok {
		return false
	}
	s.committing[id] = struct{}{}
	return true
}

// endCommit takes back markCommitting.
func (s *Snapshotter) endCommit(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.committing, id)
}

// isCommitting reports whether a Commit of id is under way.
func (s *Snapshotter) isCommitting(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.committing[id]
	return ok
}

// copyUpper copies the fast upper of id to layer. It does not sync: neither
// does containerd's overlayfs snapshotter, whose uppers are never synced
// either, and a syncfs of the shared root disk is the very fsync storm that
// Brisk keeps containers out of.
func (s *Snapshotter) copyUpper(ctx context.Context, id string, rec upper.Record, layer string) error {
	src := s.upperFS(id, rec)
	// Prepare left an empty fs directory; a failed earlier attempt or a
	// crash may have left a partial copy. Either way start from nothing.
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
