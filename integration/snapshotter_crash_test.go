package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/integration/harness"
)

// TestSnapshotterKilledMidBurst kills the real brisk-snapshotter (SIGKILL)
// in the middle of a burst through its socket, once a third of the burst's
// calls have returned (and then 1 and 2 ms later, to land at other points of
// the calls in flight), and restarts it:
//   - prepares: sixty containers' snapshots prepared at once, every other
//     one removed as soon as it is ready. Prepares are caught building their
//     directory and tmpfs before their transaction, waiting for a shared
//     commit, or committing;
//   - removes: sixty snapshots removed at once, caught with their tmpfs
//     released and their transaction not yet committed.
//
// After the restart:
//   - every call that returned stands: a prepared snapshot is there and its
//     container can use it, a removed one stays gone;
//   - a call the kill interrupted is either wholly there or wholly gone, and
//     whatever is there works;
//   - nothing is left over: no temporary directory, no tmpfs but those of the
//     live snapshots, and the budget books exactly those.
func TestSnapshotterKilledMidBurst(t *testing.T) {
	for _, phase := range []string{"prepares", "removes"} {
		for _, delay := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/%v", phase, delay), func(t *testing.T) { killMidBurst(t, phase, delay) })
		}
	}
}

func killMidBurst(t *testing.T, phase string, delay time.Duration) {
	env := harness.New(t)
	sn := env.StartSnapshotter("tmpfs_size = \"8Mi\"\ntmpfs_inodes = 1000\ntmpfs_budget = \"1Gi\"\n")
	client := dialSnapshotter(t, sn)
	ctx := context.Background()
	if _, err := client.Prepare(ctx, "base-extract", "", snapshots.WithLabels(map[string]string{"containerd.io/snapshot.ref": "sha256:1"})); err != nil {
		t.Fatal(err)
	}
	if err := client.Commit(ctx, "base", "base-extract"); err != nil {
		t.Fatal(err)
	}
	const n = 60
	key := func(i int) string { return fmt.Sprint("c", i) }
	if phase == "removes" {
		for i := range n {
			if _, err := client.Prepare(ctx, key(i), "base"); err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		mu       sync.Mutex
		prepared = make([]bool, n)
		removed  = make([]bool, n)
		acked    int
		atKill   int
		killed   = make(chan struct{})
		killing  sync.Once
		wg       sync.WaitGroup
	)
	kill := func() {
		killing.Do(func() {
			time.Sleep(delay)
			mu.Lock()
			atKill = acked
			mu.Unlock()
			if err := sn.Proc.Signal(syscall.SIGKILL); err != nil {
				t.Error(err)
			}
			close(killed)
		})
	}
	// ack counts a returned call, and kills the daemon at the
	// third: the rest of the burst is in flight.
	ack := func(done []bool, i int) {
		mu.Lock()
		done[i] = true
		acked++
		third := acked == n/3
		mu.Unlock()
		if third {
			kill()
		}
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if phase == "prepares" {
				if _, err := client.Prepare(ctx, key(i), "base"); err != nil {
					return
				}
				ack(prepared, i)
				if i%2 == 1 {
					return
				}
			}
			if err := client.Remove(ctx, key(i)); err == nil {
				ack(removed, i)
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		kill()
		t.Errorf("fewer than %d calls of %d returned in 60s", n/3, n)
	}
	wg.Wait()
	_ = sn.Proc.Wait(5 * time.Second)

	env.Restart(sn.Proc)
	env.WaitSnapshotter(sn)
	// The gRPC client reconnects on its own back-off.
	harness.WaitFor(10*time.Second, func() bool {
		_, err := client.Stat(ctx, "base")
		return err == nil
	})

	var kept, stayedRemoved, there, gone, live int
	for i := range n {
		_, err := client.Stat(ctx, key(i))
		switch {
		case removed[i]:
			if !errdefs.IsNotFound(err) {
				t.Errorf("%s was removed before the kill, and is back: %v", key(i), err)
			}
			stayedRemoved++
			continue
		case prepared[i] && i%2 == 1:
			if err != nil {
				t.Errorf("%s was prepared before the kill, and is lost: %v", key(i), err)
				continue
			}
			kept++
		case errdefs.IsNotFound(err):
			gone++
			continue
		case err != nil:
			t.Errorf("stat %s: %v", key(i), err)
			continue
		default:
			there++
		}
		// Whatever is there works: its mounts are whole and
		// writable.
		ms, err := client.Mounts(ctx, key(i))
		if err != nil {
			t.Errorf("mounts of %s after the restart: %v", key(i), err)
			continue
		}
		target := env.Path("rootfs-" + key(i))
		if err := os.MkdirAll(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mount.All(ms, target); err != nil {
			t.Errorf("mount %s after the restart: %v", key(i), err)
			continue
		}
		if err := os.WriteFile(filepath.Join(target, "f"), []byte(key(i)), 0o644); err != nil {
			t.Errorf("write in %s after the restart: %v", key(i), err)
		}
		if err := mount.UnmountAll(target, unix.MNT_DETACH); err != nil {
			t.Error(err)
		}
		live++
	}
	t.Logf("killed once %d calls had returned (%d by the time it died): %d prepared and kept are there, %d removed stay removed; of the %d calls the kill interrupted, %d are there after the restart and %d gone",
		atKill, acked, kept, stayedRemoved, there+gone, there, gone)

	entries, err := os.ReadDir(filepath.Join(sn.Root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "new-") {
			t.Errorf("temporary directory left after the restart: %s", e.Name())
		}
	}
	s := &stackless{env: env, sn: sn, client: client}
	if ms := s.tmpfsUppers(); len(ms) != live {
		t.Errorf("%d tmpfs mounted after the restart, want the %d live snapshots': %v", len(ms), live, ms)
	}
	if got := budgetInUse(t, sn); got != int64(live)*8<<20 {
		t.Errorf("%d bytes booked after the restart, want %d live snapshots' 8Mi", got, live)
	}
	if _, err := client.Prepare(ctx, "after", "base"); err != nil {
		t.Errorf("prepare after the restart: %v\n%s", err, sn.Proc.LogTail())
	}
}
