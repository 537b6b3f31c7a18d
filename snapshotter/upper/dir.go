package upper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/brisk-containers/brisk/internal/mountpoint"
	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/snapshotter/upper/xfsquota"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// DirStore keeps uppers in directories on a dedicated mount (an NVMe drive in
// production). Where that mount is XFS with project quotas, each snapshot's
// directory gets a project of its own and the same byte and inode limits as a
// tmpfs would; elsewhere usage is measured without limits.
type DirStore struct {
	root  string
	quota *xfsquota.Control // nil: no per-snapshot limits on this filesystem
}

// OpenDirStore checks that dir is a mount of its own without atime updates and
// returns a store over it. It refuses anything else because the point of the
// dedicated mount is that container writes neither queue behind the root
// disk nor pay for atime metadata writes.
func OpenDirStore(ctx context.Context, dir string) (*DirStore, error) {
	if err := CheckDedicatedMount(dir); err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("upper_dir %q: %w", dir, err)
	}
	d := &DirStore{root: real}
	q, err := xfsquota.Open(real)
	switch {
	case err == nil:
		d.quota = q
		log.G(ctx).WithField("upper_dir", real).Info("upper_dir has XFS project quotas: per-snapshot limits enforced")
	case errors.Is(err, xfsquota.ErrNotSupported):
		log.G(ctx).WithField("upper_dir", real).WithError(err).Info("upper_dir has no project quotas: usage is measured, limits are not enforced")
	default:
		return nil, fmt.Errorf("upper_dir %q: %w", dir, err)
	}
	return d, nil
}

// CheckDedicatedMount returns an error naming the fix unless dir is itself a
// mount point with noatime (which implies nodiratime) in its options.
func CheckDedicatedMount(dir string) error {
	m, real, err := mountpoint.Of(dir)
	if err != nil {
		return fmt.Errorf("upper_dir %q: %w (create it and mount a dedicated filesystem there)", dir, err)
	}
	if m.Mountpoint != real {
		return fmt.Errorf("upper_dir %q is not a mount point of its own (it is part of %s, %s): mount a dedicated filesystem there, e.g. `mount -o noatime,nodiratime /dev/nvme1n1 %s`: %w",
			dir, m.Mountpoint, m.FSType, real, errdefs.ErrFailedPrecondition)
	}
	opts := strings.Split(m.Options, ",")
	if !slices.Contains(opts, "noatime") {
		return fmt.Errorf("upper_dir %q is mounted with atime updates (%s): remount it with `mount -o remount,noatime,nodiratime %s` and add noatime,nodiratime to its /etc/fstab entry: %w",
			dir, m.Options, real, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// Kind is KindDir.
func (d *DirStore) Kind() Kind { return KindDir }

// Root is the upper_dir the store keeps its uppers in.
func (d *DirStore) Root() string { return d.root }

// Path is the directory holding id's fs and work directories.
func (d *DirStore) Path(id string) string { return filepath.Join(d.root, id) }

// Reserve books nothing: an XFS project quota limits each upper on its own,
// and the dedicated mount is not budgeted across snapshots.
func (d *DirStore) Reserve(string, Limits) error { return nil }

// Adopt books nothing.
func (d *DirStore) Adopt(string, Limits) {}

// Unreserve books nothing.
func (d *DirStore) Unreserve(string) {}

// Present reports whether id's directory exists.
func (d *DirStore) Present(id string) (bool, error) {
	_, err := os.Stat(d.Path(id))
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// Create makes id's directories and applies its limits.
func (d *DirStore) Create(_ context.Context, id string, l Limits) (retErr error) {
	base := d.Path(id)
	if err := os.Mkdir(base, 0o700); err != nil {
		return fmt.Errorf("create upper in upper_dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = d.Release(context.Background(), id)
		}
	}()
	if d.quota != nil {
		pid, err := projectID(id)
		if err != nil {
			return err
		}
		// The project is set before anything is created below base, so
		// that PROJINHERIT charges every later file to it.
		if err := d.quota.SetLimits(base, pid, xfsquota.Limits{Bytes: uint64(l.Bytes), Inodes: uint64(l.Inodes)}); err != nil {
			return fmt.Errorf("set quota on %s: %w", base, err)
		}
	}
	return MakeDirs(base)
}

// Release deletes id's upper and lifts its quota so the project ID starts
// clean when reused.
func (d *DirStore) Release(_ context.Context, id string) error {
	if err := os.RemoveAll(d.Path(id)); err != nil {
		return fmt.Errorf("remove upper %s: %w", d.Path(id), err)
	}
	if d.quota != nil {
		if pid, err := projectID(id); err == nil {
			if err := d.quota.Clear(pid); err != nil {
				return fmt.Errorf("clear quota of %s: %w", d.Path(id), err)
			}
		}
	}
	return nil
}

// Usage is O(1) from the quota where there is one, a walk otherwise.
func (d *DirStore) Usage(ctx context.Context, id string, _ Limits) (usage.Usage, error) {
	if d.quota != nil {
		pid, err := projectID(id)
		if err != nil {
			return usage.Usage{}, err
		}
		return d.quota.Usage(pid)
	}
	return usage.Walk(ctx, FS(d.Path(id)))
}

// Entries lists the snapshot IDs that have an upper in the store, for Cleanup.
func (d *DirStore) Entries() ([]string, error) {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if _, err := strconv.ParseUint(e.Name(), 10, 32); err == nil && e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// projectID maps a snapshot ID (a decimal sequence number from the metadata
// store) to an XFS project ID. Project 0 is the default project, so IDs start
// from 1 as snapshot IDs do.
func projectID(id string) (uint32, error) {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("snapshot id %q cannot be an XFS project ID: %w", id, errdefs.ErrInvalidArgument)
	}
	return uint32(n), nil
}
