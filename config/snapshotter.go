package config

import (
	"fmt"
	"math"
	"net"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Upper backends.
const (
	UpperTmpfs = "tmpfs"
	UpperDir   = "dir"
)

// What Prepare does when a tmpfs upper would take the budget past its cap.
const (
	OnBudgetFail = "fail"
	OnBudgetDir  = "dir"
)

// Snapshotter is the [snapshotter] section.
type Snapshotter struct {
	// Root holds the metadata database and every committed layer.
	Root string `toml:"root"`
	// Address is the unix socket containerd's [proxy_plugins] entry dials.
	Address string `toml:"address"`
	// Upper is the backend for container upperdirs: "tmpfs" or "dir".
	Upper string `toml:"upper"`
	// UpperDir is the dedicated mount for the "dir" backend.
	UpperDir string `toml:"upper_dir"`
	// TmpfsSize and TmpfsInodes are the per-snapshot tmpfs limits.
	TmpfsSize   Size  `toml:"tmpfs_size"`
	TmpfsInodes Count `toml:"tmpfs_inodes"`
	// TmpfsBudget caps the sum of the size limits of all live tmpfs uppers.
	TmpfsBudget Size `toml:"tmpfs_budget"`
	// OnBudgetExceeded is "fail" or "dir".
	OnBudgetExceeded string `toml:"on_budget_exceeded"`
	// Volatile mounts "dir" uppers with overlayfs volatile: no fsync reaches
	// the device while the container runs.
	Volatile bool `toml:"volatile"`
	// MetricsAddress serves /metrics over TCP; empty disables it.
	MetricsAddress string `toml:"metrics_address"`
	// UsageSocket is the unix socket, root's only, serving the usage API
	// (/v1/usage) briskctl usage reads; empty disables it. It is not on
	// metrics_address because the report names every snapshot and its
	// path on the host.
	UsageSocket string `toml:"usage_socket"`
	// ShareLayers lets a profile use an image layer another profile has
	// already unpacked, instead of unpacking it again.
	ShareLayers bool `toml:"share_layers"`
	// Profiles are the [snapshotter.profiles.NAME] tables (profiles.go).
	Profiles map[string]ProfileTable `toml:"profiles"`
}

// The inode limits a tmpfs upper may have.
//
// tmpfs refuses nr_inodes above ULONG_MAX/1024 (mm/shmem.c counts 1 KiB of
// kernel memory per inode); past it every container start would fail with a
// bare EINVAL from mount.
//
// Below MinTmpfsInodes a container does not start, or cannot write: the
// tmpfs root, the upper and work directories and overlayfs's own work
// directory take 5, overlayfs needs 2 more free to mount writable (it falls
// back to read-only, and runc then fails creating its mount points), and runc
// and CRI create up to 9 more in the upper (mount points such as /proc, /sys,
// /dev and /run, and /etc with hosts, hostname and resolv.conf) when the image
// lacks them. That is 16; twice that leaves the container room for its first
// files.
const (
	MinTmpfsInodes = 32
	MaxTmpfsInodes = math.MaxUint64 / 1024
)

// CheckTmpfsInodes tells what is wrong with n as a tmpfs upper's inode
// limit, or returns "".
func CheckTmpfsInodes(n int64) string {
	if n < MinTmpfsInodes || n > MaxTmpfsInodes {
		return fmt.Sprintf("must be from %d (fewer cannot hold a container's rootfs) to %d (the most tmpfs accepts)", MinTmpfsInodes, int64(MaxTmpfsInodes))
	}
	return ""
}

// DefaultSnapshotter returns the [snapshotter] defaults.
//
// 256Mi and 64Ki inodes fit the workloads Brisk is for (containers writing a
// few hundred KB) with a wide margin, while a budget of half the RAM still
// admits dozens of them at once; nodes packing more containers lower the size.
func DefaultSnapshotter() Snapshotter {
	return Snapshotter{
		Root:             "/var/lib/brisk-snapshotter",
		Address:          "/run/brisk/snapshotter.sock",
		Upper:            UpperTmpfs,
		UpperDir:         "",
		TmpfsSize:        256 << 20,
		TmpfsInodes:      64 << 10,
		TmpfsBudget:      Size(halfOfRAM()),
		OnBudgetExceeded: OnBudgetFail,
		MetricsAddress:   "127.0.0.1:9190",
		UsageSocket:      "/run/brisk/usage.sock",
		ShareLayers:      true,
	}
}

func halfOfRAM() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 1 << 30
	}
	return int64(si.Totalram) * int64(si.Unit) / 2
}

// Validate checks the section; every error names the key and its value.
func (s *Snapshotter) Validate() error {
	if s.Root == "" || !filepath.IsAbs(s.Root) {
		return invalid("snapshotter.root", s.Root, "must be an absolute path")
	}
	if s.Address == "" || !filepath.IsAbs(s.Address) {
		return invalid("snapshotter.address", s.Address, "must be an absolute path to a unix socket")
	}
	if s.TmpfsBudget <= 0 {
		return invalid("snapshotter.tmpfs_budget", int64(s.TmpfsBudget), "must be positive")
	}
	if err := s.DefaultProfile().validate("snapshotter.", s.TmpfsBudget); err != nil {
		return err
	}
	if err := s.validateProfiles(); err != nil {
		return err
	}
	if s.MetricsAddress != "" {
		if _, _, err := net.SplitHostPort(s.MetricsAddress); err != nil {
			return invalid("snapshotter.metrics_address", s.MetricsAddress, "must be host:port or empty")
		}
	}
	if s.UsageSocket != "" {
		if !filepath.IsAbs(s.UsageSocket) {
			return invalid("snapshotter.usage_socket", s.UsageSocket, "must be an absolute path to a unix socket or empty")
		}
		if s.UsageSocket == s.Address {
			return invalid("snapshotter.usage_socket", s.UsageSocket, "must differ from snapshotter.address")
		}
	}
	return nil
}
