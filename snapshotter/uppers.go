//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// The life of a fast upper. Its budget reservation changes only here, always
// under the snapshot's lock (idLocks), and, for a live snapshot, inside the
// metadata transaction that creates, commits or removes it: the budget audit,
// which runs in a write transaction, never sees an operation half done.

// placeUpper creates the upper of snapshot id where want says, booking its
// backend's shared capacity (the tmpfs budget) first. Past the budget it
// fails with ErrResourceExhausted, or falls back to the dir backend when
// configured to. It runs in Prepare's transaction, for an ID nobody else
// knows yet.
func (s *Snapshotter) placeUpper(ctx context.Context, id string, want upper.Record) (upper.Record, error) {
	defer s.locks.lock(id)()
	b, err := s.backend(want)
	if err != nil {
		return want, err
	}
	if err := b.Reserve(id, want.Limits); err != nil {
		fallback := upper.Record{Kind: upper.KindDir, Limits: want.Limits, Volatile: want.Volatile, Dir: want.Dir}
		if !errors.Is(err, errdefs.ErrResourceExhausted) || !s.profileOf(ctx).fallbackToDir || s.dirsFor(fallback) == nil {
			return want, err
		}
		log.G(ctx).WithField("id", id).WithError(err).Warnf("%s budget exhausted, placing upper in upper_dir", want.Kind)
		want = fallback
		b = s.dirsFor(fallback)
	}
	if err := b.Create(ctx, id, want.Limits); err != nil {
		b.Unreserve(id)
		return want, err
	}
	return want, nil
}

// releaseUpper frees what placeUpper took. It is idempotent: Remove, Commit,
// Cleanup and failed Prepares all end here. An upper that an overlay still
// uses is not let go (upper.ErrBusy): a tmpfs's memory is held, so its
// budget stays booked until a later call succeeds.
func (s *Snapshotter) releaseUpper(ctx context.Context, id string, rec upper.Record) error {
	defer s.locks.lock(id)()
	b, err := s.backend(rec)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	if err := b.Release(ctx, id); err != nil {
		return err
	}
	s.forget(id, b)
	if err := os.Remove(filepath.Join(s.snapshotDir(id), upper.RecordName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// detachUpper releases the tmpfs upper of id for Remove, inside a
// transaction that may yet fail or, with a crash, never commit: the
// snapshot is then still there, and its placement record, which stays, is
// what gets it its upper back (restoreUpper), as after a reboot. The record
// and the mount point go with the snapshot's directory once the removal is
// committed (recycleDir).
func (s *Snapshotter) detachUpper(ctx context.Context, id string) error {
	defer s.locks.lock(id)()
	if err := s.tmpfs.Detach(ctx, id); err != nil {
		return err
	}
	s.forget(id, s.tmpfs)
	return nil
}

// restoreUpper is the one place that creates an upper again after it went
// away (a reboot empties every tmpfs; an operator may unmount one). It takes
// the snapshot's lock, the one releaseUpper takes, and asks exists whether
// the snapshot is still active before creating anything, so that it never
// brings back the upper (and the budget) of a snapshot a concurrent Remove
// just released.
func (s *Snapshotter) restoreUpper(ctx context.Context, id string, exists func() (bool, error)) error {
	defer s.locks.lock(id)()
	rec := s.placement(id)
	if rec.Kind == upper.KindRoot {
		return nil
	}
	b, err := s.backend(rec)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	present, err := b.Present(id)
	if err != nil {
		return fmt.Errorf("check %s upper of snapshot %s: %w", rec.Kind, id, err)
	}
	if present {
		return nil
	}
	ok, err := exists()
	if err != nil {
		return err
	}
	if !ok || s.placement(id).Kind != rec.Kind {
		return fmt.Errorf("snapshot %s: %w", id, errdefs.ErrNotFound)
	}
	b.Adopt(id, rec.Limits)
	if err := b.Create(ctx, id, rec.Limits); err != nil {
		return fmt.Errorf("recreate %s upper of snapshot %s: %w", rec.Kind, id, err)
	}
	log.G(ctx).WithFields(log.Fields{"id": id, "upper": rec.Kind}).Warn("upper was gone (node rebooted?): created a fresh empty one")
	return nil
}

// knownActive is restoreUpper's existence check for a caller that has just
// found the snapshot active and that nothing can remove meanwhile: Commit,
// in the write transaction it holds, and start-up, before anything is served.
func knownActive() (bool, error) { return true, nil }
