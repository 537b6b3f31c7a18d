package xfsquota

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// mountXFS makes an XFS image in a file and loop-mounts it with opts; the
// mount and the loop device go away when the test ends, pass or fail.
func mountXFS(t *testing.T, opts string) string {
	t.Helper()
	testutil.RequireRoot(t)
	mkfs := testutil.RequireCommand(t, "mkfs.xfs")
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(320 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop,"+opts, img, mnt).CombinedOutput(); err != nil {
		if strings.Contains(opts, "quota") && !KernelSupportsXFSQuota() {
			// Not a missing install but a kernel built without
			// CONFIG_XFS_QUOTA: nothing on this machine can enforce
			// project quotas, so say so rather than fail forever.
			t.Skipf("kernel built without CONFIG_XFS_QUOTA: XFS project quotas cannot be mounted here (%s)", strings.TrimSpace(string(out)))
		}
		t.Fatalf("mount xfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// umount of a loop mount made by mount(8) frees the loop device.
		if out, err := exec.Command("umount", "-d", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", mnt, err, out)
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
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
		if u.Inodes != 12 {
			t.Errorf("inodes = %d, want 12", u.Inodes)
		}
		if u.Bytes < 640<<10 || u.Bytes > 640<<10+64<<10 {
			t.Errorf("bytes = %d, want about %d", u.Bytes, 640<<10)
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
		if err != nil || u.Inodes != 2 {
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
