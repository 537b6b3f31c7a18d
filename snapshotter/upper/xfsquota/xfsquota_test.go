package xfsquota

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// mountXFS loop-mounts a fresh XFS with opts for the test. A kernel built
// without CONFIG_XFS_QUOTA cannot mount project quotas at all: that is not
// a missing install, so the test says so rather than fail forever.
func mountXFS(t *testing.T, opts string) string {
	t.Helper()
	if strings.Contains(opts, "quota") && !KernelSupportsXFSQuota() {
		t.Skip("kernel built without CONFIG_XFS_QUOTA: XFS project quotas cannot be mounted here")
	}
	return testutil.MountXFS(t, t.TempDir(), 320<<20, opts)
}

func TestOpenRefusesWithoutProjectQuotas(t *testing.T) {
	testutil.RequireRoot(t)
	tmpfs := t.TempDir()
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(tmpfs, unix.MNT_DETACH) })
	for _, tc := range []struct {
		name string
		dir  string
	}{
		{"tmpfs", tmpfs},
		{"xfs without prjquota", mountXFS(t, "noatime")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.dir); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("Open(%s) = %v, want ErrNotSupported", tc.dir, err)
			}
		})
	}
}

func TestLimitsAndUsage(t *testing.T) {
	mnt := mountXFS(t, "noatime,prjquota")
	c, err := Open(mnt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	a, b := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetLimits(a, 101, Limits{Bytes: 4 << 20, Inodes: 50}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLimits(b, 102, Limits{Bytes: 64 << 20, Inodes: 1000}); err != nil {
		t.Fatal(err)
	}

	t.Run("usage counts what was written", func(t *testing.T) {
		sub := filepath.Join(a, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprint(i)), make([]byte, 64<<10), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		u, err := c.Usage(101)
		if err != nil {
			t.Fatal(err)
		}
		// a itself, sub, 10 files.
		if u.InodesUsed != 12 {
			t.Errorf("inodes = %d, want 12", u.InodesUsed)
		}
		if u.BytesUsed < 640<<10 || u.BytesUsed > 640<<10+64<<10 {
			t.Errorf("bytes = %d, want about %d", u.BytesUsed, 640<<10)
		}
		if u.BytesLimit != 4<<20 || u.InodesLimit != 50 {
			t.Errorf("limits = %d/%d", u.BytesLimit, u.InodesLimit)
		}
	})
	t.Run("byte limit gives ENOSPC", func(t *testing.T) {
		err := os.WriteFile(filepath.Join(a, "big"), make([]byte, 8<<20), 0o644)
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
			t.Fatalf("writing 8 MiB under a 4 MiB limit: %v", err)
		}
		os.Remove(filepath.Join(a, "big"))
	})
	t.Run("inode limit gives ENOSPC", func(t *testing.T) {
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = os.WriteFile(filepath.Join(a, fmt.Sprint("n", i)), nil, 0o644)
		}
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
			t.Fatalf("creating 100 files under a 50 inode limit: %v", err)
		}
	})
	t.Run("neighbour unaffected", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(b, "fine"), make([]byte, 8<<20), 0o644); err != nil {
			t.Fatalf("neighbour write: %v", err)
		}
		u, err := c.Usage(102)
		if err != nil || u.InodesUsed != 2 {
			t.Fatalf("neighbour usage %+v %v", u, err)
		}
	})
	t.Run("clear lifts the limit", func(t *testing.T) {
		if err := c.Clear(101); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a, "big"), make([]byte, 8<<20), 0o644); err != nil {
			t.Fatalf("write after Clear: %v", err)
		}
		u, _ := c.Usage(101)
		if u.BytesLimit != 0 || u.InodesLimit != 0 {
			t.Fatalf("limits after Clear: %+v", u)
		}
	})
}
