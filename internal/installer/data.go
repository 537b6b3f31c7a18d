package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/config"
)

// dataDirs are the directories the daemons fill: the snapshotter's root
// and the spool. Uninstall removes from them only what came with Brisk.
func dataDirs(cfg config.Config) []string {
	return []string{filepath.Clean(cfg.Snapshotter.Root), filepath.Clean(cfg.Logs.SpoolDir)}
}

// notePreExisting records, the first time an install meets data directory
// dir already there, the names it holds: an operator's data, or logs and
// layers of an earlier Brisk, which uninstall must leave.
func (st *state) notePreExisting(l Layout, dir string) error {
	dir = filepath.Clean(dir)
	if slices.Contains(st.Dirs, dir) {
		return nil // the installer made it
	}
	if _, ok := st.PreExisting[dir]; ok {
		return nil // recorded before brisk wrote there
	}
	entries, err := os.ReadDir(l.host(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // mkdirAll makes it, and records that
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if st.PreExisting == nil {
		st.PreExisting = map[string][]string{}
	}
	st.PreExisting[dir] = names
	return nil
}

// removeData removes what Brisk put into data directory dir: all of it when
// the installer made dir, else what was not there at the first install.
// keep (quarantined logs) stays wherever it is. What stays is reported.
func (r *run) removeData(dir string, keep []string) error {
	dir = filepath.Clean(dir)
	if dir == "/" {
		return fmt.Errorf("refusing to remove the data in %q: %w", dir, errdefs.ErrInvalidArgument)
	}
	if _, err := os.Lstat(r.l.host(dir)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var before []string
	if !slices.Contains(r.st.Dirs, dir) {
		var ok bool
		if before, ok = r.st.PreExisting[dir]; !ok {
			// An install older than this record: what was there
			// before cannot be told from what came after.
			r.keep(dir, "there before the install, which recorded nothing of what it held: remove what Brisk left yourself")
			return nil
		}
	}
	removed, err := r.removeUnder(dir, before, keep)
	r.changed(dir, removed)
	return err
}

// removeUnder removes the entries of dir except those named in before and
// those in keep or above it, and reports whether it removed any.
func (r *run) removeUnder(dir string, before, keep []string) (bool, error) {
	entries, err := os.ReadDir(r.l.host(dir))
	if err != nil {
		return false, fmt.Errorf("remove the data in %s: %w", dir, err)
	}
	removed := false
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case slices.Contains(before, e.Name()):
			r.keep(p, "there before the install")
		case slices.Contains(keep, p):
		case slices.ContainsFunc(keep, func(k string) bool { return strings.HasPrefix(k, p+"/") }):
			sub, err := r.removeUnder(p, nil, keep)
			removed = removed || sub
			if err != nil {
				return removed, err
			}
		default:
			if err := os.RemoveAll(r.l.host(p)); err != nil {
				return removed, fmt.Errorf("remove %s: %w", p, err)
			}
			removed = true
		}
	}
	return removed, nil
}
