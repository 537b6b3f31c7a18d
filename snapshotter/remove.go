//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// Remove deletes a snapshot. Its tmpfs upper is released in the same
// transaction, so a removed container's memory goes back to the node at
// once; a tmpfs that an overlay still uses makes Remove fail (upper.ErrBusy)
// and the snapshot stay, because its memory stays too.
//
// Only the snapshot's own directory goes with it. containerd's overlayfs
// snapshotter lists every snapshot directory in each Remove to sweep up what
// earlier failures left; here Cleanup, which containerd calls after every
// garbage collection, and the start do that, so that removing fifty
// containers does not list the directory fifty times.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var (
		removed  string
		released string
		rec      upper.Record
	)
	err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		id, _, err := storage.Remove(ctx, key)
		if err != nil {
			return fmt.Errorf("failed to remove snapshot %s: %w", key, err)
		}
		if s.isCommitting(id) {
			// Its upper is being copied; the transaction rolls back.
			return fmt.Errorf("failed to remove snapshot %s: it is being committed; remove it once Commit returns: %w", key, errdefs.ErrFailedPrecondition)
		}
		if rec = s.placement(id); rec.Kind == upper.KindTmpfs {
			if err := s.detachUpper(ctx, id); err != nil {
				return fmt.Errorf("failed to remove snapshot %s: %w", key, err)
			}
			released = id
		}
		removed = id
		return nil
	})
	if err != nil {
		if released != "" {
			s.unrelease(ctx, key, released, rec)
		}
		return err
	}
	// The key is gone; what is left on disk is an orphan. Failures are
	// logged and left to Cleanup, never returned, as containerd does.
	if released != "" {
		// Its upper is gone already: the directory, the mount point and
		// the record are all that is left, and serve the next Prepare.
		s.recycleDir(ctx, removed)
		return nil
	}
	s.removeDirs(ctx, []string{removed})
	return nil
}

// unrelease puts back the tmpfs upper of a snapshot whose removal released
// it and then failed to commit: the snapshot is still there.
func (s *Snapshotter) unrelease(ctx context.Context, key, id string, rec upper.Record) {
	s.setPlacement(id, rec)
	if err := s.restoreUpper(ctx, id, s.stillActive(ctx, key, id)); err != nil {
		log.G(ctx).WithError(err).WithField("id", id).Error("failed to remount the tmpfs of a snapshot whose removal failed")
	}
}

// stillActive checks, in a transaction of its own, that key is still the
// active snapshot id.
func (s *Snapshotter) stillActive(ctx context.Context, key, id string) func() (bool, error) {
	return func() (bool, error) {
		var ok bool
		err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
			got, info, _, err := storage.GetInfo(ctx, key)
			ok = err == nil && got == id && info.Kind == snapshots.KindActive
			if errdefs.IsNotFound(err) {
				return nil
			}
			return err
		})
		return ok, err
	}
}

// Cleanup removes what no snapshot owns any more: snapshot directories left
// by a crash, their tmpfs mounts, uppers in upper_dir, and the tmpfs uppers
// that were still in use when their snapshot went.
func (s *Snapshotter) Cleanup(ctx context.Context) error {
	var removals []string
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		// A write transaction keeps Prepare from creating while we scan;
		// it writes nothing, and is rolled back rather than committed,
		// which would cost two fdatasyncs for nothing.
		if removals, err = s.orphans(ctx); err != nil {
			return err
		}
		return errScanned
	}); !errors.Is(err, errScanned) {
		return err
	}
	s.removeDirs(ctx, removals)
	for _, id := range s.drainingIDs() {
		// A committed snapshot's upper: the directory is the layer's.
		if err := s.releaseUpper(ctx, id, upper.Record{Kind: upper.KindTmpfs}); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("tmpfs upper of a committed snapshot still in use")
		}
	}
	return s.cleanupUpperDir(ctx)
}

// errScanned rolls back Cleanup's transaction, which writes nothing.
var errScanned = errors.New("orphans listed")

// orphans lists the snapshot directories whose ID the metadata no longer
// knows. It must run inside a transaction.
func (s *Snapshotter) orphans(ctx context.Context) ([]string, error) {
	ids, err := idMap(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := s.snapshotEntries()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if _, ok := ids[e.Name()]; !ok {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs, nil
}

// removeDirs releases the upper of each orphan and deletes its directory. An
// orphan whose tmpfs is still in use keeps its directory, and its memory
// stays booked in the budget until a later Cleanup gets it.
func (s *Snapshotter) removeDirs(ctx context.Context, names []string) {
	for _, name := range names {
		if err := s.removeOrphan(ctx, name); err != nil {
			log.G(ctx).WithError(err).WithField("path", s.snapshotDir(name)).Warn("failed to remove orphaned snapshot directory")
		}
	}
}

// The temporary directory of a Prepare a crash interrupted (new-*) may hold
// a mounted tmpfs too: Prepare mounts it there before its transaction.
func (s *Snapshotter) removeOrphan(ctx context.Context, name string) error {
	dir := s.snapshotDir(name)
	rec, err := upper.ReadRecord(dir)
	if err != nil {
		log.G(ctx).WithError(err).WithField("path", dir).Warn("unreadable placement record; treating the upper as a tmpfs")
		rec = upper.Record{Kind: upper.KindTmpfs}
	}
	// A tmpfs the record does not mention (a crash between mount and
	// record) must not be descended into either.
	mounted, err := upper.Mounted(s.tmpfsDir(name))
	if err != nil {
		return err
	}
	if rec.Kind == upper.KindTmpfs || mounted {
		if err := s.releaseOrphanTmpfs(ctx, name, rec.Limits); err != nil {
			return err
		}
	}
	if rec.Kind != upper.KindTmpfs && !strings.HasPrefix(name, newDirPrefix) {
		// Only a snapshot with an ID has an upper in upper_dir.
		if err := s.releaseUpper(ctx, name, rec); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}

// releaseOrphanTmpfs unmounts an orphan's tmpfs, or, while an overlay still
// uses it, books what it may hold.
func (s *Snapshotter) releaseOrphanTmpfs(ctx context.Context, name string, l upper.Limits) error {
	err := s.releaseUpper(ctx, name, upper.Record{Kind: upper.KindTmpfs, Limits: l})
	if errors.Is(err, upper.ErrBusy) {
		bytes := l.Bytes
		if u, uerr := usage.Tmpfs(s.tmpfsDir(name)); uerr == nil {
			bytes = u.BytesLimit
		}
		s.drain(name, bytes)
	}
	return err
}

// cleanupUpperDir removes uppers in every upper_dir whose snapshot is gone.
func (s *Snapshotter) cleanupUpperDir(ctx context.Context) error {
	for _, dirs := range s.allDirStores() {
		if err := s.cleanupDirStore(ctx, dirs); err != nil {
			return err
		}
	}
	return nil
}

func (s *Snapshotter) cleanupDirStore(ctx context.Context, dirs *upper.DirStore) error {
	ids, err := dirs.Entries()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if s.placement(id).Kind == upper.KindDir {
			continue
		}
		if _, err := os.Stat(s.snapshotDir(id)); err == nil {
			continue // a snapshot of that ID exists; not ours to judge
		}
		if err := dirs.Release(ctx, id); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("failed to remove orphaned upper")
		}
	}
	return nil
}
