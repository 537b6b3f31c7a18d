//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
)

// Mounts returns the mounts of an active or view snapshot. An upper that is
// gone (a tmpfs unmounted behind our back, or emptied by a reboot) is
// recreated empty with its recorded limits, through restoreUpper, so the container can start again rather than
// fail on a missing directory.
func (s *Snapshotter) Mounts(ctx context.Context, key string) (_ []mount.Mount, err error) {
	var (
		snap storage.Snapshot
		info snapshots.Info
	)
	if err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		snap, err = storage.GetSnapshot(ctx, key)
		if err != nil {
			return fmt.Errorf("failed to get active mount: %w", err)
		}
		_, info, _, err = storage.GetInfo(ctx, key)
		if err != nil {
			return fmt.Errorf("failed to get snapshot info: %w", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	rec := s.placement(snap.ID)
	if rec.Kind != upper.KindRoot {
		if err := s.restoreUpper(ctx, snap.ID, s.stillActive(ctx, key, snap.ID)); err != nil {
			return nil, err
		}
	}
	ms := s.mounts(snap, info, rec)
	if slices.Contains(ms[0].Options, "volatile") {
		// The upper may have been mounted volatile before: a task
		// started again needs the marker overlayfs left gone.
		if err := s.readyVolatile(ctx, snap.ID, rec); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// mounts builds the same mounts containerd's overlayfs snapshotter would,
// with the upper and work directories wherever the snapshot was placed.
func (s *Snapshotter) mounts(snap storage.Snapshot, info snapshots.Info, rec upper.Record) []mount.Mount {
	var options []string
	if len(snap.ParentIDs) == 0 {
		// Overlay needs a lower layer: a snapshot without parents is its
		// upper directory, bind mounted.
		roFlag := "rw"
		source := s.upperFS(snap.ID, rec)
		if snap.Kind == snapshots.KindView {
			roFlag = "ro"
			source = s.persistentFS(snap.ID)
		}
		return []mount.Mount{{Source: source, Type: "bind", Options: append(options, roFlag, "rbind")}}
	}

	if snap.Kind == snapshots.KindActive {
		options = append(options,
			"workdir="+s.workDir(snap.ID, rec),
			"upperdir="+s.upperFS(snap.ID, rec),
		)
	} else if len(snap.ParentIDs) == 1 {
		return []mount.Mount{{Source: s.persistentFS(snap.ParentIDs[0]), Type: "bind", Options: append(options, "ro", "rbind")}}
	}

	lowers := make([]string, len(snap.ParentIDs))
	for i, id := range snap.ParentIDs {
		lowers[i] = s.persistentFS(id)
	}
	options = append(options, "lowerdir="+strings.Join(lowers, ":"))
	options = append(options, s.mountOptions...)
	if snap.Kind == snapshots.KindActive && rec.Kind == upper.KindDir && rec.Volatile {
		// volatile drops every sync to the upper: the container's fsyncs
		// stop queueing on the device. Its content is not crash-safe,
		// which is the deal for a short-lived container's scratch layer.
		options = append(options, "volatile")
	}
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: options}}
}
