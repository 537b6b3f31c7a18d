//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
)

// txid is the ID of the last committed metadata transaction: each commit
// adds one.
func (e *env) txid() int {
	e.t.Helper()
	_, t, err := e.sn.ms.TransactionContext(e.ctx, false)
	must(e.t, err)
	tx := t.(*bolt.Tx)
	defer tx.Rollback()
	return tx.ID()
}

// holdWrites holds the metadata's write transaction until release is
// called: every write waits behind it, as behind a slow commit. ctx carries
// the transaction, for the test to look at the store in it.
func (e *env) holdWrites() (release func(), ctx context.Context) {
	e.t.Helper()
	ctx, tx, err := e.sn.ms.TransactionContext(e.ctx, true)
	must(e.t, err)
	var once sync.Once
	release = func() { once.Do(func() { must(e.t, tx.Rollback()) }) }
	e.t.Cleanup(release)
	return release, ctx
}

// waitInBatch waits until n calls are in the metadata batch under way or
// queued for the next.
func (e *env) waitInBatch(n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.sn.batch.mu.Lock()
		got := len(e.sn.batch.pending) + e.sn.batch.running
		e.sn.batch.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d calls in metadata batches after 10s, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentPreparesShareCommits prepares many containers at once while
// a commit is under way: those that arrive meanwhile share the next commit,
// instead of queueing for one commit (two fdatasyncs) each, and every one
// of them works.
func TestConcurrentPreparesShareCommits(t *testing.T) {
	e := newEnv(t, WithTmpfsBudget(1<<30))
	base := e.baseLayer("base")
	before := e.txid()
	release, _ := e.holdWrites()

	const n = 20
	errs := make([]error, n)
	mounts := make([][]mount.Mount, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mounts[i], errs[i] = e.sn.Prepare(e.ctx, fmt.Sprint("c", i), base)
		}()
	}
	// The first leads a batch, blocked behind the held transaction; the
	// others queue for the next.
	e.waitInBatch(n)
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("prepare c%d: %v", i, err)
		}
	}
	if commits := e.txid() - before; commits > 2 {
		t.Errorf("%d prepares at once took %d commits, want at most 2 (the batch under way, then all who waited for it)", n, commits)
	}
	for i := range n {
		target := e.mountTarget(fmt.Sprint("c", i), mounts[i])
		must(t, os.WriteFile(filepath.Join(target, "f"), []byte("x"), 0o644))
		if _, err := os.Stat(filepath.Join(target, "lower-file")); err != nil {
			t.Errorf("c%d does not see its parent: %v", i, err)
		}
	}
	if _, inUse := e.sn.Budget(); inUse != n*8<<20 {
		t.Errorf("budget %d, want %d snapshots' 8Mi", inUse, n)
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit %+v %v", a, err)
	}
}

// TestFailedPrepareInABatchTakesOnlyItselfBack puts Prepares that fail
// before and after creating their metadata in one batch with good ones:
// each failure takes back exactly what it made, its metadata included, and
// the others commit.
func TestFailedPrepareInABatchTakesOnlyItselfBack(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base") // ID 1
	// The batch below hands out IDs in the order its calls queued: the
	// leader gets 2 on its own, then c1 3, c3 4, c4 5 (a duplicate key
	// fails before it gets one). 4's directory is taken by what a crash
	// left: c3 fails after its metadata is made.
	keep := e.crashedPrepare("4")
	leftovers := newDirs(t, e.root)
	release, _ := e.holdWrites()
	type call struct {
		key string
		err error
		ms  []mount.Mount
	}
	calls := []*call{{key: "leader"}, {key: "c1"}, {key: "c1"}, {key: "c3"}, {key: "c4"}}
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.ms, c.err = e.sn.Prepare(e.ctx, c.key, base)
		}()
		// One at a time, so that they queue in this order.
		e.waitInBatch(i + 1)
	}
	release()
	wg.Wait()

	for _, c := range []*call{calls[0], calls[1], calls[4]} {
		if c.err != nil {
			t.Errorf("prepare %s: %v", c.key, c.err)
		}
	}
	if !errdefs.IsAlreadyExists(calls[2].err) {
		t.Errorf("second prepare of c1: %v, want already exists", calls[2].err)
	}
	if !errors.Is(calls[3].err, errdefs.ErrFailedPrecondition) {
		t.Errorf("prepare c3 over an occupied directory: %v, want failed precondition", calls[3].err)
	}
	if _, err := e.sn.Stat(e.ctx, "c3"); !errdefs.IsNotFound(err) {
		t.Errorf("stat of the failed c3: %v, want not found: its metadata committed with the batch", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a failed prepare removed what it did not make: %v", err)
	}
	for _, c := range []*call{calls[0], calls[1], calls[4]} {
		target := e.mountTarget(c.key, c.ms)
		must(t, os.WriteFile(filepath.Join(target, "f"), []byte(c.key), 0o644))
	}
	if got := newDirs(t, e.root); !slices.Equal(got, leftovers) {
		t.Errorf("temporary directories %v, want the crash's %v only", got, leftovers)
	}
	// Three live snapshots; the crash's leftover books nothing until a
	// restart or Cleanup takes it in.
	if _, inUse := e.sn.Budget(); inUse != 3*8<<20 {
		t.Errorf("budget %d, want three snapshots' 8Mi", inUse)
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit %+v %v", a, err)
	}
}

