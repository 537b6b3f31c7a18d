//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

	p, err := s.prepareDirectory(ctx, kind, want)
	if err != nil {
		return nil, err
	}
	defer s.doneNewDir(p.name)
	var n created
	if err := s.batch.update(ctx, func(ctx context.Context) (err error) {
		n, err = s.create(ctx, kind, key, parent, p, opts)
		return err
	}); err != nil {
		// create takes back its own failures; what is left to undo here
		// was made for a transaction that then failed to commit, and the
		// directory made before it.
		n.undo.run(ctx)
		p.undo.run(ctx)
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

// pending is a new snapshot's directory, built before its transaction under
// a temporary name (snapshots/new-*), as containerd's overlayfs snapshotter
// builds it, and, for a tmpfs upper, with the tmpfs already mounted in it
// and booked in the budget under that name. The transaction that hands out
// the ID only renames the directory and moves the booking to the ID: what
// queues on the root disk (directories, the record) and the mount stay out
// of the one write transaction every Prepare and Remove on the node waits
// for.
type pending struct {
	name  string // the temporary name
	dir   string // where the directory is: snapshots/NAME, then snapshots/ID
	rec   upper.Record
	ready bool // the upper is a tmpfs mounted at dir/tmpfs, booked under name
	undo  undo // takes it all back, from wherever dir is by then
}

// create makes a snapshot in the current write transaction, which
// concurrent Prepares may share (writeBatch): its metadata, the pending
// directory renamed to the new ID, then its upper where p says. On failure
// it takes back what it made, and only that, the metadata included: a
// directory already at the new ID's path (a crash's leftover, which
// reconcile removes at start) is not ours to remove.
func (s *Snapshotter) create(ctx context.Context, kind snapshots.Kind, key, parent string, p *pending, opts []snapshots.Opt) (n created, retErr error) {
	defer func() {
		if retErr != nil {
			n.undo.run(ctx)
		}
	}()
	var err error
	if n.snap, err = storage.CreateSnapshot(ctx, kind, key, parent, opts...); err != nil {
		return n, fmt.Errorf("failed to create snapshot: %w", err)
	}
	defer func() {
		if retErr == nil {
			return
		}
		// Other calls may share the transaction: take the snapshot out
		// of it again rather than have it rolled back.
		if _, _, err := storage.Remove(ctx, key); err != nil {
			retErr = fmt.Errorf("%w; and could not take snapshot %s back out of the metadata (%v): %w", retErr, key, err, errTxDirty)
		}
	}()
	if _, n.info, _, err = storage.GetInfo(ctx, key); err != nil {
		return n, fmt.Errorf("failed to get snapshot info: %w", err)
	}
	uid, gid, err := s.rootOwner(n.info, n.snap)
	if err != nil {
		return n, err
	}

	dir := s.snapshotDir(n.snap.ID)
	if err := os.Rename(p.dir, dir); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return n, fmt.Errorf("%s exists but the metadata does not know snapshot %s (a crash's leftover still in use?); Cleanup or a restart removes it once free: %w", dir, n.snap.ID, errdefs.ErrFailedPrecondition)
		}
		return n, fmt.Errorf("failed to rename: %w", err)
	}
	p.dir = dir

	n.rec = p.rec
	switch {
	case p.ready:
		// Placed before the transaction commits, as the budget was
		// booked: the audit sees both or neither.
		id, rec := n.snap.ID, n.rec
		s.adoptNew(p.name, id, rec)
		n.undo.push(func() error { return s.releaseUpper(ctx, id, rec) })
	case n.rec.Kind != upper.KindRoot:
		if n.rec, err = s.placeUpper(ctx, n.snap.ID, n.rec); err != nil {
			return n, err
		}
		id, rec := n.snap.ID, n.rec
		n.undo.push(func() error { return s.releaseUpper(ctx, id, rec) })
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

// prepareDirectory builds a new snapshot's directory under a temporary name
// until the metadata hands out its ID: the fs directory of a layer (every
// snapshot but a container's on fast storage, whose layer only a Commit
// writes), the workdir of an active snapshot whose upper stays on the root,
// and, for a tmpfs upper, the tmpfs itself with its placement record.
func (s *Snapshotter) prepareDirectory(ctx context.Context, kind snapshots.Kind, want upper.Record) (_ *pending, retErr error) {
	td, err := s.newDir(kind == snapshots.KindActive && want.Kind == upper.KindTmpfs)
	if err != nil {
		return nil, fmt.Errorf("failed to create prepare snapshot dir: %w", err)
	}
	p := &pending{name: filepath.Base(td), dir: td, rec: want}
	p.undo.push(func() error { return os.RemoveAll(p.dir) })
	defer func() {
		if retErr != nil {
			p.undo.run(ctx)
			s.doneNewDir(p.name)
		}
	}()
	if kind == snapshots.KindActive && want.Kind == upper.KindTmpfs {
		if err := s.makeTmpfsUpper(ctx, p); err != nil {
			return nil, err
		}
		if p.ready {
			return p, nil
		}
	}
	mk := upper.MakeFS
	if kind == snapshots.KindActive && p.rec.Kind == upper.KindRoot {
		mk = upper.MakeDirs
	}
	if err := mk(td); err != nil {
		return nil, err
	}
	return p, nil
}

// makeTmpfsUpper books p's tmpfs in the budget under p's temporary name and
// mounts it in p's directory, with its placement record beside it. Past the
// budget it fails with ErrResourceExhausted, or leaves p to be placed in
// upper_dir (in the transaction, which gives the ID that upper is named by)
// when configured to fall back.
func (s *Snapshotter) makeTmpfsUpper(ctx context.Context, p *pending) error {
	if err := s.reserveNew(p.name, p.rec.Limits); err != nil {
		fallback := upper.Record{Kind: upper.KindDir, Limits: p.rec.Limits, Volatile: p.rec.Volatile, Dir: p.rec.Dir}
		if !errors.Is(err, errdefs.ErrResourceExhausted) || !s.profileOf(ctx).fallbackToDir || s.dirsFor(fallback) == nil {
			return err
		}
		log.G(ctx).WithError(err).Warnf("%s budget exhausted, placing upper in upper_dir", p.rec.Kind)
		p.rec = fallback
		return nil
	}
	p.undo.push(func() error { s.unreserveNew(p.name); return nil })
	if err := upper.MountTmpfs(s.tmpfs.Path(p.name), p.rec.Limits); err != nil {
		return err
	}
	p.undo.push(func() error { return upper.Unmount(filepath.Join(p.dir, upper.TmpfsName)) })
	// Not through a temporary file and a rename: the directory is new,
	// and a crash before the transaction commits leaves it an orphan,
	// whatever the record holds.
	if err := upper.WriteNewRecord(p.dir, p.rec); err != nil {
		return err
	}
	p.ready = true
	return nil
}
