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

	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// crashedPrepare leaves on disk what a crash inside Prepare's transaction
// leaves: the snapshot directory of an ID the metadata never committed, with
// a live tmpfs holding a file and its placement record, and the temporary
// directories of Prepares that had not got their ID yet: one of a layer
// (an fs directory), one of a container with its tmpfs mounted and its
// record written, as Prepare makes them before its transaction.
func (e *env) crashedPrepare(id string) (keep string) {
	e.t.Helper()
	dir := filepath.Join(e.root, "snapshots", id)
	must(e.t, os.MkdirAll(dir, 0o700))
	rec := upper.Record{Kind: upper.KindTmpfs, Limits: upper.Limits{Bytes: 8 << 20, Inodes: 1000}}
	must(e.t, upper.MountTmpfs(filepath.Join(dir, "tmpfs"), rec.Limits))
	must(e.t, upper.WriteRecord(dir, rec))
	keep = filepath.Join(dir, "tmpfs", "fs", "keep")
	must(e.t, os.WriteFile(keep, []byte("x"), 0o644))
	td, err := os.MkdirTemp(filepath.Join(e.root, "snapshots"), newDirPattern)
	must(e.t, err)
	must(e.t, os.Mkdir(filepath.Join(td, "fs"), 0o755))
	td, err = os.MkdirTemp(filepath.Join(e.root, "snapshots"), newDirPattern)
	must(e.t, err)
	must(e.t, upper.MountTmpfs(filepath.Join(td, upper.TmpfsName), rec.Limits))
	must(e.t, upper.WriteNewRecord(td, rec))
	must(e.t, os.WriteFile(filepath.Join(td, upper.TmpfsName, "fs", "half-made"), []byte("x"), 0o644))
	return keep
}

func TestCrashMidPrepareRecoversAtStart(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base") // ID 1: the next Prepare is handed ID 2
	must(t, e.sn.Close())
	e.sn = nil
	e.crashedPrepare("2")

	e.open()
	ms, err := e.sn.Prepare(e.ctx, "c", base)
	if err != nil {
		t.Fatalf("first prepare after the crash: %v", err)
	}
	target := e.mountTarget("c", ms)
	must(t, os.WriteFile(filepath.Join(target, "new"), nil, 0o644))
	if _, err := os.Stat(filepath.Join(target, "keep")); !os.IsNotExist(err) {
		t.Errorf("the new container sees the crashed prepare's file: %v", err)
	}
	if _, inUse := e.sn.Budget(); inUse != 8<<20 {
		t.Errorf("budget %d, want one snapshot's 8Mi", inUse)
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit %+v %v", a, err)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "snapshots"))
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), "new-") {
			t.Errorf("temporary directory of the crashed prepare left: %s", d.Name())
		}
	}
	var tmpfs int
	for _, m := range mountsUnder(t, e.root) {
		if m.FSType == "tmpfs" {
			tmpfs++
		}
	}
	if tmpfs != 1 {
		t.Errorf("%d tmpfs mounted, want the new snapshot's only", tmpfs)
	}
}

func TestFailedPrepareRemovesOnlyWhatItMade(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	// Something already occupies the directory of the next ID: Prepare
	// must fail without touching it.
	keep := e.crashedPrepare("2")
	before, _ := os.ReadDir(filepath.Join(e.root, "snapshots"))
	if _, err := e.sn.Prepare(e.ctx, "c", base); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("prepare over an occupied snapshot directory: %v, want failed precondition", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("failed prepare removed what it did not make: %v", err)
	}
	if m, _ := upper.Mounted(filepath.Dir(filepath.Dir(keep))); !m {
		t.Error("failed prepare unmounted a tmpfs it did not mount")
	}
	after, _ := os.ReadDir(filepath.Join(e.root, "snapshots"))
	if len(after) != len(before) {
		t.Errorf("snapshot directories %v -> %v", names(before), names(after))
	}
	if _, inUse := e.sn.Budget(); inUse != 0 {
		t.Errorf("budget %d after a failed prepare", inUse)
	}
}

