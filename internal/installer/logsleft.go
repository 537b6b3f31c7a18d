package installer

import (
	"path/filepath"

	"github.com/brisk-containers/brisk/logs/spool"
)

// The spool facts uninstall needs, in one place: which task logs in
// spool_dir (a host path) it must not delete.

// pendingLogs are the entries not shipped yet: uninstall waits for them.
func pendingLogs(l Layout, spoolDir string) ([]string, error) {
	dirs, err := spool.Pending(l.host(spoolDir))
	return hostPaths(l, dirs), err
}

// quarantinedLogs are the entries that can never ship without an operator:
// uninstall keeps them where they are and says where.
func quarantinedLogs(l Layout, spoolDir string) ([]string, error) {
	q, err := spool.Quarantined(l.host(spoolDir))
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(q))
	for _, e := range q {
		dirs = append(dirs, e.Dir)
	}
	return hostPaths(l, dirs), nil
}

// hostPaths turns paths the installer reaches under HostRoot back into the
// host's own.
func hostPaths(l Layout, paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		rel, err := filepath.Rel(filepath.Clean(l.HostRoot), p)
		if err != nil {
			rel = p
		}
		out = append(out, filepath.Join("/", rel))
	}
	return out
}
