// Package retention deletes old logs from local_dir, the store of nodes
// without a bucket (S3 has lifecycle rules for that).
package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Result is what one collection did.
type Result struct {
	Root    string // local_dir with its symlinks resolved
	Removed int    // files removed
}

// Collect removes the regular files under dir last modified before cutoff,
// then the directories this left empty. dir itself may be a symlink (local_dir
// on another disk): its target is what is collected, and neither the link
// nor the target is ever removed. Symlinks and special files under it are
// left alone: only what the shipper writes, regular files, is removed.
func Collect(ctx context.Context, dir string, cutoff time.Time) (Result, error) {
	root, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{Root: dir}, nil
	}
	if err != nil {
		return Result{Root: dir}, fmt.Errorf("resolve local_dir %s: %w", dir, err)
	}
	res := Result{Root: root}
	var dirs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if path != root {
				dirs = append(dirs, path)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if info.ModTime().Before(cutoff) && os.Remove(path) == nil {
			res.Removed++
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// Deepest first, so a parent empties after its children; only empty
	// directories are removed.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
	return res, nil
}