func names(ds []os.DirEntry) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name())
	}
	return out
}

func TestBudgetFollowsMemory(t *testing.T) {
	t.Run("remove of a mounted upper is refused", func(t *testing.T) {
		e := newEnv(t)
		base := e.baseLayer("base")
		ms, err := e.sn.Prepare(e.ctx, "c", base)
		must(t, err)
		target := e.mountTarget("c", ms)
		must(t, os.WriteFile(filepath.Join(target, "held"), make([]byte, 4<<20), 0o644))

		err = e.sn.Remove(e.ctx, "c")
		if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), target) {
			t.Fatalf("remove under a mounted overlay: %v, want failed precondition naming %s", err, target)
		}
		if _, err := e.sn.Stat(e.ctx, "c"); err != nil {
			t.Fatalf("refused remove lost the snapshot: %v", err)
		}
		if _, inUse := e.sn.Budget(); inUse != 8<<20 {
			t.Fatalf("budget %d while the upper holds memory, want 8Mi", inUse)
		}
		if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
			t.Fatalf("budget audit %+v %v", a, err)
		}

		must(t, mount.UnmountAll(target, 0))
		must(t, e.sn.Remove(e.ctx, "c"))
		if _, inUse := e.sn.Budget(); inUse != 0 {
			t.Fatalf("budget %d after the remove", inUse)
		}
		if ms := mountsUnder(t, e.root); len(ms) != 0 {
			t.Fatalf("mount left: %s", ms[0].Mountpoint)
		}
	})
	t.Run("commit of a mounted upper keeps it booked until it is free", func(t *testing.T) {
		e := newEnv(t)
		base := e.baseLayer("base")
		ms, err := e.sn.Prepare(e.ctx, "c", base)
		must(t, err)
		id, _, _, _ := e.id("c")
		target := e.mountTarget("c", ms)
		must(t, os.WriteFile(filepath.Join(target, "f"), []byte("data"), 0o644))

		must(t, e.sn.Commit(e.ctx, "layer", "c"))
		if tmpfsMount(t, e.sn.tmpfsDir(id)) == nil {
			t.Fatal("tmpfs unmounted under a mounted overlay: its memory is out of the budget's sight")
		}
		if _, inUse := e.sn.Budget(); inUse != 8<<20 {
			t.Fatalf("budget %d while the committed upper is still in use, want 8Mi", inUse)
		}
		if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
			t.Fatalf("budget audit %+v %v", a, err)
		}
		// Still booked across a restart.
		e.reopen()
		if _, inUse := e.sn.Budget(); inUse != 8<<20 {
			t.Fatalf("budget %d after restart, want 8Mi", inUse)
		}

		must(t, mount.UnmountAll(target, 0))
		must(t, e.sn.Cleanup(e.ctx))
		if tmpfsMount(t, e.sn.tmpfsDir(id)) != nil {
			t.Fatal("tmpfs still mounted after Cleanup")
		}
		if _, inUse := e.sn.Budget(); inUse != 0 {
			t.Fatalf("budget %d after Cleanup", inUse)
		}
		if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
			t.Fatalf("budget audit %+v %v", a, err)
		}
	})
}

func TestRemoveOfBindMountedUpperIsRefused(t *testing.T) {
	// A snapshot without parents is its upper, bind mounted: the bind
	// mount holds the tmpfs as an overlay would.
	e := newEnv(t)
	ms, err := e.sn.Prepare(e.ctx, "c", "")
	must(t, err)
	target := e.mountTarget("c", ms)
	if err := e.sn.Remove(e.ctx, "c"); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), target) {
		t.Fatalf("remove under a bind mount: %v, want failed precondition naming %s", err, target)
	}
	if _, inUse := e.sn.Budget(); inUse != 8<<20 {
		t.Fatalf("budget %d while the upper is bind mounted, want 8Mi", inUse)
	}
	must(t, mount.UnmountAll(target, 0))
	must(t, e.sn.Remove(e.ctx, "c"))
	if _, inUse := e.sn.Budget(); inUse != 0 {
		t.Fatalf("budget %d after the remove", inUse)
	}
}
