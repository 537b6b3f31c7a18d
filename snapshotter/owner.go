//go:build linux

package snapshotter

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
)

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
