//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// Prepare creates an active snapshot. A container's rootfs gets its upper on
// fast storage; an unpack snapshot stays on the root.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.createSnapshot(ctx, snapshots.KindActive, key, parent, opts)
}

// View creates a read-only snapshot.
func (s *Snapshotter) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.createSnapshot(ctx, snapshots.KindView, key, parent, opts)
}

func (s *Snapshotter) createSnapshot(ctx context.Context, kind snapshots.Kind, key, parent string, opts []snapshots.Opt) ([]mount.Mount, error) {
	// The placement is decided before anything is created, so a bad label
	// leaves nothing behind.
	var requested snapshots.Info
	for _, opt := range opts {
		if err := opt(&requested); err != nil {
			return nil, err
		}
	}
	want, err := s.wantedPlacement(ctx, kind, key, requested.Labels)
	if err != nil {
		return nil, err
	}

	var n created
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		n, err = s.create(ctx, kind, key, parent, want, opts)
		return err
	}); err != nil {
		// create takes back its own failures; what is left to undo here
		// was made for a transaction that then failed to commit.
		n.undo.run(ctx)
		return nil, err
	}
	if n.rec.Kind != upper.KindRoot {
		log.G(ctx).WithFields(log.Fields{"key": key, "id": n.snap.ID, "upper": n.rec.Kind, "bytes": n.rec.Limits.Bytes, "inodes": n.rec.Limits.Inodes}).Debug("placed upper on fast storage")
	}
	return s.mounts(n.snap, n.info, n.rec), nil
}

// created is a snapshot made inside a transaction that has not committed
// yet, with the steps that take it back off the disk.
type created struct {
	snap storage.Snapshot
	info snapshots.Info
	rec  upper.Record
	undo undo
}

// create makes a snapshot in the current write transaction: its directory
// under a temporary name, its metadata, the directory renamed to the new ID,
// then its upper where want says. On failure it takes back what it made, and
// only that: a directory already at the new ID's path (a crash's leftover,
// which reconcile removes at start) is not ours to remove.
func (s *Snapshotter) create(ctx context.Context, kind snapshots.Kind, key, parent string, want upper.Record, opts []snapshots.Opt) (n created, retErr error) {
	defer func() {
		if retErr != nil {
			n.undo.run(ctx)
		}
	}()
	td, err := s.prepareDirectory(kind, want)
	if err != nil {
		return n, err
	}
	n.undo.push(func() error { return os.RemoveAll(td) })

	if n.snap, err = storage.CreateSnapshot(ctx, kind, key, parent, opts...); err != nil {
		return n, fmt.Errorf("failed to create snapshot: %w", err)
	}
	if _, n.info, _, err = storage.GetInfo(ctx, key); err != nil {
		return n, fmt.Errorf("failed to get snapshot info: %w", err)
	}
	uid, gid, err := s.rootOwner(n.info, n.snap)
	if err != nil {
		return n, err
	}

	dir := s.snapshotDir(n.snap.ID)
	if err := os.Rename(td, dir); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return n, fmt.Errorf("%s exists but the metadata does not know snapshot %s (a crash's leftover still in use?); Cleanup or a restart removes it once free: %w", dir, n.snap.ID, errdefs.ErrFailedPrecondition)
		}
		return n, fmt.Errorf("failed to rename: %w", err)
	}
	n.undo.pop()
	n.undo.push(func() error { return os.RemoveAll(dir) })

	n.rec = want
	if want.Kind != upper.KindRoot {
		if n.rec, err = s.placeUpper(ctx, n.snap.ID, want); err != nil {
			return n, err
		}
		id, rec := n.snap.ID, n.rec
		n.undo.push(func() error { return s.releaseUpper(ctx, id, rec) })
		// Placed before the transaction commits, as the budget was
		// booked: the audit sees both or neither.
		s.setPlacement(id, rec)
		if err := upper.WriteRecord(dir, n.rec); err != nil {
			return n, err
		}
	}
	if uid != -1 && gid != -1 {
		if err := os.Lchown(s.upperFS(n.snap.ID, n.rec), uid, gid); err != nil {
			return n, fmt.Errorf("failed to chown: %w", err)
		}
	}
	return n, nil
}

// prepareDirectory builds a new snapshot's directory under a temporary name,
// as containerd's overlayfs snapshotter does, until the metadata hands out
// its ID: the fs directory every snapshot has (Commit puts the layer there),
// and the workdir of an active snapshot whose upper stays on the root.
func (s *Snapshotter) prepareDirectory(kind snapshots.Kind, want upper.Record) (_ string, retErr error) {
	td, err := os.MkdirTemp(s.snapshotsDir(), newDirPattern)
	if err != nil {
		return "", fmt.Errorf("failed to create prepare snapshot dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(td)
		}
	}()
	mk := upper.MakeFS
	if kind == snapshots.KindActive && want.Kind == upper.KindRoot {
		mk = upper.MakeDirs
	}
	if err := mk(td); err != nil {
		return "", err
	}
	return td, nil
}
