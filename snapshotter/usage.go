//go:build linux

package snapshotter

import (
	"context"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
)

// Usage returns the bytes and inodes a snapshot takes. For an upper on its own
// tmpfs or under an XFS project quota it is O(1): CRI asks for every active
// snapshot every 10 s, and a walk costs an lstat per file.
func (s *Snapshotter) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	var (
		id    string
		info  snapshots.Info
		usage snapshots.Usage
	)
	if err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) (err error) {
		id, info, usage, err = storage.GetInfo(ctx, key)
		return err
	}); err != nil {
		return snapshots.Usage{}, err
	}
	if info.Kind != snapshots.KindActive {
		return usage, nil
	}
	u, err := s.upperUsage(ctx, id, s.placement(id))
	if err != nil {
		return snapshots.Usage{}, err
	}
	return snapshots.Usage{Size: u.BytesUsed, Inodes: u.InodesUsed}, nil
}

// upperUsage measures id's upper. It only stats: a read must never change
// what it reads, or a scrape racing a Remove brings the removed snapshot's
// tmpfs back.
func (s *Snapshotter) upperUsage(ctx context.Context, id string, rec upper.Record) (usage.Usage, error) {
	b, err := s.backend(rec)
	if err != nil {
		return usage.Usage{}, err
	}
	return b.Usage(ctx, id, rec.Limits)
}

// Report lists the usage of every active snapshot on fast storage. Snapshots
// on the root (image unpacking) are left out: they are transient, and walking
// them on every scrape is the lstat storm Brisk exists to avoid.
func (s *Snapshotter) Report(ctx context.Context) ([]usageapi.SnapshotUsage, error) {
	type active struct{ key, id string }
	var list []active
	if err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		ids, err := idMap(ctx)
		if err != nil {
			return err
		}
		for id, key := range ids {
			if s.placement(id).Kind != upper.KindRoot {
				list = append(list, active{key: key, id: id})
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	report := make([]usageapi.SnapshotUsage, 0, len(list))
	for _, a := range list {
		rec := s.placement(a.id)
		if rec.Kind == upper.KindRoot {
			continue // removed or committed meanwhile
		}
		u, err := s.upperUsage(ctx, a.id, rec)
		if err != nil {
			continue // removed meanwhile
		}
		key := externalKey(ownerOf(a.key), a.key)
		ns, name := splitKey(key)
		report = append(report, usageapi.SnapshotUsage{
			Key: key, Namespace: ns, Name: name, Profile: ownerOf(a.key), ID: a.id, Upper: rec.Kind,
			Path: s.upperFS(a.id, rec), Usage: u,
		})
	}
	return report, nil
}
