package installer

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/errdefs"
)

// quarantinedLogs are the entries in spool_dir (a host path) that can never
// ship without an operator: uninstall keeps them where they are and says
// where. The spool is asked through QuarantinedLogs, which the caller passes
// in, so that the installer does not link the log spool (imports point
// down).
func (r *run) quarantinedLogs(spoolDir string) ([]string, error) {
	if r.QuarantinedLogs == nil {
		return nil, fmt.Errorf("cannot tell which task logs in %s are quarantined: the installer has no QuarantinedLogs: %w", spoolDir, errdefs.ErrFailedPrecondition)
	}
	dirs, err := r.QuarantinedLogs(r.l.host(spoolDir))
	if err != nil {
		return nil, err
	}
	return hostPaths(r.l, dirs), nil
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
