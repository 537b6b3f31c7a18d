package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

// dialSnapshotter is a client of brisk-snapshotter's gRPC socket, the one
// containerd's [proxy_plugins] uses.
func dialSnapshotter(t *testing.T, sn *harness.Snapshotter) snapshots.Snapshotter {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sn.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "brisk")
}

// budgetInUse reads the reservation the way an operator would: briskctl's
// usage API and the metrics, which must agree, with a clean audit.
func budgetInUse(t *testing.T, sn *harness.Snapshotter) int64 {
	t.Helper()
	r, err := usageapi.Fetch(context.Background(), sn.UsageSocket)
	if err != nil {
		t.Fatal(err)
	}
	body := httpGet(t, "http://"+sn.MetricsAddress+"/metrics")
	if v, ok := metricValue(body, "brisk_tmpfs_budget_audit_violations"); !ok || v != 0 {
		t.Errorf("budget audit reports violations:\n%s", grepLines(body, "brisk_tmpfs_budget"))
	}
	if v, ok := metricValue(body, "brisk_tmpfs_budget_used_bytes"); !ok || int64(v) != r.BudgetInUse {
		t.Errorf("usage API says %d bytes reserved, metrics say:\n%s", r.BudgetInUse, grepLines(body, "brisk_tmpfs_budget"))
	}
	return r.BudgetInUse
}

