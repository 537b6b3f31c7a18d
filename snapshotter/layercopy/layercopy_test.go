package layercopy

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

func TestCopyKeepsMetadata(t *testing.T) {
	testutil.RequireRoot(t)
	src := t.TempDir()
	// The source is a tmpfs, as a Brisk upper is; the destination is disk.
	if err := unix.Mount("tmpfs", src, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(src, unix.MNT_DETACH) })
	dst := filepath.Join(t.TempDir(), "layer")
	p := func(n string) string { return filepath.Join(src, n) }
	mtime := unix.NsecToTimespec(1_600_000_000_123_456_789)

	must(t, os.MkdirAll(p("deep/a/b/c"), 0o750))
	must(t, os.WriteFile(p("deep/a/b/c/file"), []byte("deep"), 0o644))
	must(t, os.WriteFile(p("suid"), []byte("x"), 0o644))
	must(t, os.Chown(p("suid"), 1234, 5678))
	must(t, unix.Chmod(p("suid"), 0o4755))
	must(t, os.Symlink("/nowhere", p("dangling")))
	must(t, unix.Lchown(p("dangling"), 42, 43))
	must(t, unix.Mkfifo(p("fifo"), 0o600))
	must(t, os.WriteFile(p("empty"), nil, 0o600))
	hole, err := os.Create(p("hole-data-hole"))
	must(t, err)
	_, err = hole.WriteAt([]byte("middle"), 4<<20)
	must(t, err)
	must(t, hole.Truncate(8<<20))
	must(t, hole.Close())
	for _, n := range []string{"suid", "deep/a/b/c/file", "dangling", "deep/a"} {
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p(n), []unix.Timespec{mtime, mtime}, unix.AT_SYMLINK_NOFOLLOW))
	}

	must(t, Copy(context.Background(), dst, src))

	for _, tc := range []struct {
		name      string
		mode      uint32 // full st_mode
		uid, gid  uint32
		checkTime bool
	}{
		{"suid", unix.S_IFREG | 0o4755, 1234, 5678, true},
		{"dangling", unix.S_IFLNK | 0o777, 42, 43, true},
		{"fifo", unix.S_IFIFO | 0o600, 0, 0, false},
		{"deep/a", unix.S_IFDIR | 0o750, 0, 0, true},
		{"deep/a/b/c/file", unix.S_IFREG | 0o644, 0, 0, true},
		{"empty", unix.S_IFREG | 0o600, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st unix.Stat_t
			must(t, unix.Lstat(filepath.Join(dst, tc.name), &st))
			if st.Mode != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
				t.Errorf("mode %o uid %d gid %d, want %o %d %d", st.Mode, st.Uid, st.Gid, tc.mode, tc.uid, tc.gid)
			}
			if tc.checkTime && st.Mtim != mtime {
				t.Errorf("mtime %v, want %v", st.Mtim, mtime)
			}
		})
	}
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(dst, "hole-data-hole"), &st))
	data, err := os.ReadFile(filepath.Join(dst, "hole-data-hole"))
	must(t, err)
	if st.Size != 8<<20 || st.Blocks*512 > 64<<10 || string(data[4<<20:4<<20+6]) != "middle" {
		t.Errorf("hole-data-hole: size %d, %d bytes allocated", st.Size, st.Blocks*512)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
