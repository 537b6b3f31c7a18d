//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// propagationTree builds, in dir, the mounts of a node whose data disk has a
// propagation peer: A bound onto itself and made shared, B a bind of A, as
// `mount --bind A A; mount --make-shared A; mount --bind A B`. slaveB makes
// B a slave of A instead of a peer. Every mount below dir goes when the test
// ends.
func propagationTree(t *testing.T, dir string, slaveB bool) (a, b string) {
	t.Helper()
	a, b = filepath.Join(dir, "A"), filepath.Join(dir, "B")
	must(t, os.MkdirAll(a, 0o755))
	must(t, os.MkdirAll(b, 0o755))
	t.Cleanup(func() {
		for _, m := range mountsUnder(t, dir) {
			_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		}
	})
	must(t, unix.Mount(a, a, "", unix.MS_BIND, ""))
	must(t, unix.Mount("", a, "", unix.MS_SHARED, ""))
	must(t, unix.Mount(a, b, "", unix.MS_BIND, ""))
	if slaveB {
		must(t, unix.Mount("", b, "", unix.MS_SLAVE, ""))
	}
	return a, b
}

// TestPropagatedCopiesAreNotUsers puts the snapshotter's root under a mount
// with a propagation peer or slave, where each tmpfs upper is mounted a
// second time under the other path. Remove, Cleanup and a restart must treat
// that copy as what it is, part of the tmpfs, while real users (an overlay, a
// bind mount) still hold the upper.
func TestPropagatedCopiesAreNotUsers(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name     string
		slaveB   bool
		rootIn   string // "A" or "B"
		wantCopy bool   // a copy of each upper appears under the other path
	}{
		{name: "root under a shared mount with a peer", rootIn: "A", wantCopy: true},
		{name: "root under the peer", rootIn: "B", wantCopy: true},
		{name: "root under a shared mount with a slave", slaveB: true, rootIn: "A", wantCopy: true},
		{name: "root under a slave mount", slaveB: true, rootIn: "B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := propagationTree(t, filepath.Join(dir, "disk"), tc.slaveB)
			in, other := a, b
			if tc.rootIn == "B" {
				in, other = b, a
			}
			e := &env{t: t, ctx: namespaces.WithNamespace(context.Background(), "test"), dir: dir, root: filepath.Join(in, "root")}
			t.Cleanup(func() {
				if e.sn != nil {
					e.sn.Close()
				}
			})
			e.open()
			// The same upper as seen from the other path.
			mirror := func(p string) string { return filepath.Join(other, strings.TrimPrefix(p, in)) }
			noMountsLeft := func(when string) {
				t.Helper()
				for _, d := range []string{e.root, mirror(e.root)} {
					if ms := mountsUnder(t, d); len(ms) != 0 {
						t.Fatalf("%s: mount left at %s", when, ms[0].Mountpoint)
					}
				}
				if _, inUse := e.sn.Budget(); inUse != 0 {
					t.Fatalf("%s: budget %d in use, want 0", when, inUse)
				}
			}
			base := e.baseLayer("base")

			// A container's rootfs: an overlay on the tmpfs upper.
			ms, err := e.sn.Prepare(e.ctx, "c", base)
			must(t, err)
			id, _, _, _ := e.id("c")
			if got := tmpfsMount(t, mirror(e.sn.tmpfsDir(id))) != nil; got != tc.wantCopy {
				t.Fatalf("copy of the upper at %s: %v, want %v (the test's mount tree is not what it means to be)", mirror(e.sn.tmpfsDir(id)), got, tc.wantCopy)
			}
			target := e.mountTarget("c", ms)
			must(t, os.WriteFile(filepath.Join(target, "f"), []byte("data"), 0o644))
			if err := e.sn.Remove(e.ctx, "c"); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), target) {
				t.Fatalf("remove under a mounted overlay: %v, want failed precondition naming %s", err, target)
			}
			must(t, mount.UnmountAll(target, 0))
			must(t, e.sn.Remove(e.ctx, "c"))
			noMountsLeft("after the container's remove")

			// A snapshot without parents: its upper, bind mounted. The
			// bind mount joins the copies' peer group but is a user.
			ms, err = e.sn.Prepare(e.ctx, "bare", "")
			must(t, err)
			target = e.mountTarget("bare", ms)
			if err := e.sn.Remove(e.ctx, "bare"); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), target) {
				t.Fatalf("remove under a bind mount: %v, want failed precondition naming %s", err, target)
			}
			must(t, mount.UnmountAll(target, 0))
			must(t, e.sn.Remove(e.ctx, "bare"))
			noMountsLeft("after the bare snapshot's remove")

			// A commit while the overlay is up leaves the upper to
			// Cleanup, which must free it once the overlay is gone.
			ms, err = e.sn.Prepare(e.ctx, "d", base)
			must(t, err)
			id, _, _, _ = e.id("d")
			target = e.mountTarget("d", ms)
			must(t, os.WriteFile(filepath.Join(target, "f"), []byte("data"), 0o644))
			must(t, e.sn.Commit(e.ctx, "layer", "d"))
			must(t, mount.UnmountAll(target, 0))
			must(t, e.sn.Cleanup(e.ctx))
			noMountsLeft("after Cleanup")

			// Nothing comes back with a restart.
			e.reopen()
			noMountsLeft("after a restart")
			if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
				t.Fatalf("budget audit %+v %v", a, err)
			}
		})
	}
}
