//go:build linux

package snapshotter

import (
	"context"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/continuity/fs"
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
	u, err := s.upperUsage(ctx, id)
	if err != nil {
		return snapshots.Usage{}, err
	}
	return snapshots.Usage{Size: u.Bytes, Inodes: u.Inodes}, nil
}

func (s *Snapshotter) upperUsage(ctx context.Context, id string) (upper.Usage, error) {
	rec := s.placement(id)
	switch rec.Kind {
	case upper.KindTmpfs:
		if err := s.ensureUpper(ctx, id, rec); err != nil {
			return upper.Usage{}, err
		}
		return upper.StatfsUsage(s.tmpfsDir(id))
	case upper.KindDir:
		if dirs := s.dirsFor(rec); dirs != nil {
			return dirs.Usage(ctx, id)
		}
	}
	du, err := fs.DiskUsage(ctx, s.upperFS(id, rec))
	if err != nil {
		return upper.Usage{}, err
	}
	return upper.Usage{Bytes: du.Size, Inodes: du.Inodes}, nil
}

// SnapshotUsage is one line of the usage report.
type SnapshotUsage struct {
	// Key is the key the snapshot's profile gave it.
	Key     string     `json:"key"`
	Profile string     `json:"profile"`
	ID      string     `json:"id"`
	Upper   upper.Kind `json:"upper"`
	// Path is the overlay upperdir.
	Path        string `json:"path"`
	Bytes       int64  `json:"bytes"`
	BytesLimit  int64  `json:"bytes_limit"`
	Inodes      int64  `json:"inodes"`
	InodesLimit int64  `json:"inodes_limit"`
}

// Report lists the usage of every active snapshot on fast storage. Snapshots
// on the root (image unpacking) are left out: they are transient, and walking
// them on every scrape is the lstat storm Brisk exists to avoid.
func (s *Snapshotter) Report(ctx context.Context) ([]SnapshotUsage, error) {
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
	report := make([]SnapshotUsage, 0, len(list))
	for _, a := range list {
		rec := s.placement(a.id)
		if rec.Kind == upper.KindRoot {
			continue // removed or committed meanwhile
		}
		u, err := s.upperUsage(ctx, a.id)
		if err != nil {
			continue // removed meanwhile
		}
		report = append(report, SnapshotUsage{
			Key: externalKey(ownerOf(a.key), a.key), Profile: ownerOf(a.key), ID: a.id, Upper: rec.Kind,
			Path:  s.upperFS(a.id, rec),
			Bytes: u.Bytes, BytesLimit: u.BytesLimit, Inodes: u.Inodes, InodesLimit: u.InodesLimit,
		})
	}
	return report, nil
}
