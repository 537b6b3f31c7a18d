package integration

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// TestSnapshotterCommitCopyHoldsNoOtherCall blocks brisk-snapshotter's copy
// of an upper in Commit with a write lease this test holds on a file in the
// upper, as a process in a container may, and asks the daemon, through its
// gRPC socket, for another snapshot meanwhile. Before, every call waited
// until the kernel broke the lease (45 s, lease-break-time) and the commit
// was done; now they get through while the copy is still stuck.
func TestSnapshotterCommitCopyHoldsNoOtherCall(t *testing.T) {
	s := newStackless(t)
	ctx := context.Background()

	// Without a parent the snapshot is its upper, bind mounted: the
	// mount's source is the upper on its tmpfs.
	ms, err := s.client.Prepare(ctx, "c", "")
	if err != nil {
		t.Fatal(err)
	}
	leased := filepath.Join(ms[0].Source, "leased")
	if err := os.WriteFile(leased, []byte("held open"), 0o644); err != nil {
		t.Fatal(err)
	}
	opened := make(chan os.Signal, 1)
	signal.Notify(opened, unix.SIGIO)
	defer signal.Stop(opened)
	fd, err := unix.Open(leased, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	release := func() {
		if fd >= 0 {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
			unix.Close(fd)
			fd = -1
		}
	}
	defer release()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		t.Fatalf("write lease on %s: %v", leased, err)
	}

	done := make(chan error, 1)
	go func() { done <- s.client.Commit(ctx, "layer", "c") }()
	<-opened // the daemon's copy is stuck opening the file

	if _, err := s.client.Prepare(ctx, "other", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Remove(ctx, "c"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("remove of the committing snapshot: %v, want failed precondition", err)
	}
	if info, err := s.client.Stat(ctx, "c"); err != nil || info.Kind != snapshots.KindActive {
		t.Fatalf("Prepare got through only after the Commit was done (snapshot c: %v %v): it waited behind the copy", info.Kind, err)
	}

	release()
	if err := <-done; err != nil {
		t.Fatalf("commit: %v", err)
	}
	if info, err := s.client.Stat(ctx, "layer"); err != nil || info.Kind != snapshots.KindCommitted {
		t.Fatalf("committed layer: %v %v", info.Kind, err)
	}
	if got := budgetInUse(t, s.sn); got != 8<<20 {
		t.Errorf("budget %d after the commit, want the other snapshot's 8Mi", got)
	}
}
