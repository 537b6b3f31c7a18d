//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

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
		case errors.Is(err, errdefs.ErrResourceExhausted) && s.policy(ctx).fallbackToDir && s.dirsFor(want) != nil:
			log.G(ctx).WithField("id", id).WithError(err).Warn("tmpfs budget exhausted, placing upper in upper_dir")
			want.Kind = upper.KindDir
		default:
			return want, err
		}
	}
	dirs := s.dirsFor(want)
	if dirs == nil {
		return want, fmt.Errorf("upper_dir is not configured: %w", errdefs.ErrFailedPrecondition)
	}
	if err := dirs.Create(id, want.Limits); err != nil {
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
		dirs := s.dirsFor(rec)
		if dirs == nil {
			return fmt.Errorf("snapshot %s has its upper in upper_dir %s, which is not configured: %w", id, s.upperDirOf(rec), errdefs.ErrFailedPrecondition)
		}
		if err := dirs.Remove(id); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(s.snapshotDir(id), upper.RecordName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	s.setPlacement(id, upper.Record{Kind: upper.KindRoot})
	return nil
}
