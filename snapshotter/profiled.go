//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/brisk-containers/brisk/config"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/containerd/v2/pkg/filters"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// Profiled serves every profile from one Snapshotter. Each request runs
// under the profile its context names (WithProfile) and sees only the
// snapshots that profile holds, under its own keys (keyspace.go).
//
// That view is what keeps profiles apart: containerd's garbage collector for
// a snapshotter name removes every backend snapshot Walk shows that its own
// metadata does not reference, so a profile must never be shown another's.
//
// Image layers are shared: when a profile prepares to unpack a layer another
// profile has committed with the same parent, it is added to the layer's
// holders and told the layer exists, which containerd's unpacker takes as
// "layer present" and records the shared layer under the profile's
// snapshotter. Remove drops the caller's hold and deletes a snapshot only
// with its last holder.
type Profiled struct {
	sn    *Snapshotter
	share bool
	// holdMu orders the operations that read and then change who holds a
	// snapshot (share, Remove, Update), so that a hold taken by one profile
	// cannot be lost to another's removal of the same layer.
	holdMu sync.Mutex
}

var (
	_ snapshots.Snapshotter = (*Profiled)(nil)
	_ snapshots.Cleaner     = (*Profiled)(nil)
)

// Profiled returns the snapshotter that dispatches by profile.
func (s *Snapshotter) Profiled() *Profiled {
	return &Profiled{sn: s, share: s.opts.shareLayers}
}

// profile is the profile ctx runs under, resolved (profileName). The gRPC
// interceptors put the resolved name in the context, the default profile's
// included.
func (p *Profiled) profile(ctx context.Context) (string, error) {
	name := ProfileFrom(ctx)
	if name == config.DefaultProfileName {
		return name, nil
	}
	return p.sn.profileName(name)
}

// held reads key's info as the profile sees it; a snapshot the profile does
// not hold does not exist for it.
func (p *Profiled) held(ctx context.Context, profile, key string) (snapshots.Info, error) {
	var info snapshots.Info
	err := p.sn.ms.WithTransaction(ctx, false, func(ctx context.Context) (err error) {
		info, err = p.heldInTx(ctx, profile, key)
		return err
	})
	return info, err
}

// heldInTx is held inside a transaction; key is the store's key, and so is
// the info returned.
func (p *Profiled) heldInTx(ctx context.Context, profile, ikey string) (snapshots.Info, error) {
	_, info, _, err := storage.GetInfo(ctx, ikey)
	if err != nil {
		return snapshots.Info{}, err
	}
	if !holds(info, profile) {
		return snapshots.Info{}, fmt.Errorf("snapshot %v does not exist: %w", externalKey(profile, ikey), errdefs.ErrNotFound)
	}
	return info, nil
}

// external is info as profile sees it.
func external(profile string, info snapshots.Info) snapshots.Info {
	info.Name = externalKey(profile, info.Name)
	info.Parent = externalKey(profile, info.Parent)
	info.Labels = withoutHolderLabel(info.Labels)
	return info
}

// Stat returns the info of a snapshot the profile holds.
func (p *Profiled) Stat(ctx context.Context, key string) (snapshots.Info, error) {
	profile, err := p.profile(ctx)
	if err != nil {
		return snapshots.Info{}, err
	}
	info, err := p.held(ctx, profile, internalKey(profile, key))
	if err != nil {
		return snapshots.Info{}, err
	}
	return external(profile, info), nil
}

// Update changes the labels of a snapshot the profile holds; the holders
// stay as they are whatever the labels sent.
func (p *Profiled) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (snapshots.Info, error) {
	profile, err := p.profile(ctx)
	if err != nil {
		return snapshots.Info{}, err
	}
	ikey := internalKey(profile, info.Name)
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	cur, err := p.held(ctx, profile, ikey)
	if err != nil {
		return snapshots.Info{}, err
	}
	info.Name = ikey
	info.Labels = withoutHolderLabel(info.Labels)
	if v, ok := cur.Labels[labelHolders]; ok && replacesLabels(fieldpaths) {
		labels := make(map[string]string, len(info.Labels)+1)
		for k, v := range info.Labels {
			labels[k] = v
		}
		labels[labelHolders] = v
		info.Labels = labels
	}
	for _, f := range fieldpaths {
		if f == "labels."+labelHolders {
			return snapshots.Info{}, fmt.Errorf("label %s belongs to brisk: %w", labelHolders, errdefs.ErrInvalidArgument)
		}
	}
	updated, err := p.sn.Update(ctx, info, fieldpaths...)
	if err != nil {
		return snapshots.Info{}, err
	}
	return external(profile, updated), nil
}

