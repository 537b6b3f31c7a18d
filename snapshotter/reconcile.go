//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"os"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/log"
)

// reconcile rebuilds the in-memory placements and the tmpfs budget from the
// records on disk, so that a restarted daemon picks up where the last one
// stopped without touching live mounts. Running containers never notice a
// restart: their overlays hold references to the tmpfs, not to us.
//
// It also removes what a crash left: snapshot directories and tmpfs mounts
// the metadata does not know (a Prepare whose transaction never committed
// leaves snapshots/ID with a live tmpfs, and the next Prepare is handed the
// same ID), and uppers in upper_dir without a snapshot.
func (s *Snapshotter) reconcile(ctx context.Context) error {
	live, committed, orphans, err := s.scanOnDisk(ctx)
	if err != nil {
		return err
	}
	if len(orphans) > 0 {
		log.G(ctx).WithField("orphans", orphans).Warn("removing snapshot directories the metadata does not know (left by a crash)")
		s.removeDirs(ctx, orphans)
	}
	if err := s.adoptLive(ctx, live); err != nil {
		return err
	}
	s.releaseCommitted(ctx, committed)
	if err := s.cleanupUpperDir(ctx); err != nil {
		log.G(ctx).WithError(err).Warn("failed to clean up upper_dir")
	}
	if len(live) > 0 {
		limit, inUse := s.tmpfs.Budget()
		log.G(ctx).WithFields(log.Fields{"active": len(live), "tmpfs_budget": limit, "tmpfs_reserved": inUse}).Info("adopted uppers of active snapshots")
	}
	return nil
}

// placed is a snapshot whose upper a record on disk places off the root.
type placed struct {
	id  string
	rec upper.Record
}

// scanOnDisk reads, in one transaction, the placement records of the
// snapshots the metadata knows, split into live (active) and committed ones,
// and lists the snapshot directories it does not know.
func (s *Snapshotter) scanOnDisk(ctx context.Context) (live, committed []placed, orphans []string, err error) {
	err = s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		ids, err := idMap(ctx)
		if err != nil {
			return err
		}
		for id, key := range ids {
			rec, err := upper.ReadRecord(s.snapshotDir(id))
			if err != nil {
				log.G(ctx).WithError(err).WithField("id", id).Warn("ignoring unreadable placement record")
				continue
			}
			if rec.Kind == upper.KindRoot {
				continue
			}
			_, info, _, err := storage.GetInfo(ctx, key)
			if err != nil {
				return err
			}
			if info.Kind == snapshots.KindActive {
				live = append(live, placed{id, rec})
			} else {
				// A crash between commit and release: the layer is
				// safely on the root, the fast upper is garbage.
				committed = append(committed, placed{id, rec})
			}
		}
		orphans, err = s.orphans(ctx)
		return err
	})
	return live, committed, orphans, err
}

// adoptLive books and, where it is gone, creates again the upper of every
// live snapshot.
func (s *Snapshotter) adoptLive(ctx context.Context, live []placed) error {
	for _, f := range live {
		s.setPlacement(f.id, f.rec)
		// A crash during Commit's copy leaves a partial layer that no
		// metadata refers to: the snapshot is active, its layer
		// directory must be as Prepare made it, empty.
		if err := clearPartialLayer(s.persistentFS(f.id)); err != nil {
			log.G(ctx).WithError(err).WithField("id", f.id).Warn("failed to clear the partial layer of a commit interrupted by a crash")
		}
		b, err := s.backend(f.rec)
		if err != nil {
			log.G(ctx).WithError(err).WithField("id", f.id).Error("snapshot has its upper where this snapshotter cannot reach; its container cannot start again until it can")
			continue
		}
		// A live snapshot's upper is booked whatever the budget says
		// now: it exists, or its container expects it to.
		b.Adopt(f.id, f.rec.Limits)
		if err := s.restoreUpper(ctx, f.id, knownActive); err != nil {
			return err
		}
	}
	return nil
}

// releaseCommitted lets go of the fast uppers of committed snapshots; one an
// overlay still uses stays booked until Cleanup frees it.
func (s *Snapshotter) releaseCommitted(ctx context.Context, committed []placed) {
	for _, f := range committed {
		err := s.releaseUpper(ctx, f.id, f.rec)
		switch {
		case errors.Is(err, upper.ErrBusy):
			s.drain(f.id, f.rec.Limits.Bytes)
			log.G(ctx).WithError(err).WithField("id", f.id).Warn("the tmpfs upper of a committed snapshot is still in use; its memory stays booked until Cleanup frees it")
		case err != nil:
			log.G(ctx).WithError(err).WithField("id", f.id).Warn("failed to release the upper of a committed snapshot")
		}
	}
}

// clearPartialLayer empties the layer directory of an active snapshot whose
// upper is off the root, if a crashed Commit left a partial copy in it.
func clearPartialLayer(layer string) error {
	entries, err := os.ReadDir(layer)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err == nil && len(entries) == 0 {
		return nil
	}
	resetLayer(layer)
	return nil
}
