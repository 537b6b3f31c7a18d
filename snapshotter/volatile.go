//go:build linux

package snapshotter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/internal/atomicfile"
	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// An overlay mounted volatile leaves WORKDIR/work/incompat/volatile behind,
// and overlayfs refuses every later mount of that upper while it is there:
// after a crash the upper may have lost writes that were never synced. The
// overlayfs documentation allows removing it where the system has not
// crashed since the volatile mount. So Mounts, which containerd asks before
// every start of a task, stamps the snapshot with the boot it hands the
// mounts out in, and removes the marker for the next start only when the
// stamp is this boot's and no overlay has the upper mounted. A marker from
// an earlier boot stays, and the start fails with an error that says why.

// volatileBootName is the stamp, in the snapshot's directory on the root
// (outside the upper, so it counts against no quota of the container's).
const volatileBootName = "volatile.boot"

// bootIDPath is the kernel's random ID of the current boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// readyVolatile makes the volatile "dir" upper of snapshot id mountable again
// after a clean stop, and stamps it with the current boot.
func (s *Snapshotter) readyVolatile(ctx context.Context, id string, rec upper.Record) error {
	defer s.locks.lock(id)()
	boot, err := s.bootID()
	if err != nil {
		return err
	}
	stampPath := filepath.Join(s.snapshotDir(id), volatileBootName)
	stamp, err := os.ReadFile(stampPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	base := s.upperBase(id, rec)
	marker := filepath.Join(upper.Work(base), "work", "incompat", "volatile")
	if _, err := os.Lstat(marker); err == nil {
		users, err := upper.UsedBy(base)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			// Mounted now: the marker is that mount's, and a second
			// mount is the kernel's to refuse.
			return nil
		}
		if !bytes.Equal(stamp, boot) {
			return fmt.Errorf("snapshot %s: its upper %s was mounted volatile before the node last booted, and overlayfs cannot vouch for it after a crash (%s is there); remove the container and create it again: %w",
				id, upper.FS(base), marker, errdefs.ErrFailedPrecondition)
		}
		if err := os.RemoveAll(marker); err != nil {
			return fmt.Errorf("snapshot %s: remove overlayfs's volatile marker: %w", id, err)
		}
		log.G(ctx).WithField("id", id).Debug("removed the volatile marker of a cleanly stopped upper")
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	if bytes.Equal(stamp, boot) {
		return nil
	}
	if err := atomicfile.Write(stampPath, boot, 0o600); err != nil {
		return fmt.Errorf("snapshot %s: stamp the boot of a volatile upper: %w", id, err)
	}
	return nil
}

// readBootID reads the kernel's ID of the current boot. It does not change
// while the process lives, so the snapshotter reads it once (bootID).
func readBootID() ([]byte, error) {
	boot, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil, fmt.Errorf("read the boot ID: %w", err)
	}
	return bytes.TrimSpace(boot), nil
}