// replacesLabels tells whether an update with these field paths writes the
// whole label set.
func replacesLabels(fieldpaths []string) bool {
	if len(fieldpaths) == 0 {
		return true
	}
	for _, f := range fieldpaths {
		if f == "labels" {
			return true
		}
	}
	return false
}

// Usage returns the usage of a snapshot the profile holds.
func (p *Profiled) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	profile, err := p.profile(ctx)
	if err != nil {
		return snapshots.Usage{}, err
	}
	ikey := internalKey(profile, key)
	if _, err := p.held(ctx, profile, ikey); err != nil {
		return snapshots.Usage{}, err
	}
	return p.sn.Usage(ctx, ikey)
}

// Mounts returns the mounts of a snapshot the profile holds.
func (p *Profiled) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	profile, err := p.profile(ctx)
	if err != nil {
		return nil, err
	}
	ikey := internalKey(profile, key)
	if _, err := p.held(ctx, profile, ikey); err != nil {
		return nil, err
	}
	return p.sn.Mounts(ctx, ikey)
}

// Prepare creates an active snapshot in the profile's key space, or, for an
// image layer another profile already has, shares that layer and returns
// AlreadyExists.
func (p *Profiled) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	profile, err := p.profile(ctx)
	if err != nil {
		return nil, err
	}
	ikey, iparent, labels, err := p.newSnapshot(ctx, profile, key, parent, opts)
	if err != nil {
		return nil, err
	}
	if target, ok := labels[labelSnapshotRef]; ok && p.share {
		name, err := p.shareLayer(ctx, profile, target, iparent)
		if err != nil {
			return nil, err
		}
		if name != "" {
			log.G(ctx).WithFields(log.Fields{"profile": profile, "target": target, "layer": name}).Debug("sharing a layer another profile unpacked")
			return nil, fmt.Errorf("target snapshot %q is layer %s of another profile: %w", target, externalKey(profile, name), errdefs.ErrAlreadyExists)
		}
	}
	return p.sn.Prepare(ctx, ikey, iparent, snapshots.WithLabels(labels))
}

// View creates a read-only snapshot in the profile's key space.
func (p *Profiled) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	profile, err := p.profile(ctx)
	if err != nil {
		return nil, err
	}
	ikey, iparent, labels, err := p.newSnapshot(ctx, profile, key, parent, opts)
	if err != nil {
		return nil, err
	}
	return p.sn.View(ctx, ikey, iparent, snapshots.WithLabels(labels))
}

// newSnapshot maps the arguments of Prepare and View: the key must be the
// profile's own, the parent one the profile holds.
func (p *Profiled) newSnapshot(ctx context.Context, profile, key, parent string, opts []snapshots.Opt) (ikey, iparent string, labels map[string]string, err error) {
	if ikey, err = ownKey(profile, key); err != nil {
		return "", "", nil, err
	}
	if iparent = internalKey(profile, parent); iparent != "" {
		if _, err := p.held(ctx, profile, iparent); err != nil {
			return "", "", nil, fmt.Errorf("parent snapshot %v: %w", parent, err)
		}
	}
	labels, err = requestedLabels(opts)
	return ikey, iparent, labels, err
}

// requestedLabels applies opts and returns the labels they set, without
// any claim to hold a snapshot.
func requestedLabels(opts []snapshots.Opt) (map[string]string, error) {
	var info snapshots.Info
	for _, opt := range opts {
		if err := opt(&info); err != nil {
			return nil, err
		}
	}
	return withoutHolderLabel(info.Labels), nil
}

