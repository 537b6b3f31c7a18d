//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/log"
)

// Remove deletes a snapshot and releases its upper at once: a removed
// container's tmpfs memory goes back to the node immediately.
func (s *Snapshotter) Remove(ctx context.Context, key string) (err error) {
	var removals []string
	defer func() {
		// Once the transaction committed the key is gone; failures here are
		// logged and left to Cleanup, never returned, as containerd does.
		if err == nil {
			s.removeDirs(ctx, removals)
		}
	}()
	return s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		if _, _, err := storage.Remove(ctx, key); err != nil {
			return fmt.Errorf("failed to remove snapshot %s: %w", key, err)
		}
		removals, err = s.orphans(ctx)
		return err
	})
}

// Cleanup removes what no snapshot owns any more: snapshot directories left
// by a crash, their tmpfs mounts, and uppers in upper_dir.
func (s *Snapshotter) Cleanup(ctx context.Context) error {
	var removals []string
	if err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		// A write transaction keeps Prepare from creating while we scan.
		removals, err = s.orphans(ctx)
		return err
	}); err != nil {
		return err
	}
	s.removeDirs(ctx, removals)
	return s.cleanupUpperDir(ctx)
}

// orphans lists the snapshot directories whose ID the metadata no longer
// knows. It must run inside a transaction.
func (s *Snapshotter) orphans(ctx context.Context) ([]string, error) {
	ids, err := idMap(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
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

// removeDirs releases the upper of each orphan and deletes its directory.
func (s *Snapshotter) removeDirs(ctx context.Context, names []string) {
	for _, name := range names {
		dir := filepath.Join(s.root, "snapshots", name)
		if !strings.HasPrefix(name, "new-") {
			rec, err := upper.ReadRecord(dir)
			if err != nil {
				log.G(ctx).WithError(err).WithField("path", dir).Warn("unreadable placement record; unmounting anyway")
				rec = upper.Record{Kind: upper.KindTmpfs}
			}
			if err := s.releaseUpper(ctx, name, rec); err != nil {
				log.G(ctx).WithError(err).WithField("id", name).Warn("failed to release upper")
				continue
			}
		}
		// A tmpfs mounted at dir/tmpfs that the record does not mention
		// (a crash between mount and record) must not be descended into.
		if err := upper.Unmount(filepath.Join(dir, "tmpfs")); err != nil {
			log.G(ctx).WithError(err).WithField("path", dir).Warn("failed to unmount stray tmpfs")
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.G(ctx).WithError(err).WithField("path", dir).Warn("failed to remove directory")
		}
	}
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
		if err := dirs.Remove(id); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("failed to remove orphaned upper")
		}
	}
	return nil
}
