//go:build linux

package snapshotter

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// lease holds a write lease on a file in an upper, as a process in a
// container may: whoever opens the file (Commit's copy) blocks until the
// lease is let go, or until the kernel breaks it after lease-break-time
// (45 s by default) and lets it go on. That makes a copy block for as long as a test wants,
// without a hook in the code under test.
type lease struct {
	t      *testing.T
	fd     int
	broken chan os.Signal // SIGIO: someone opened the file
}

func holdLease(t *testing.T, path string) *lease {
	t.Helper()
	l := &lease{t: t, broken: make(chan os.Signal, 1)}
	signal.Notify(l.broken, unix.SIGIO)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	must(t, err)
	l.fd = fd
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		t.Fatalf("write lease on %s: %v", path, err)
	}
	t.Cleanup(l.release)
	return l
}

// waitOpened waits until something tries to open the file.
func (l *lease) waitOpened() { <-l.broken }

func (l *lease) release() {
	if l.fd < 0 {
		return
	}
	_, _ = unix.FcntlInt(uintptr(l.fd), unix.F_SETLEASE, unix.F_UNLCK)
	_ = unix.Close(l.fd)
	l.fd = -1
	signal.Stop(l.broken)
}

// blockedCommit starts a Commit of key whose copy blocks on a leased file in
// its upper, and returns once the copy is stuck there.
func (e *env) blockedCommit(name, key string) (*lease, <-chan error) {
	e.t.Helper()
	id, _, _, err := e.id(key)
	must(e.t, err)
	f := filepath.Join(e.sn.upperFS(id, e.sn.placement(id)), "leased")
	must(e.t, os.WriteFile(f, []byte("held open"), 0o644))
	l := holdLease(e.t, f)
	done := make(chan error, 1)
	go func() { done <- e.sn.Commit(e.ctx, name, key) }()
	l.waitOpened()
	return l, done
}

// TestCommitCopyHoldsNoOtherCall blocks a Commit's copy and asks for what
// containers on the node need meanwhile: another Prepare, its mounts, the
// removal of another snapshot, the budget audit. They must all get through
// while the copy is still stuck: on code that copies inside the transaction
// they return only after the kernel breaks the lease, 45 s on.
func TestCommitCopyHoldsNoOtherCall(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	_, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	_, err = e.sn.Prepare(e.ctx, "gone", base)
	must(t, err)

	l, done := e.blockedCommit("layer", "c")

	_, err = e.sn.Prepare(e.ctx, "other", base)
	must(t, err)
	_, err = e.sn.Mounts(e.ctx, "other")
	must(t, err)
	must(t, e.sn.Remove(e.ctx, "gone"))
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit during the copy: %+v %v", a, err)
	}
	// Had they waited for the copy, they would have got through only
	// once the kernel broke the lease and the commit was done.
	if info, err := e.sn.Stat(e.ctx, "c"); err != nil || info.Kind != snapshots.KindActive {
		t.Fatalf("Prepare, Mounts and Remove got through only after the Commit was done (snapshot c: %v %v): they waited behind its copy", info.Kind, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Commit returned while its copy was blocked: %v", err)
	default:
	}

	l.release()
	must(t, <-done)
	id, _, _, _ := e.id("layer")
	if data, err := os.ReadFile(filepath.Join(e.sn.persistentFS(id), "leased")); err != nil || string(data) != "held open" {
		t.Errorf("committed layer: %q %v", data, err)
	}
	if _, inUse := e.sn.Budget(); inUse != 8<<20 {
		t.Errorf("budget %d, want the other snapshot's 8Mi", inUse)
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit after the commit: %+v %v", a, err)
	}
}

// TestCommitRefusesRemoveDuringCopy: a snapshot whose upper is being copied
// cannot be removed or committed again; it stays whole, and the Commit
// succeeds.
func TestCommitRefusesRemoveDuringCopy(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	_, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)

	l, done := e.blockedCommit("layer", "c")

	if err := e.sn.Remove(e.ctx, "c"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("remove during the copy: %v, want failed precondition", err)
	}
	if err := e.sn.Commit(e.ctx, "again", "c"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("second commit during the copy: %v, want failed precondition", err)
	}
	l.release()
	must(t, <-done)
	if _, err := e.sn.Stat(e.ctx, "layer"); err != nil {
		t.Fatalf("commit after the refused remove: %v", err)
	}
	if _, err := e.sn.Stat(e.ctx, "again"); !errdefs.IsNotFound(err) {
		t.Errorf("refused commit left a snapshot: %v", err)
	}
	if _, inUse := e.sn.Budget(); inUse != 0 {
		t.Errorf("budget %d after the commit", inUse)
	}
	// And removable once committed.
	must(t, e.sn.Remove(e.ctx, "layer"))
}

// TestCrashMidCommitCopyRecoversAtStart leaves what a crash during Commit's
// copy leaves: the snapshot active in the metadata, its tmpfs upper live,
// and a partial copy in its layer directory. The restart keeps the snapshot
// active with an empty layer directory and its budget booked once, and a
// Commit then copies the upper afresh.
func TestCrashMidCommitCopyRecoversAtStart(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	_, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	id, _, _, _ := e.id("c")
	rec := e.sn.placement(id)
	must(t, os.WriteFile(filepath.Join(e.sn.upperFS(id, rec), "whole"), []byte("x"), 0o644))
	layer := e.sn.persistentFS(id)
	// The copy makes the layer directory: Prepare leaves none for a
	// tmpfs upper.
	must(t, os.MkdirAll(layer, 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "half-copied"), []byte("x"), 0o644))

	e.reopen()
	if entries, _ := os.ReadDir(layer); len(entries) != 0 {
		t.Errorf("partial layer kept across the restart: %v", names(entries))
	}
	if _, inUse := e.sn.Budget(); inUse != 8<<20 {
		t.Errorf("budget %d after the restart, want the live snapshot's 8Mi", inUse)
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit %+v %v", a, err)
	}
	must(t, e.sn.Commit(e.ctx, "layer", "c"))
	if _, err := os.Stat(filepath.Join(layer, "half-copied")); !os.IsNotExist(err) {
		t.Errorf("committed layer holds the crash's partial copy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(layer, "whole")); err != nil {
		t.Errorf("committed layer: %v", err)
	}
	if _, inUse := e.sn.Budget(); inUse != 0 {
		t.Errorf("budget %d after the commit", inUse)
	}
}