// shareLayer finds a committed layer unpacked from target on top of parent
// that the profile does not hold yet, and adds the profile to its holders.
// It returns the layer's store key, or "" when there is nothing to share:
// no such layer, or the profile has its own already.
func (p *Profiled) shareLayer(ctx context.Context, profile, target, parent string) (string, error) {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	var shared string
	err := p.sn.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		var found *snapshots.Info
		if err := walkInfo(ctx, func(ctx context.Context, info snapshots.Info) error {
			if info.Kind != snapshots.KindCommitted || info.Labels[labelSnapshotRef] != target || info.Parent != parent {
				return nil
			}
			if holds(info, profile) {
				found = nil
				return errHeldAlready
			}
			if found == nil {
				found = &info
			}
			return nil
		}); err != nil && err != errHeldAlready {
			return err
		}
		if found == nil {
			// Nothing to share: rolled back, not committed, as a
			// commit of nothing costs two fdatasyncs.
			return errNothingWritten
		}
		found.Labels = map[string]string{labelHolders: withHolder(*found, profile, true)}
		if _, err := storage.UpdateInfo(ctx, *found, "labels."+labelHolders); err != nil {
			return err
		}
		shared = found.Name
		return nil
	})
	if errors.Is(err, errNothingWritten) {
		err = nil
	}
	return shared, err
}

// errHeldAlready stops a walk that found the profile's own copy of a layer.
var errHeldAlready = fmt.Errorf("held already")

// errNothingWritten rolls back a write transaction that found it has
// nothing to write: bbolt commits even an empty one with two fdatasyncs.
var errNothingWritten = errors.New("nothing written")

// Commit commits an active snapshot of the profile's under a name in its key
// space.
func (p *Profiled) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	profile, err := p.profile(ctx)
	if err != nil {
		return err
	}
	iname, err := ownKey(profile, name)
	if err != nil {
		return err
	}
	ikey := internalKey(profile, key)
	if _, err := p.held(ctx, profile, ikey); err != nil {
		return err
	}
	labels, err := requestedLabels(opts)
	if err != nil {
		return err
	}
	return p.sn.Commit(ctx, iname, ikey, snapshots.WithLabels(labels))
}

// Remove drops the profile's hold on a snapshot; the snapshot itself goes
// with its last holder. A profile that still holds a child of the snapshot
// cannot drop it, as a snapshot with children cannot be removed.
func (p *Profiled) Remove(ctx context.Context, key string) error {
	profile, err := p.profile(ctx)
	if err != nil {
		return err
	}
	ikey := internalKey(profile, key)
	info, err := p.held(ctx, profile, ikey)
	if err != nil {
		return err
	}
	if info.Kind != snapshots.KindCommitted {
		// Only committed layers are ever shared: a container's rootfs
		// goes without waiting for other profiles' removals.
		return p.sn.Remove(ctx, ikey)
	}
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	last := false
	if err := p.sn.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		info, err := p.heldInTx(ctx, profile, ikey)
		if err != nil {
			return err
		}
		if len(holders(info)) == 1 {
			last = true
			return errNothingWritten
		}
		if err := walkInfo(ctx, func(ctx context.Context, child snapshots.Info) error {
			if child.Parent == ikey && holds(child, profile) {
				return fmt.Errorf("cannot remove snapshot %s with child %s: %w", key, externalKey(profile, child.Name), errdefs.ErrFailedPrecondition)
			}
			return nil
		}); err != nil {
			return err
		}
		info.Labels = map[string]string{labelHolders: withHolder(info, profile, false)}
		_, err = storage.UpdateInfo(ctx, info, "labels."+labelHolders)
		return err
	}); err != nil && !errors.Is(err, errNothingWritten) {
		return err
	}
	if !last {
		return nil
	}
	return p.sn.Remove(ctx, ikey)
}

// Walk calls fn for each snapshot the profile holds that matches filters,
// as the profile sees it; filters apply to that view.
func (p *Profiled) Walk(ctx context.Context, fn snapshots.WalkFunc, fs ...string) error {
	profile, err := p.profile(ctx)
	if err != nil {
		return err
	}
	filter, err := filters.ParseAll(fs...)
	if err != nil {
		return err
	}
	var infos []snapshots.Info
	if err := p.sn.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		return walkInfo(ctx, func(ctx context.Context, info snapshots.Info) error {
			if !holds(info, profile) {
				return nil
			}
			info = external(profile, info)
			if filter.Match(adaptInfo(info)) {
				infos = append(infos, info)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, info := range infos {
		if err := fn(ctx, info); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup removes what no snapshot of any profile owns.
func (p *Profiled) Cleanup(ctx context.Context) error { return p.sn.Cleanup(ctx) }

// Close closes the store.
func (p *Profiled) Close() error { return p.sn.Close() }

// walkInfo is storage.WalkInfo over every snapshot, with a store that has
// never held one read as empty.
func walkInfo(ctx context.Context, fn snapshots.WalkFunc) error {
	err := storage.WalkInfo(ctx, fn)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}
