package snapshotter

import (
	"context"
	"fmt"
	"strconv"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

// Per-snapshot overrides. containerd forwards to a snapshotter only the
// labels under containerd.io/snapshot/, so through containerd they are
// written with that prefix (ctr run --snapshotter-label
// containerd.io/snapshot/brisk.io/tmpfs.size=64Mi); clients talking to the
// snapshotter directly may use the bare names. CRI passes no per-container
// labels to a rootfs snapshot, so under Kubernetes the defaults apply.
const (
	// LabelPrefix is what containerd requires of a label it forwards.
	LabelPrefix = "containerd.io/snapshot/"

	// LabelTmpfsSize overrides tmpfs_size, e.g. "64Mi".
	LabelTmpfsSize = "brisk.io/tmpfs.size"
	// LabelTmpfsInodes overrides tmpfs_inodes.
	LabelTmpfsInodes = "brisk.io/tmpfs.inodes"
	// LabelVolatile ("true"/"false") overrides volatile for "dir" uppers.
	LabelVolatile = "brisk.io/volatile"

	// labelSnapshotRef marks the snapshots containerd prepares to unpack an
	// image layer (containerd keeps the constant private).
	labelSnapshotRef = "containerd.io/snapshot.ref"
)

// wantedPlacement decides, from the kind and labels of a new snapshot, where
// its upper should go before any budget is consulted. Only active snapshots
// that will become a container's rootfs go to fast storage: an unpack
// snapshot (it carries the chain ID as containerd.io/snapshot.ref, or has an
// unpack key) becomes a committed image layer, and those stay on the
// persistent root: a layer need not fit in tmpfs_size.
func (o *Snapshotter) wantedPlacement(ctx context.Context, kind snapshots.Kind, key string, labels map[string]string) (upper.Record, error) {
	if kind != snapshots.KindActive {
		return upper.Record{Kind: upper.KindRoot}, nil
	}
	if _, unpack := labels[labelSnapshotRef]; unpack || isUnpackKey(key) {
		return upper.Record{Kind: upper.KindRoot}, nil
	}
	p := o.profileOf(ctx)
	rec := upper.Record{Kind: p.backend, Limits: p.limits, Volatile: p.volatile, Dir: p.upperDir}
	if key, v, ok := lookupLabel(labels, LabelTmpfsSize); ok {
		n, err := config.ParseSize(v)
		if err != nil || n == 0 {
			return rec, badLabel(key, v, err, "a positive size such as 64Mi")
		}
		if n > o.opts.tmpfsBudget && rec.Kind == upper.KindTmpfs {
			return rec, fmt.Errorf("label %s=%q: larger than the whole tmpfs_budget (%s): %w",
				key, v, config.FormatSize(o.opts.tmpfsBudget), errdefs.ErrInvalidArgument)
		}
		rec.Limits.Bytes = n
	}
	if key, v, ok := lookupLabel(labels, LabelTmpfsInodes); ok {
		n, err := config.ParseSize(v)
		if err != nil || n == 0 {
			return rec, badLabel(key, v, err, "a positive count such as 10000")
		}
		if why := config.CheckTmpfsInodes(n); why != "" {
			return rec, fmt.Errorf("label %s=%q: %s: %w", key, v, why, errdefs.ErrInvalidArgument)
		}
		rec.Limits.Inodes = n
	}
	if key, v, ok := lookupLabel(labels, LabelVolatile); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return rec, badLabel(key, v, nil, "true or false")
		}
		rec.Volatile = b
	}
	return rec, nil
}

// lookupLabel finds name in its forwarded form first, then bare, and returns
// the key it was found under so that errors name what the user wrote.
func lookupLabel(labels map[string]string, name string) (key, value string, ok bool) {
	for _, k := range []string{LabelPrefix + name, name} {
		if v, found := labels[k]; found {
			return k, v, true
		}
	}
	return "", "", false
}

func badLabel(key, value string, err error, want string) error {
	if err != nil {
		return fmt.Errorf("label %s=%q: %v (want %s): %w", key, value, err, want, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("label %s=%q: want %s: %w", key, value, want, errdefs.ErrInvalidArgument)
}
