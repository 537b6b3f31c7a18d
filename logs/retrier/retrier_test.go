package retrier

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// downStore refuses every upload, as S3 does while it is down, and counts.
type downStore struct{ puts atomic.Int32 }

func (d *downStore) Put(context.Context, string, io.Reader, map[string]string, string) error {
	d.puts.Add(1)
	return errors.New("connection refused")
}
func (d *downStore) Get(context.Context, string) ([]byte, map[string]string, error) {
	return nil, nil, store.ErrNotFound
}
func (d *downStore) List(context.Context, string, string, func([]string, bool) bool) error {
	return nil
}
func (d *downStore) String() string { return "s3://down" }

const entries = 5

func pendingSpool(t *testing.T) (config.Logs, *ship.Shipper, *downStore) {
	t.Helper()
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(t.TempDir(), "spool")
	store := &downStore{}
	s, err := ship.New(context.Background(), cfg, ship.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	for range entries {
		e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Finish(spool.ExitInfo{}); err != nil {
			t.Fatal(err)
		}
		e.Release() // its shim gave up: S3 is down
	}
	return cfg, s, store
}

// While S3 is down, two daemons on one spool (a second brisk-logd started by
// mistake) make one attempt per entry per back-off period, not one each:
// the second waits for the lease.
func TestOneRetrierPerSpool(t *testing.T) {
	cfg, s, store := pendingSpool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = New(s, cfg.SpoolDir, WithBackoff(time.Hour, time.Hour), WithPoll(5*time.Millisecond), WithWorkers(4)).Serve(ctx)
		}()
	}
	wg.Wait()
	if n := store.puts.Load(); n != entries {
		t.Fatalf("%d uploads tried by two daemons within one back-off period; want %d, one per entry", n, entries)
	}
}

// The back-off of each entry is kept with it: a daemon started after
// another stopped tries no entry before its time.
func TestBackoffSurvivesARestart(t *testing.T) {
	cfg, s, store := pendingSpool(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() {
		served <- New(s, cfg.SpoolDir, WithBackoff(time.Hour, time.Hour), WithPoll(5*time.Millisecond)).Serve(ctx)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for store.puts.Load() < entries && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last schedule is written after its upload returned
	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_ = New(s, cfg.SpoolDir, WithBackoff(time.Hour, time.Hour), WithPoll(5*time.Millisecond)).Serve(ctx2)
	if n := store.puts.Load(); n != entries {
		t.Errorf("%d uploads; want the first daemon's %d: the second waits out each entry's back-off", n, entries)
	}
	for _, dir := range mustPending(t, cfg.SpoolDir) {
		if st := spool.ReadRetry(dir); st.Attempts != 1 || st.Next.Before(time.Now().Add(30*time.Minute)) {
			t.Errorf("%s: schedule %+v", dir, st)
		}
	}
}

func mustPending(t *testing.T, dir string) []string {
	t.Helper()
	dirs, err := spool.Pending(dir)
	if err != nil || len(dirs) != entries {
		t.Fatalf("pending %v %v", dirs, err)
	}
	return dirs
}

// Each entry's back-off doubles from min to max.
func TestBackoffDoubles(t *testing.T) {
	r := New(nil, "", WithBackoff(time.Second, 10*time.Second))
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, r.backoff.Delay(n))
	}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoffs %v", got)
		}
	}
}
