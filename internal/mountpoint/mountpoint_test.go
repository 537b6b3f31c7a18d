package mountpoint

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

func TestOf(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	testutil.Must(t, os.MkdirAll(filepath.Join(mnt), 0o755))
	testutil.Must(t, unix.Mount("mountpoint-test", mnt, "tmpfs", 0, "size=1m"))
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	testutil.Must(t, os.MkdirAll(filepath.Join(mnt, "a", "b"), 0o755))
	testutil.Must(t, os.Symlink(filepath.Join(mnt, "a"), filepath.Join(dir, "link")))

	for _, tc := range []struct{ dir, wantMount, wantReal string }{
		{mnt, mnt, mnt},
		{filepath.Join(mnt, "a", "b"), mnt, filepath.Join(mnt, "a", "b")},
		{filepath.Join(dir, "link"), mnt, filepath.Join(mnt, "a")},
	} {
		m, real, err := Of(tc.dir)
		if err != nil {
			t.Fatalf("Of(%s): %v", tc.dir, err)
		}
		if m.Mountpoint != tc.wantMount || m.FSType != "tmpfs" || real != tc.wantReal {
			t.Errorf("Of(%s) = %s (%s), %s; want %s, %s", tc.dir, m.Mountpoint, m.FSType, real, tc.wantMount, tc.wantReal)
		}
	}
	if m, _, err := Of(dir); err != nil || m.Mountpoint == mnt {
		t.Errorf("Of(%s) = %v %v: the parent is not on the tmpfs", dir, m, err)
	}
}