// metricValue reads an unlabelled series from a /metrics body.
func metricValue(body, name string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (s *stackless) tmpfsUppers() []string {
	var out []string
	for _, m := range harness.MountsUnder(s.sn.Root) {
		if m.FSType == "tmpfs" {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// stackless is a brisk-snapshotter alone, driven through its socket.
type stackless struct {
	env    *harness.Env
	sn     *harness.Snapshotter
	client snapshots.Snapshotter
}

func newStackless(t *testing.T) *stackless {
	env := harness.New(t)
	sn := env.StartSnapshotter("tmpfs_size = \"8Mi\"\ntmpfs_inodes = 1000\ntmpfs_budget = \"64Mi\"\n")
	return &stackless{env: env, sn: sn, client: dialSnapshotter(t, sn)}
}

// TestSnapshotterReadsRacingRemove scrapes /metrics and the usage API while
// a container snapshot is prepared and removed over and over through the
// gRPC socket. Before, a scrape racing a Remove mounted the removed
// snapshot's tmpfs again and booked its budget, until Prepare was refused.
func TestSnapshotterReadsRacingRemove(t *testing.T) {
	s := newStackless(t)
	ctx := context.Background()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	scrape := func(get func() error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = get()
		}
	}
	for range 4 {
		wg.Add(2)
		go scrape(func() error {
			_, err := usageapi.Fetch(ctx, s.sn.UsageSocket)
			return err
		})
		go scrape(func() error {
			resp, err := httpClient.Get("http://" + s.sn.MetricsAddress + "/metrics")
			if err == nil {
				resp.Body.Close()
			}
			return err
		})
	}
	for range 2 {
		wg.Add(2)
		go scrape(func() error {
			_, err := s.client.Usage(ctx, "c")
			return err
		})
		go scrape(func() error {
			_, err := s.client.Mounts(ctx, "c")
			return err
		})
	}

	var failed error
	for i := range 300 {
		if _, err := s.client.Prepare(ctx, "c", ""); err != nil {
			failed = err
			t.Errorf("prepare, iteration %d: %v", i, err)
			break
		}
		if err := s.client.Remove(ctx, "c"); err != nil {
			failed = err
			t.Errorf("remove, iteration %d: %v", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if failed != nil {
		t.Logf("snapshotter log:\n%s", s.sn.Proc.LogTail())
		return
	}
	if n := budgetInUse(t, s.sn); n != 0 {
		t.Errorf("%d bytes of budget reserved with no snapshot left", n)
	}
	if ms := s.tmpfsUppers(); len(ms) != 0 {
		t.Errorf("tmpfs left mounted with no snapshot: %v", ms)
	}
	if _, err := s.client.Prepare(ctx, "after", ""); err != nil {
		t.Errorf("prepare after the race: %v", err)
	}
	if err := s.client.Remove(ctx, "after"); err != nil {
		t.Errorf("remove after the race: %v", err)
	}
}

// TestSnapshotterRemoveOfMountedUpper: the budget follows the memory. A
// tmpfs upper still mounted (here bind mounted, as a snapshot without
// parents is) keeps its memory, so Remove is refused and keeps its booking.
func TestSnapshotterRemoveOfMountedUpper(t *testing.T) {
	s := newStackless(t)
	ctx := context.Background()
	ms, err := s.client.Prepare(ctx, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	target := s.env.Path("busy-rootfs")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mount.UnmountAll(target, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(target, "held"), make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	err = s.client.Remove(ctx, "busy")
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), target) {
		t.Fatalf("remove of a mounted upper: %v, want failed precondition naming %s", err, target)
	}
	if n := budgetInUse(t, s.sn); n != 8<<20 {
		t.Fatalf("%d bytes booked while the upper holds memory, want 8Mi", n)
	}
	if err := mount.UnmountAll(target, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Remove(ctx, "busy"); err != nil {
		t.Fatalf("remove once unmounted: %v", err)
	}
	if n := budgetInUse(t, s.sn); n != 0 {
		t.Fatalf("%d bytes booked after the remove", n)
	}
	if ms := s.tmpfsUppers(); len(ms) != 0 {
		t.Fatalf("tmpfs left: %v", ms)
	}
}

// TestSnapshotterRecoversFromCrashMidPrepare builds on disk what a crash
// inside Prepare's transaction leaves (a snapshot directory with a live
// tmpfs for an ID the metadata never committed) and what a crash before it
// leaves (temporary directories, one with its tmpfs mounted and its record
// written), restarts the daemon, and expects the very next Prepare, which is
// handed that ID, to work, and nothing else to be left.
func TestSnapshotterRecoversFromCrashMidPrepare(t *testing.T) {
	s := newStackless(t)
	ctx := context.Background()
	if _, err := s.client.Prepare(ctx, "base-extract", "", snapshots.WithLabels(map[string]string{"containerd.io/snapshot.ref": "sha256:1"})); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Commit(ctx, "base", "base-extract"); err != nil {
		t.Fatal(err)
	}
	if err := s.sn.Proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.sn.Proc.Wait(5 * time.Second)

	crashed := filepath.Join(s.sn.Root, "snapshots", "2")
	tmpfs := filepath.Join(crashed, "tmpfs")
	if err := os.MkdirAll(filepath.Join(s.sn.Root, "snapshots", "new-123", "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(tmpfs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("brisk", tmpfs, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"fs", "work"} {
		if err := os.Mkdir(filepath.Join(tmpfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmpfs, "fs", "stale"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, "upper.json"), []byte(`{"kind":"tmpfs","limits":{"bytes":8388608,"inodes":1000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	early := filepath.Join(s.sn.Root, "snapshots", "new-456")
	if err := os.MkdirAll(filepath.Join(early, "tmpfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("brisk", filepath.Join(early, "tmpfs"), "tmpfs", 0, "size=8m"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(early, "upper.json"), []byte(`{"kind":"tmpfs","limits":{"bytes":8388608,"inodes":1000}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	s.env.Restart(s.sn.Proc)
	s.env.WaitSnapshotter(s.sn)
	var ms []mount.Mount
	var err error
	// The gRPC client reconnects on its own back-off.
	harness.WaitFor(10*time.Second, func() bool {
		ms, err = s.client.Prepare(ctx, "c", "base")
		return !errdefs.IsUnavailable(err)
	})
	if err != nil {
		t.Fatalf("first prepare after the crash: %v\n%s", err, s.sn.Proc.LogTail())
	}
	target := s.env.Path("c-rootfs")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(ms, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target, unix.MNT_DETACH)
	if _, err := os.Stat(filepath.Join(target, "stale")); !os.IsNotExist(err) {
		t.Errorf("the new container sees the crashed prepare's upper: %v", err)
	}
	if n := budgetInUse(t, s.sn); n != 8<<20 {
		t.Errorf("%d bytes booked, want the one snapshot's 8Mi", n)
	}
	if ms := s.tmpfsUppers(); len(ms) != 1 {
		t.Errorf("tmpfs mounts %v, want the new snapshot's only", ms)
	}
	for _, d := range []string{"new-123", "new-456"} {
		if _, err := os.Stat(filepath.Join(s.sn.Root, "snapshots", d)); !os.IsNotExist(err) {
			t.Errorf("temporary directory %s of a crashed prepare left: %v", d, err)
		}
	}
}