// TestCleanupLeavesPreparesInFlight runs Cleanup's sweep while a Prepare has
// built its directory (and mounted its tmpfs) under a temporary name and
// waits for its transaction: that directory is no orphan, and the Prepare
// must work once its turn comes.
func TestCleanupLeavesPreparesInFlight(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	release, txCtx := e.holdWrites()
	var (
		ms  []mount.Mount
		err error
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ms, err = e.sn.Prepare(e.ctx, "c", base)
	}()
	// Its directory, tmpfs and record are made once it is in a batch,
	// which waits for the held transaction.
	e.waitInBatch(1)
	if got := newDirs(t, e.root); len(got) != 1 {
		t.Fatalf("temporary directories %v, want the prepare's", got)
	}
	orphans, oerr := e.sn.orphans(txCtx)
	must(t, oerr)
	e.sn.removeDirs(e.ctx, orphans)
	release()
	wg.Wait()
	if err != nil {
		t.Fatalf("prepare while Cleanup swept: %v (swept %v)", err, orphans)
	}
	target := e.mountTarget("c", ms)
	must(t, os.WriteFile(filepath.Join(target, "f"), []byte("x"), 0o644))
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit %+v %v", a, err)
	}
}

// TestNothingWrittenCommitsNothing: bbolt commits even an empty write
// transaction with two fdatasyncs. Cleanup, which containerd calls after
// every garbage collection, writes nothing when nothing is orphaned, and
// must not commit.
func TestNothingWrittenCommitsNothing(t *testing.T) {
	e := newEnv(t)
	e.baseLayer("base")
	before := e.txid()
	must(t, e.sn.Cleanup(e.ctx))
	if got := e.txid() - before; got != 0 {
		t.Errorf("Cleanup with nothing to clean committed %d transactions, want none", got)
	}
}

// newDirs lists the temporary snapshot directories under root.
func newDirs(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "snapshots"))
	must(t, err)
	var out []string
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), "new-") {
			out = append(out, d.Name())
		}
	}
	return out
}

// TestRemovedDirectoriesServeTheNextPrepares: a removed container's
// directory (with its tmpfs mount point) is kept as a spare and is the next
// container's, instead of one directory removed and one made on the root
// disk; the new container sees nothing of the old one. Cleanup leaves
// spares alone, a restart removes them, and there are never more than
// maxSpares.
func TestRemovedDirectoriesServeTheNextPrepares(t *testing.T) {
	e := newEnv(t, WithTmpfsBudget(1<<30))
	base := e.baseLayer("base")
	inode := func(path string) uint64 {
		t.Helper()
		fi, err := os.Stat(path)
		must(t, err)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	ms, err := e.sn.Prepare(e.ctx, "c1", base)
	must(t, err)
	id1, _, _, _ := e.id("c1")
	target := e.mountTarget("c1", ms)
	must(t, os.WriteFile(filepath.Join(target, "old"), []byte("x"), 0o644))
	must(t, mount.UnmountAll(target, 0))
	dir1 := inode(e.sn.snapshotDir(id1))
	must(t, e.sn.Remove(e.ctx, "c1"))
	if got := newDirs(t, e.root); len(got) != 1 {
		t.Fatalf("temporary directories after a remove %v, want one spare", got)
	}
	must(t, e.sn.Cleanup(e.ctx))
	if got := newDirs(t, e.root); len(got) != 1 {
		t.Fatalf("Cleanup removed the spare: %v", got)
	}

	ms, err = e.sn.Prepare(e.ctx, "c2", base)
	must(t, err)
	id2, _, _, _ := e.id("c2")
	if got := inode(e.sn.snapshotDir(id2)); got != dir1 {
		t.Errorf("c2's directory is inode %d, want c1's (%d) again", got, dir1)
	}
	if got := newDirs(t, e.root); len(got) != 0 {
		t.Errorf("temporary directories %v once the spare served", got)
	}
	target = e.mountTarget("c2", ms)
	if _, err := os.Stat(filepath.Join(target, "old")); !os.IsNotExist(err) {
		t.Errorf("c2 sees c1's file: %v", err)
	}
	must(t, os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644))
	must(t, mount.UnmountAll(target, 0))

	// A directory holding more than a spare does is not one.
	id2dir := e.sn.snapshotDir(id2)
	must(t, os.MkdirAll(filepath.Join(id2dir, "fs", "sub"), 0o755))
	must(t, e.sn.Remove(e.ctx, "c2"))
	if _, err := os.Stat(id2dir); !os.IsNotExist(err) {
		t.Errorf("directory of removed c2, which held a layer directory: %v", err)
	}
	if got := newDirs(t, e.root); len(got) != 0 {
		t.Errorf("spares %v from a directory that held more", got)
	}

	var keys []string
	for i := range maxSpares + 6 {
		key := fmt.Sprint("many", i)
		_, err := e.sn.Prepare(e.ctx, key, base)
		must(t, err)
		keys = append(keys, key)
	}
	for _, key := range keys {
		must(t, e.sn.Remove(e.ctx, key))
	}
	if got := newDirs(t, e.root); len(got) != maxSpares {
		t.Errorf("%d spares, want %d at most and as many as there were", len(got), maxSpares)
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit %+v %v", a, err)
	}
	e.reopen()
	if got := newDirs(t, e.root); len(got) != 0 {
		t.Errorf("spares %v after a restart", got)
	}
}
