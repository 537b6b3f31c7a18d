//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// The life of a fast upper. Its budget reservation changes only here, always
// under the snapshot's lock (idLocks), and, for a live snapshot, inside the
// metadata transaction that creates, commits or removes it: the budget audit,
// which runs in a write transaction, never sees an operation half done.

// placeUpper creates the upper of snapshot id where want says, reserving tmpfs
// budget first. Past the budget it fails with ErrResourceExhausted, or falls
// back to the dir backend when configured to. It runs in Prepare's
// transaction, for an ID nobody else knows yet.
func (s *Snapshotter) placeUpper(ctx context.Context, id string, want upper.Record) (upper.Record, error) {
	defer s.locks.lock(id)()
	if want.Kind == upper.KindTmpfs {
		err := s.tmpfs.Reserve(id, want.Limits.Bytes)
		switch {
		case err == nil:
			if err := s.tmpfs.Mount(s.tmpfsDir(id), want.Limits); err != nil {
				s.tmpfs.Release(id)
				return want, err
			}
			return want, nil
		case errors.Is(err, errdefs.ErrResourceExhausted) && s.policy(ctx).fallbackToDir && s.dirsFor(want) != nil:
			log.G(ctx).WithField("id", id).WithError(err).Warn("tmpfs budget exhausted, placing upper in upper_dir")
			want.Kind = upper.KindDir
		default:
			return want, err
		}
	}
	dirs := s.dirsFor(want)
	if dirs == nil {
		return want, fmt.Errorf("upper_dir is not configured: %w", errdefs.ErrFailedPrecondition)
	}
	if err := dirs.Create(id, want.Limits); err != nil {
		return want, err
	}
	return want, nil
}

// releaseUpper frees what placeUpper took. It is idempotent: Remove, Commit,
// Cleanup and failed Prepares all end here. A tmpfs that an overlay still
// uses is not let go (upper.ErrBusy): its memory is held, so its budget stays
// booked until a later call succeeds.
func (s *Snapshotter) releaseUpper(ctx context.Context, id string, rec upper.Record) error {
	defer s.locks.lock(id)()
	switch rec.Kind {
	case upper.KindTmpfs:
		dir := s.tmpfsDir(id)
		users, err := upper.UsedBy(dir)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("tmpfs upper of snapshot %s is still the upper of the overlay mounted at %s; unmount it first: %w", id, strings.Join(users, ", "), upper.ErrBusy)
		}
		if err := upper.Unmount(dir); err != nil {
			return err
		}
		s.forget(id)
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
	case upper.KindDir:
		dirs := s.dirsFor(rec)
		if dirs == nil {
			return fmt.Errorf("snapshot %s has its upper in upper_dir %s, which is not configured: %w", id, s.upperDirOf(rec), errdefs.ErrFailedPrecondition)
		}
		if err := dirs.Remove(id); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(s.snapshotDir(id), upper.RecordName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	s.setPlacement(id, upper.Record{Kind: upper.KindRoot})
	return nil
}

// restoreUpper is the one place that mounts a tmpfs upper again after it
// went away (a reboot empties every tmpfs; an operator may unmount one). It
// takes the snapshot's lock, the one releaseUpper takes, and asks exists
// whether the snapshot is still active before mounting anything, so that it
// never brings back the upper (and the budget) of a snapshot a concurrent
// Remove just released.
func (s *Snapshotter) restoreUpper(ctx context.Context, id string, exists func() (bool, error)) error {
	defer s.locks.lock(id)()
	rec := s.placement(id)
	if rec.Kind != upper.KindTmpfs {
		return nil
	}
	dir := s.tmpfsDir(id)
	mounted, err := upper.Mounted(dir)
	if err != nil {
		return fmt.Errorf("check tmpfs of snapshot %s: %w", id, err)
	}
	if mounted {
		return nil
	}
	ok, err := exists()
	if err != nil {
		return err
	}
	if !ok || s.placement(id).Kind != upper.KindTmpfs {
		return fmt.Errorf("snapshot %s: %w", id, errdefs.ErrNotFound)
	}
	s.tmpfs.Adopt(id, rec.Limits.Bytes)
	if err := s.tmpfs.Mount(dir, rec.Limits); err != nil {
		return fmt.Errorf("recreate tmpfs upper of snapshot %s: %w", id, err)
	}
	log.G(ctx).WithField("id", id).Warn("tmpfs upper was gone (node rebooted?): mounted a fresh empty one")
	return nil
}

// knownActive is restoreUpper's existence check for a caller that has just
// found the snapshot active and that nothing can remove meanwhile: Commit,
// in the write transaction it holds, and start-up, before anything is served.
func knownActive() (bool, error) { return true, nil }
