//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
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

func (s *Snapshotter) createSnapshot(ctx context.Context, kind snapshots.Kind, key, parent string, opts []snapshots.Opt) (_ []mount.Mount, retErr error) {
	// Labels are checked before anything is created, so a bad one leaves
	// nothing behind.
	var requested snapshots.Info
	for _, opt := range opts {
		if err := opt(&requested); err != nil {
			return nil, err
		}
	}
	want, err := s.wantedPlacement(kind, requested.Labels)
	if err != nil {
		return nil, err
	}

	var (
		snap   storage.Snapshot
		info   snapshots.Info
		td     string // temporary directory until the ID is known
		dir    string // the snapshot's directory once renamed
		placed *upper.Record
	)
	defer func() {
		if retErr == nil {
			return
		}
		if placed != nil {
			if err := s.releaseUpper(ctx, snap.ID, *placed); err != nil {
				log.G(ctx).WithError(err).WithField("id", snap.ID).Error("failed to release upper of a failed prepare")
			}
		}
		for _, d := range []string{td, dir} {
			if d == "" {
				continue
			}
			if err := os.RemoveAll(d); err != nil {
				log.G(ctx).WithError(err).WithField("path", d).Error("failed to reclaim snapshot directory")
				retErr = fmt.Errorf("failed to remove path: %v: %w", err, retErr)
			}
		}
	}()

	rec := want
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		snapshotsDir := filepath.Join(s.root, "snapshots")
		td, err = os.MkdirTemp(snapshotsDir, "new-")
		if err != nil {
			return fmt.Errorf("failed to create prepare snapshot dir: %w", err)
		}
		// The persistent fs directory exists for every snapshot, as in
		// containerd's layout: it is where Commit puts the layer.
		if err := os.Mkdir(filepath.Join(td, "fs"), 0o755); err != nil {
			return err
		}
		if kind == snapshots.KindActive && want.Kind == upper.KindRoot {
			if err := os.Mkdir(filepath.Join(td, "work"), 0o711); err != nil {
				return err
			}
		}

		snap, err = storage.CreateSnapshot(ctx, kind, key, parent, opts...)
		if err != nil {
			return fmt.Errorf("failed to create snapshot: %w", err)
		}
		if _, info, _, err = storage.GetInfo(ctx, key); err != nil {
			return fmt.Errorf("failed to get snapshot info: %w", err)
		}
		uid, gid, err := s.rootOwner(info, snap)
		if err != nil {
			return err
		}

		dir = s.snapshotDir(snap.ID)
		if err := os.Rename(td, dir); err != nil {
			return fmt.Errorf("failed to rename: %w", err)
		}
		td = ""

		if want.Kind != upper.KindRoot {
			if rec, err = s.placeUpper(ctx, snap.ID, want); err != nil {
				return err
			}
			placed = &rec
			if err := upper.WriteRecord(dir, rec); err != nil {
				return err
			}
		}
		if uid != -1 && gid != -1 {
			if err := os.Lchown(filepath.Join(s.upperBase(snap.ID, rec), "fs"), uid, gid); err != nil {
				return fmt.Errorf("failed to chown: %w", err)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	s.setPlacement(snap.ID, rec)
	if rec.Kind != upper.KindRoot {
		log.G(ctx).WithFields(log.Fields{"key": key, "id": snap.ID, "upper": rec.Kind, "bytes": rec.Limits.Bytes, "inodes": rec.Limits.Inodes}).Debug("placed upper on fast storage")
	}
	return s.mounts(snap, info, rec), nil
}

// rootOwner returns who must own the new upper's root directory: the root
// pair of an ID-mapped snapshot, else the owner of the parent layer's root,
// exactly as containerd's overlayfs snapshotter decides it.
func (s *Snapshotter) rootOwner(info snapshots.Info, snap storage.Snapshot) (int, int, error) {
	uidmap, hasUID := info.Labels[snapshots.LabelSnapshotUIDMapping]
	gidmap, hasGID := info.Labels[snapshots.LabelSnapshotGIDMapping]
	if hasUID || hasGID {
		uid, err := hostRootID(uidmap)
		if err != nil {
			return -1, -1, fmt.Errorf("label %s=%q: %w", snapshots.LabelSnapshotUIDMapping, uidmap, err)
		}
		gid, err := hostRootID(gidmap)
		if err != nil {
			return -1, -1, fmt.Errorf("label %s=%q: %w", snapshots.LabelSnapshotGIDMapping, gidmap, err)
		}
		return uid, gid, nil
	}
	if len(snap.ParentIDs) == 0 {
		return -1, -1, nil
	}
	st, err := os.Stat(s.persistentFS(snap.ParentIDs[0]))
	if err != nil {
		return -1, -1, fmt.Errorf("failed to stat parent: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1, errors.New("incompatible types after stat call: *syscall.Stat_t expected")
	}
	return int(sys.Uid), int(sys.Gid), nil
}

// placeUpper creates the upper of snapshot id where want says, reserving tmpfs
// budget first. Past the budget it fails with ErrResourceExhausted, or falls
// back to the dir backend when configured to.
func (s *Snapshotter) placeUpper(ctx context.Context, id string, want upper.Record) (upper.Record, error) {
	if want.Kind == upper.KindTmpfs {
		err := s.tmpfs.Reserve(id, want.Limits.Bytes)
		switch {
		case err == nil:
			if err := s.tmpfs.Mount(s.tmpfsDir(id), want.Limits); err != nil {
				s.tmpfs.Release(id)
				return want, err
			}
			return want, nil
		case errors.Is(err, errdefs.ErrResourceExhausted) && s.opts.fallbackToDir && s.dirs != nil:
			log.G(ctx).WithField("id", id).WithError(err).Warn("tmpfs budget exhausted, placing upper in upper_dir")
			want.Kind = upper.KindDir
		default:
			return want, err
		}
	}
	if s.dirs == nil {
		return want, fmt.Errorf("upper_dir is not configured: %w", errdefs.ErrFailedPrecondition)
	}
	if err := s.dirs.Create(id, want.Limits); err != nil {
		return want, err
	}
	return want, nil
}

// releaseUpper frees what placeUpper took. It is idempotent: Remove, Commit,
// Cleanup and failed Prepares all end here.
func (s *Snapshotter) releaseUpper(ctx context.Context, id string, rec upper.Record) error {
	switch rec.Kind {
	case upper.KindTmpfs:
		dir := s.tmpfsDir(id)
		if err := upper.Unmount(dir); err != nil {
			return err
		}
		s.tmpfs.Release(id)
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
	case upper.KindDir:
		if s.dirs == nil {
			return fmt.Errorf("snapshot %s has its upper in upper_dir, which is not configured: %w", id, errdefs.ErrFailedPrecondition)
		}
		if err := s.dirs.Remove(id); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(s.snapshotDir(id), upper.RecordName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	s.setPlacement(id, upper.Record{Kind: upper.KindRoot})
	return nil
}

// hostRootID finds the host ID that container ID 0 maps to in an ID-map label
// ("ctrID:hostID:length,..."), the format containerd writes. An empty map
// means no mapping: root stays root.
func hostRootID(idmap string) (int, error) {
	if idmap == "" {
		return 0, nil
	}
	for _, m := range strings.Split(idmap, ",") {
		var ctrID, hostID, length int64
		if _, err := fmt.Sscanf(m, "%d:%d:%d", &ctrID, &hostID, &length); err != nil {
			return -1, fmt.Errorf("mapping %q unparsable: %w", m, errdefs.ErrInvalidArgument)
		}
		if ctrID < 0 || hostID < 0 || length <= 0 || hostID > math.MaxUint32 {
			return -1, fmt.Errorf("invalid mapping %q: %w", m, errdefs.ErrInvalidArgument)
		}
		if ctrID == 0 {
			return int(hostID), nil
		}
	}
	return -1, fmt.Errorf("no mapping for container root: %w", errdefs.ErrInvalidArgument)
}
