package upper

import (
	"github.com/brisk-containers/brisk/internal/usage"

	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// TmpfsSource is the source name of every tmpfs Brisk mounts, so an operator
// reading mountinfo (and Cleanup) can tell them apart from other tmpfs.
const TmpfsSource = "brisk"

// TmpfsPool mounts one tmpfs per snapshot and keeps the sum of their size
// limits under a budget. tmpfs pages are only allocated when written, so the
// limits could oversubscribe RAM; the budget bounds the worst case, because a
// node whose tmpfs outgrow its memory can deadlock.
//
// Each snapshot's tmpfs is mounted at Path(id), under the snapshot's own
// directory on the persistent root.
type TmpfsPool struct {
	root   string // the directory holding every snapshot's directory by ID
	budget int64

	mu       sync.Mutex
	reserved map[string]int64 // bytes reserved, by snapshot ID
	inUse    int64
}

// NewTmpfsPool returns a pool that mounts the tmpfs of snapshot ID at
// root/ID/tmpfs and admits tmpfs limits up to budget bytes.
func NewTmpfsPool(root string, budget int64) *TmpfsPool {
	return &TmpfsPool{root: root, budget: budget, reserved: make(map[string]int64)}
}

// Kind is KindTmpfs.
func (p *TmpfsPool) Kind() Kind { return KindTmpfs }

// TmpfsName is the mount point of a snapshot's tmpfs in its directory.
const TmpfsName = "tmpfs"

// Path is the mount point of id's tmpfs.
func (p *TmpfsPool) Path(id string) string { return filepath.Join(p.root, id, TmpfsName) }

// Reserve books l.Bytes of the budget for snapshot id. It fails with
// errdefs.ErrResourceExhausted when the budget cannot take it.
func (p *TmpfsPool) Reserve(id string, l Limits) error {
	bytes := l.Bytes
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.reserved[id]; ok {
		p.inUse -= old
	}
	if p.inUse+bytes > p.budget {
		if old, ok := p.reserved[id]; ok {
			p.inUse += old
		}
		return fmt.Errorf("tmpfs budget exhausted: %d of %d bytes reserved, snapshot needs %d more (raise tmpfs_budget, lower tmpfs_size, or set on_budget_exceeded = \"dir\"): %w",
			p.inUse, p.budget, bytes, errdefs.ErrResourceExhausted)
	}
	p.reserved[id] = bytes
	p.inUse += bytes
	return nil
}

// Adopt books an existing tmpfs regardless of the budget: after a restart the
// live mounts are facts, whatever the budget says now.
func (p *TmpfsPool) Adopt(id string, l Limits) {
	p.AdoptBytes(id, l.Bytes)
}

// AdoptBytes books bytes for id regardless of the budget: an upper that is
// still in use after its snapshot went keeps what it may hold booked.
func (p *TmpfsPool) AdoptBytes(id string, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse += bytes - p.reserved[id]
	p.reserved[id] = bytes
}

// Rekey moves the reservation booked under from to to: a snapshot's tmpfs is
// booked under a temporary name until its ID is known.
func (p *TmpfsPool) Rekey(from, to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bytes, ok := p.reserved[from]
	if !ok {
		return
	}
	delete(p.reserved, from)
	p.inUse -= p.reserved[to]
	p.reserved[to] = bytes
}

// Unreserve returns id's reservation to the budget.
func (p *TmpfsPool) Unreserve(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= p.reserved[id]
	delete(p.reserved, id)
}

// Reservations returns a copy of what each snapshot (or draining upper) has
// reserved, for the budget audit.
func (p *TmpfsPool) Reservations() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.reserved)
}

// Budget reports the cap and how much of it is reserved.
func (p *TmpfsPool) Budget() (limit, inUse int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.budget, p.inUse
}

// Create mounts id's tmpfs, after Reserve (or Adopt) booked it.
func (p *TmpfsPool) Create(_ context.Context, id string, l Limits) error {
	return MountTmpfs(p.Path(id), l)
}

// Present reports whether id's tmpfs is mounted.
func (p *TmpfsPool) Present(id string) (bool, error) { return Mounted(p.Path(id)) }

