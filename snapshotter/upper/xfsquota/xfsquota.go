// Package xfsquota gives a directory tree byte and inode limits with XFS
// project quotas, and reads its usage in O(1), the way containers/storage
// enforces size= and inodes= for overlay on XFS. The filesystem must be
// mounted with prjquota (or pquota).
package xfsquota

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/mountpoint"
	"github.com/brisk-containers/brisk/internal/usage"
)

// ErrNotSupported: the directory is not on XFS with project quotas enforced.
var ErrNotSupported = errors.New("xfs project quotas not supported")

// Limits caps a project; zero means unlimited.
type Limits struct {
	Bytes  uint64
	Inodes uint64
}

// Control sets and reads project quotas on one filesystem.
type Control struct {
	// device is the block device quotactl addresses the filesystem by.
	device string
}

// Kernel ABI (include/uapi/linux/dqblk_xfs.h, fs.h, quota.h); golang.org/x/sys
// does not carry these.
const (
	xfsSuperMagic = 0x58465342

	prjQuota   = 2 // PRJQUOTA
	qXSetQLim  = 'X'<<8 + 4
	qXGetQuota = 'X'<<8 + 3

	fsDquotVersion = 1
	fsProjQuota    = 2 // d_flags
	fsDqISoft      = 1 << 0
	fsDqIHard      = 1 << 1
	fsDqBSoft      = 1 << 2
	fsDqBHard      = 1 << 3

	basicBlock = 512 // quota block counts are in 512-byte units

	fsIOCFSGetXattr    = 0x801c581f // _IOR('X', 31, struct fsxattr)
	fsIOCFSSetXattr    = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	fsXFlagProjInherit = 0x00000200
)

// fsDiskQuota is struct fs_disk_quota; Go's natural alignment reproduces the
// C layout (112 bytes).
type fsDiskQuota struct {
	Version      int8
	Flags        int8
	FieldMask    uint16
	ID           uint32
	BlkHardLimit uint64
	BlkSoftLimit uint64
	InoHardLimit uint64
	InoSoftLimit uint64
	BCount       uint64
	ICount       uint64
	ITimer       int32
	BTimer       int32
	IWarns       uint16
	BWarns       uint16
	ITimerHi     int8
	BTimerHi     int8
	RtbTimerHi   int8
	Padding2     int8
	RtbHardLimit uint64
	RtbSoftLimit uint64
	RtbCount     uint64
	RtbTimer     int32
	RtbWarns     uint16
	Padding3     int16
	Padding4     [8]byte
}

// fsxattr is struct fsxattr (28 bytes).
type fsxattr struct {
	XFlags     uint32
	ExtSize    uint32
	NExtents   uint32
	ProjID     uint32
	CowExtSize uint32
	Pad        [8]byte
}

// Open checks that dir is on XFS with project quotas enforced and returns a
// Control for its filesystem.
func Open(dir string) (*Control, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != xfsSuperMagic {
		return nil, fmt.Errorf("%s is not on XFS: %w", dir, ErrNotSupported)
	}
	m, _, err := mountpoint.Of(dir)
	if err != nil {
		return nil, err
	}
	opts := strings.Split(m.VFSOptions, ",")
	if !slices.Contains(opts, "prjquota") && !slices.Contains(opts, "pquota") {
		return nil, fmt.Errorf("%s (XFS at %s) is not mounted with prjquota: %w", dir, m.Mountpoint, ErrNotSupported)
	}
	dev, err := blockDevice(dir, m)
	if err != nil {
		return nil, err
	}
	c := &Control{device: dev}
	// Project 0 always exists where quotas are on: a cheap proof that the
	// kernel accepts our requests on this device.
	if _, err := c.Usage(0); err != nil {
		return nil, fmt.Errorf("%s: project quota not usable on %s: %v: %w", dir, dev, err, ErrNotSupported)
	}
	return c, nil
}

// blockDevice returns a block device node for the filesystem holding dir:
// the mount source when it is that device, else a node we make ourselves in
// the mount's root (a bind-mounted or renamed source has no usable path).
func blockDevice(dir string, m *mountinfo.Info) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", err
	}
	var src unix.Stat_t
	if err := unix.Stat(m.Source, &src); err == nil && src.Mode&unix.S_IFMT == unix.S_IFBLK && src.Rdev == st.Dev {
		return m.Source, nil
	}
	node := filepath.Join(m.Mountpoint, ".brisk-quota-dev")
	_ = os.Remove(node)
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(st.Dev)); err != nil {
		return "", fmt.Errorf("create block device node for quotas at %s: %w", node, err)
	}
	return node, nil
}

// SetLimits puts dir in project id, so that everything created below it is
// charged to the project (PROJINHERIT), and caps the project at l.
func (c *Control) SetLimits(dir string, id uint32, l Limits) error {
	if id == 0 {
		return fmt.Errorf("project id 0 is the default project: %w", errdefs.ErrInvalidArgument)
	}
	if err := setProject(dir, id); err != nil {
		return err
	}
	return c.setLimits(id, l)
}

// Clear lifts the limits of project id.
func (c *Control) Clear(id uint32) error {
	return c.setLimits(id, Limits{})
}

func (c *Control) setLimits(id uint32, l Limits) error {
	blocks := (l.Bytes + basicBlock - 1) / basicBlock
	q := fsDiskQuota{
		Version:      fsDquotVersion,
		Flags:        fsProjQuota,
		FieldMask:    fsDqBHard | fsDqBSoft | fsDqIHard | fsDqISoft,
		ID:           id,
		BlkHardLimit: blocks,
		BlkSoftLimit: blocks,
		InoHardLimit: l.Inodes,
		InoSoftLimit: l.Inodes,
	}
	if err := c.quotactl(qXSetQLim, id, unsafe.Pointer(&q)); err != nil {
		return fmt.Errorf("set limits of project %d (bytes=%d inodes=%d): %w", id, l.Bytes, l.Inodes, err)
	}
	return nil
}

// Usage reads project id's usage and limits without walking anything.
func (c *Control) Usage(id uint32) (usage.Usage, error) {
	var q fsDiskQuota
	if err := c.quotactl(qXGetQuota, id, unsafe.Pointer(&q)); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return usage.Usage{}, nil // no usage recorded yet
		}
		return usage.Usage{}, fmt.Errorf("read quota of project %d: %w", id, err)
	}
	return usage.Usage{
		InodesUsed:  int64(q.ICount),
		InodesLimit: int64(q.InoHardLimit),
		BytesUsed:   int64(q.BCount * basicBlock),
		BytesLimit:  int64(q.BlkHardLimit * basicBlock),
	}, nil
}

func (c *Control) quotactl(cmd int, id uint32, addr unsafe.Pointer) error {
	dev, err := unix.BytePtrFromString(c.device)
	if err != nil {
		return err
	}
	qcmd := uintptr(cmd<<8 | prjQuota)
	_, _, errno := unix.Syscall6(unix.SYS_QUOTACTL, qcmd, uintptr(unsafe.Pointer(dev)), uintptr(id), uintptr(addr), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func setProject(dir string, id uint32) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	var x fsxattr
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIOCFSGetXattr, uintptr(unsafe.Pointer(&x))); errno != 0 {
		return fmt.Errorf("get project of %s: %w", dir, errno)
	}
	x.ProjID = id
	x.XFlags |= fsXFlagProjInherit
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIOCFSSetXattr, uintptr(unsafe.Pointer(&x))); errno != 0 {
		return fmt.Errorf("set project %d on %s: %w", id, dir, errno)
	}
	return nil
}
