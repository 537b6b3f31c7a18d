package layercopy

import (
	"context"
	"errors"
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

var must = testutil.Must

// TestCopyKeepsOverlayAndSecurityMetadata covers what an overlay upper holds
// beyond plain files: whiteouts, opaque directories, capabilities, hardlinks
// across directories, xattrs on symlinks, setgid and sticky directories.
func TestCopyKeepsOverlayAndSecurityMetadata(t *testing.T) {
	testutil.RequireRoot(t)
	forEachLookup(t, testKeepsOverlayAndSecurityMetadata)
}

func testKeepsOverlayAndSecurityMetadata(t *testing.T, newCopier func() *copier) {
	src := tmpfs(t)
	p := func(n string) string { return filepath.Join(src, n) }
	// VFS_CAP_REVISION_2 with the effective bit, permitting CAP_NET_BIND_SERVICE.
	capability := []byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

	must(t, unix.Mknod(p("whiteout"), unix.S_IFCHR|0o000, 0))
	must(t, os.Mkdir(p("opaque"), 0o755))
	must(t, unix.Setxattr(p("opaque"), "trusted.overlay.opaque", []byte("y"), 0))
	must(t, os.Mkdir(p("shared"), 0o755))
	must(t, unix.Chmod(p("shared"), 0o3775))
	must(t, os.WriteFile(p("ping"), []byte("bin"), 0o755))
	must(t, os.Chown(p("ping"), 0, 7))
	must(t, unix.Chmod(p("ping"), 0o2755))
	must(t, unix.Setxattr(p("ping"), "security.capability", capability, 0))
	must(t, os.Link(p("ping"), p("opaque/ping-link")))
	must(t, os.Link(p("ping"), p("shared/ping-link")))
	must(t, os.Symlink("../ping", p("shared/sym")))
	must(t, unix.Lsetxattr(p("shared/sym"), "trusted.brisk", []byte("on-the-link"), 0))
	must(t, unix.Lchown(p("shared/sym"), 5, 6))

	dst := filepath.Join(t.TempDir(), "layer")
	must(t, newCopier().copy(context.Background(), dst, src))
	q := func(n string) string { return filepath.Join(dst, n) }

	for _, tc := range []struct {
		name     string
		mode     uint32
		uid, gid uint32
		rdev     uint64
	}{
		{"whiteout", unix.S_IFCHR, 0, 0, 0},
		{"opaque", unix.S_IFDIR | 0o755, 0, 0, 0},
		{"shared", unix.S_IFDIR | 0o3775, 0, 0, 0},
		{"ping", unix.S_IFREG | 0o2755, 0, 7, 0},
		{"shared/sym", unix.S_IFLNK | 0o777, 5, 6, 0},
	} {
		var st unix.Stat_t
		must(t, unix.Lstat(q(tc.name), &st))
		if st.Mode != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid || st.Rdev != tc.rdev {
			t.Errorf("%s: mode %o uid %d gid %d rdev %d, want %o %d %d %d", tc.name, st.Mode, st.Uid, st.Gid, st.Rdev, tc.mode, tc.uid, tc.gid, tc.rdev)
		}
	}
	for _, tc := range []struct{ name, xattr, want string }{
		{"opaque", "trusted.overlay.opaque", "y"},
		{"ping", "security.capability", string(capability)},
		{"shared/sym", "trusted.brisk", "on-the-link"},
	} {
		buf := make([]byte, 64)
		n, err := unix.Lgetxattr(q(tc.name), tc.xattr, buf)
		if err != nil || string(buf[:n]) != tc.want {
			t.Errorf("%s: xattr %s = %q %v, want %q", tc.name, tc.xattr, buf[:max(n, 0)], err, tc.want)
		}
	}
	var first unix.Stat_t
	must(t, unix.Lstat(q("ping"), &first))
	for _, n := range []string{"opaque/ping-link", "shared/ping-link"} {
		var st unix.Stat_t
		must(t, unix.Lstat(q(n), &st))
		if st.Ino != first.Ino {
			t.Errorf("%s: not a hardlink of ping", n)
		}
	}
	if first.Nlink != 3 {
		t.Errorf("ping: %d links, want 3", first.Nlink)
	}
	if link, err := os.Readlink(q("shared/sym")); err != nil || link != "../ping" {
		t.Errorf("shared/sym: %q %v", link, err)
	}
}

// TestCopyRefusesMountsInside: a container cannot mount inside its upper,
// so a mount there is the host's and its content must not become a layer.
func TestCopyRefusesMountsInside(t *testing.T) {
	testutil.RequireRoot(t)
	forEachLookup(t, testRefusesMountsInside)
}

func testRefusesMountsInside(t *testing.T, newCopier func() *copier) {
	src := tmpfs(t)
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "shadow"), []byte(secret), 0o600))
	must(t, os.Mkdir(filepath.Join(src, "m"), 0o755))
	must(t, unix.Mount(host, filepath.Join(src, "m"), "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(src, "m"), unix.MNT_DETACH) })

	err := newCopier().copy(context.Background(), filepath.Join(t.TempDir(), "layer"), src)
	if !errors.Is(err, unix.EXDEV) {
		t.Fatalf("copy across a mount: %v, want EXDEV", err)
	}
}
