package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// MountsUnder lists the mounts at or below dir, deepest first: the order to
// unmount them in.
func MountsUnder(t testing.TB, dir string) []*mountinfo.Info {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ms, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	return ms
}

// MountXFS makes an XFS image of size bytes in dir and loop-mounts it with
// opts at dir/mnt, standing in for a dedicated drive. The mount and its loop
// device go away when the test ends, pass or fail.
func MountXFS(t testing.TB, dir string, size int64, opts string) string {
	t.Helper()
	RequireRoot(t)
	mkfs := RequireCommand(t, "mkfs.xfs")
	img := filepath.Join(dir, "xfs.img")
	Must(t, os.WriteFile(img, nil, 0o600))
	Must(t, os.Truncate(img, size))
	if out, err := exec.Command(mkfs, "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	Must(t, os.Mkdir(mnt, 0o755))
	if out, err := exec.Command("mount", "-o", "loop,"+opts, img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount xfs -o %s: %v: %s", opts, err, out)
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
