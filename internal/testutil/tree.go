package testutil

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// FileHolding returns the first regular file under dir whose content holds
// text, following no symlink; "" when none does. Tests of a copy that a
// hostile tree may steer use it to look for host content that leaked in.
func FileHolding(t testing.TB, dir, text string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(text)) {
			found = path
			return fs.SkipAll
		}
		return nil
	})
	Must(t, err)
	return found
}

// LstatTree maps every path under dir to its metadata, following no symlink.
// Access times are zeroed: reading a tree moves them.
func LstatTree(t testing.TB, dir string) map[string]unix.Stat_t {
	t.Helper()
	tree := map[string]unix.Stat_t{}
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		st.Atim = unix.Timespec{}
		tree[path] = st
		return nil
	})
	Must(t, err)
	return tree
}

// ChangedPaths lists the paths added, removed or changed from a to b (both
// from LstatTree).
func ChangedPaths(a, b map[string]unix.Stat_t) []string {
	var changed []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			changed = append(changed, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			changed = append(changed, k)
		}
	}
	return changed
}