// Release unmounts id's tmpfs and removes its mount point. While an overlay
// or a bind mount still uses the tmpfs it fails with ErrBusy: unmounting
// would succeed, and the memory would live on out of sight. The booking is
// the caller's to return (Unreserve).
func (p *TmpfsPool) Release(ctx context.Context, id string) error {
	if err := p.Detach(ctx, id); err != nil {
		return err
	}
	// rmdir(2) itself: os.Remove tries unlink(2) first, one more
	// lookup under the directory's lock for each removal.
	if err := unix.Rmdir(p.Path(id)); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "rmdir", Path: p.Path(id), Err: err}
	}
	return nil
}

// Detach is Release without removing the mount point, for a directory that
// is to serve another snapshot.
func (p *TmpfsPool) Detach(_ context.Context, id string) error {
	dir := p.Path(id)
	users, err := UsedBy(dir)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("tmpfs upper of snapshot %s is still the upper of the overlay mounted at %s; unmount it first: %w", id, strings.Join(users, ", "), ErrBusy)
	}
	return Unmount(dir)
}

// Usage reads id's tmpfs in O(1). A tmpfs that is not mounted (gone with a
// reboot, or removed meanwhile) is empty, with limits l.
func (p *TmpfsPool) Usage(_ context.Context, id string, l Limits) (usage.Usage, error) {
	u, err := usage.Tmpfs(p.Path(id))
	if errdefs.IsNotFound(err) {
		return usage.Usage{BytesLimit: l.Bytes, InodesLimit: l.Inodes}, nil
	}
	return u, err
}

// MountTmpfs mounts a fresh tmpfs with limits l at dir and creates the
// overlay upper ("fs") and work ("work") directories in it. noatime and
// nodiratime spare the metadata writes of reads; the overlay mount carries
// them too, because overlayfs does not inherit them from the filesystem
// below.
func MountTmpfs(dir string, l Limits) (retErr error) {
	if l.Bytes <= 0 || l.Inodes <= 0 {
		return fmt.Errorf("tmpfs limits must be positive, got size=%d nr_inodes=%d: %w", l.Bytes, l.Inodes, errdefs.ErrInvalidArgument)
	}
	// Mostly a new directory in an existing one: one mkdir(2), where
	// MkdirAll stats first.
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create tmpfs mount point: %w", err)
		}
	}
	data := "size=" + strconv.FormatInt(l.Bytes, 10) + ",nr_inodes=" + strconv.FormatInt(l.Inodes, 10) + ",mode=0755"
	if err := unix.Mount(TmpfsSource, dir, "tmpfs", unix.MS_NOATIME|unix.MS_NODIRATIME, data); err != nil {
		return fmt.Errorf("mount tmpfs (%s) at %s: %w", data, dir, err)
	}
	defer func() {
		if retErr != nil {
			_ = Unmount(dir)
		}
	}()
	return MakeDirs(dir)
}

