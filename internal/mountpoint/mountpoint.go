// Package mountpoint finds the mount a directory lives on.
package mountpoint

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
)

// Of returns the deepest mount containing dir, and dir with its symlinks
// resolved (what mountinfo's mount points are compared against).
func Of(dir string) (m *mountinfo.Info, real string, err error) {
	real, err = filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, "", err
	}
	ms, err := mountinfo.GetMounts(mountinfo.ParentsFilter(real))
	if err != nil {
		return nil, "", fmt.Errorf("read mountinfo: %w", err)
	}
	if len(ms) == 0 {
		return nil, "", fmt.Errorf("no mount found for %s: %w", dir, errdefs.ErrNotFound)
	}
	// Of the mounts whose mount point is a prefix of dir, the longest is the
	// one dir is on; an over-mount at the same point comes later in
	// mountinfo and wins the tie.
	m = ms[0]
	for _, c := range ms[1:] {
		if len(c.Mountpoint) >= len(m.Mountpoint) {
			m = c
		}
	}
	return m, real, nil
}
