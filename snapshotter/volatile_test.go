//go:build linux

package snapshotter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// A container on a volatile "dir" upper is stopped and started again: each
// start mounts the overlay anew from Mounts, which overlayfs refuses while
// the marker of the last volatile mount is there. After a reboot (another
// boot's stamp) the marker must stay and Mounts must say why.
func TestVolatileUpperMountsAgain(t *testing.T) {
	dir := t.TempDir()
	upperDir := filepath.Join(dir, "upper")
	mountUpperDir(t, upperDir)
	t.Cleanup(func() { _ = unix.Unmount(upperDir, unix.MNT_DETACH) })
	e := newEnv(t, WithBackend(upper.KindDir), WithUpperDir(upperDir), WithVolatile())
	base := e.baseLayer("base")
	_, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	id, _, _, _ := e.id("c")
	marker := filepath.Join(upperDir, id, "work", "work", "incompat", "volatile")

	start := func(n int) string {
		t.Helper()
		ms, err := e.sn.Mounts(e.ctx, "c")
		if err != nil {
			t.Fatalf("start %d: Mounts: %v", n, err)
		}
		if _, ok := optionOf(ms, "volatile"); !ok {
			t.Fatalf("start %d: no volatile in %v", n, ms[0].Options)
		}
		target := filepath.Join(e.dir, "rootfs")
		must(t, os.MkdirAll(target, 0o755))
		if err := mount.All(ms, target); err != nil {
			t.Fatalf("start %d: mount the rootfs again: %v", n, err)
		}
		t.Cleanup(func() { _ = mount.UnmountAll(target, unix.MNT_DETACH) })
		return target
	}
	root := start(1)
	must(t, os.WriteFile(filepath.Join(root, "kept"), []byte("data"), 0o644))
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no volatile marker at %s while mounted volatile: %v", marker, err)
	}
	// Mounts while the overlay is up leaves the mount's marker alone.
	_, err = e.sn.Mounts(e.ctx, "c")
	must(t, err)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("Mounts removed the marker of a mounted overlay: %v", err)
	}
	must(t, mount.UnmountAll(root, 0))

	for n := 2; n <= 3; n++ {
		root = start(n)
		if data, err := os.ReadFile(filepath.Join(root, "kept")); err != nil || string(data) != "data" {
			t.Fatalf("start %d: the container's file: %q %v", n, data, err)
		}
		must(t, mount.UnmountAll(root, 0))
	}

	// As after a reboot: the last volatile mount was in another boot.
	must(t, os.WriteFile(filepath.Join(e.sn.snapshotDir(id), volatileBootName), []byte("another-boot"), 0o600))
	_, err = e.sn.Mounts(e.ctx, "c")
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "before the node last booted") {
		t.Fatalf("Mounts of a volatile upper from another boot: %v, want failed precondition saying why", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the marker of another boot's mount is gone: %v", err)
	}
	must(t, e.sn.Remove(e.ctx, "c"))
}