// Mounted reports whether a filesystem is mounted at dir.
func Mounted(dir string) (bool, error) {
	ok, err := mountinfo.Mounted(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return ok, err
}

// ErrBusy is returned when a tmpfs upper cannot go because something still
// uses it. It is errdefs.ErrFailedPrecondition: containerd's garbage
// collector retries such a removal on its next pass.
var ErrBusy = fmt.Errorf("upper in use: %w", errdefs.ErrFailedPrecondition)

// Unmount unmounts dir if something is mounted there. A busy mount is
// ErrBusy: it never detaches one lazily, as a detached tmpfs keeps its
// memory for as long as anything holds it, out of sight of mountinfo and of
// the budget.
//
// It asks first (MNT_EXPIRE, which fails with EBUSY while anything holds the
// mount: an open file, a working directory, a mount on top, a path lookup
// under way; and with EAGAIN once nothing does) and then detaches the unused
// mount (MNT_DETACH). A plain umount waits in the caller for an RCU grace
// period before it returns, which on a busy node takes milliseconds (p99
// 15 ms measured, docs/benchmarks.md) and holds Remove's transaction, and
// with it every Prepare, that long; a detach of an unused mount lets the
// kernel finish it a grace period later. Nothing can start using a mount in
// between but a process that walks into the snapshot's directory on the
// host in those microseconds.
func Unmount(dir string) error {
	// EBUSY also answers an unmount that races a path lookup holding the
	// mount for a moment (a scrape's statfs of this upper): that passes in
	// microseconds, a real user does not. So a few short tries before
	// calling the mount busy.
	busyWait := time.Millisecond
	for {
		err := unix.Unmount(dir, unix.MNT_EXPIRE)
		if errors.Is(err, unix.EAGAIN) {
			// Unused, and marked expired: nothing holds it now.
			err = unix.Unmount(dir, unix.MNT_DETACH)
		}
		switch {
		case err == nil:
			continue // stacked mounts: peel them all
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not a mount point (any more)
		case errors.Is(err, unix.EBUSY) && busyWait <= 32*time.Millisecond:
			time.Sleep(busyWait)
			busyWait *= 2
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("unmount %s: %v: %w", dir, err, ErrBusy)
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
}

// UsedBy returns the mount points, in this mount namespace, of what still
// uses the tmpfs at dir: bind mounts of it (a snapshot without parents is
// its upper, bind mounted) and overlays whose upperdir or workdir lies in
// it. Unmounting the tmpfs would succeed under either (a bind mount is a
// mount of its own; overlayfs holds a private clone of its upper mount), and
// its memory would live on with no mount to show for it. The copies mount
// propagation makes of the tmpfs (propagation.go) are not users: they go
// with it.
func UsedBy(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	table, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	if unused(table, dir) {
		return nil, nil
	}
	ms, err := mountinfo.GetMountsFromReader(bytes.NewReader(table), nil)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var self *mountinfo.Info
	for _, m := range ms {
		if m.Mountpoint == dir {
			self = m // the last one is on top
		}
	}
	prefixes := []string{dir + "/"}
	copies := map[int]*mountinfo.Info{}
	if self != nil {
		copies = propagatedCopies(ms, self)
		for _, c := range copies {
			prefixes = append(prefixes, c.Mountpoint+"/")
		}
	}
	var users []string
	for _, m := range ms {
		switch {
		case m.Mountpoint == dir, copies[m.ID] != nil:
		case self != nil && m.Major == self.Major && m.Minor == self.Minor:
			users = append(users, m.Mountpoint)
		case m.FSType == "overlay" && usesUpper(m, prefixes):
			users = append(users, m.Mountpoint)
		}
	}
	return users, nil
}

// unused tells, from the mount table as the kernel wrote it, without parsing
// it, what the parse below would find in the common case: dir is mounted
// once, no other mount is of its filesystem (no bind mount, no propagated
// copy), and no mount names a path under dir in its options (no overlay's
// upperdir or workdir). A mount table with a second mount at dir, one of its
// filesystem, or dir under an option answers false, and UsedBy parses it.
// Removing fifty containers on a node running a hundred reads a mount table
// of hundreds of lines fifty times: the parse was most of it.
func unused(table []byte, dir string) bool {
	if strings.ContainsAny(dir, " \t\n\\") {
		return false // mountinfo escapes these: leave it to the parser
	}
	var dev []byte
	for line := range bytes.Lines(table) {
		// ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... (the sixth field keeps
		// the rest of the line, its newline included)
		f := bytes.SplitN(line, []byte(" "), 6)
		if len(f) < 6 || string(f[4]) != dir {
			continue
		}
		if dev != nil {
			return false // stacked
		}
		dev = f[2]
	}
	if dev == nil {
		return false
	}
	under := []byte("=" + dir + "/")
	field := append(append([]byte(" "), dev...), ' ')
	return bytes.Count(table, field) == 1 && !bytes.Contains(table, under)
}

// usesUpper tells whether overlay m has its upperdir or workdir under one of
// prefixes.
func usesUpper(m *mountinfo.Info, prefixes []string) bool {
	for _, o := range strings.Split(m.VFSOptions, ",") {
		k, v, _ := strings.Cut(o, "=")
		if k != "upperdir" && k != "workdir" {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(v+"/", p) {
				return true
			}
		}
	}
	return false
}
