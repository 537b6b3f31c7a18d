package retrier

import (
	"context"
	"io"
	"path/filepath"
	"strings"

	"github.com/brisk-containers/brisk/logs/store"

	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"

	"github.com/brisk-containers/brisk/logs/ship"
)

// gateStore holds every upload until want of them are in flight at once,
// then lets all go: it shows the uploads overlap.
type gateStore struct {
	want          int32
	inFlight, max atomic.Int32
	open          chan struct{}
	puts          atomic.Int32
}

func (g *gateStore) Put(ctx context.Context, _ string, body io.Reader, _ map[string]string, _ string) error {
	_, _ = io.Copy(io.Discard, body)
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	if n >= g.want {
		select {
		case <-g.open:
		default:
			close(g.open)
		}
	}
	select {
	case <-g.open:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
	g.puts.Add(1)
	return nil
}
func (g *gateStore) Get(context.Context, string) ([]byte, map[string]string, error) {
	return nil, nil, store.ErrNotFound
}
func (g *gateStore) List(context.Context, string, string, func([]string, bool) bool) error {
	return nil
}
func (g *gateStore) String() string { return "s3://gate" }

// A burst of hand-offs ships in parallel, up to the workers, and at once:
// not at the next poll.
func TestKickShipsABurstInParallel(t *testing.T) {
	cfg, _, _ := pendingSpool(t)
	store := &gateStore{want: entries, open: make(chan struct{})}
	s, err := ship.New(context.Background(), cfg, ship.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	var observed atomic.Int32
	r := New(s, cfg.SpoolDir, WithPoll(time.Hour), WithWorkers(entries), WithObserver(func(o Outcome) {
		if o.Status == ship.Shipped {
			observed.Add(1)
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = r.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }() // its workers are done with the spool
	// Serve's first pass ships what is pending; then it sleeps an hour.
	deadline := time.Now().Add(30 * time.Second)
	// An entry is observed once its upload returned and it left the spool.
	for observed.Load() < entries && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if store.max.Load() != entries {
		t.Errorf("at most %d uploads at once; want %d (one worker per entry)", store.max.Load(), entries)
	}
	if observed.Load() != entries {
		t.Errorf("observer saw %d shipped; want %d", observed.Load(), entries)
	}
	// A hand-off now: a pass before the hour's poll.
	newDoneEntry(t, cfg.SpoolDir)
	r.Kick()
	deadline = time.Now().Add(30 * time.Second)
	for store.puts.Load() < entries+1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if store.puts.Load() != entries+1 {
		t.Errorf("after a kick: %d uploads; want %d: the hand-off waited for the poll", store.puts.Load(), entries+1)
	}
}

// newDoneEntry is a finished entry its shim let go of.
func newDoneEntry(t *testing.T, spoolDir string) {
	t.Helper()
	e, err := spool.Open(spoolDir, spool.Meta{Namespace: "ns", ID: "handed-over"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(spool.ExitInfo{}); err != nil {
		t.Fatal(err)
	}
	e.Release()
}

// Handoff takes only the entries of its own spool: a path above, below or
// beside one (a hand-off that is not a shim's) makes a look instead.
func TestHandoffTakesOnlyEntriesOfItsSpool(t *testing.T) {
	r := New(nil, "/run/brisk/spool")
	for _, tc := range []struct {
		dir  string
		want bool
	}{
		{"/run/brisk/spool/default/t@20261207T000000.000000Z-abcd1234", true},
		{"/run/brisk/spool/default", false},
		{"/run/brisk/spool", false},
		{"/run/brisk/spool/default/t@x/log", false},
		{"/run/brisk/spool/../../etc/default/x", false},
		{"/run/brisk/spool/default/../other/x", false},
		{"/run/brisk/spool/.quarantine/default", false},
		{"/run/brisk/spool/default/.hidden", false},
		{"/etc/passwd", false},
		{"relative/default/x", false},
		{"", false},
	} {
		if got := spool.IsEntryOf(r.spoolDir, tc.dir); got != tc.want {
			t.Errorf("IsEntryOf(%q) = %v, want %v", tc.dir, got, tc.want)
		}
	}
}

// slowStore holds the uploads of keys holding "slow" until released.
type slowStore struct {
	release chan struct{}
	puts    chan string
}

func (s *slowStore) Put(ctx context.Context, key string, body io.Reader, _ map[string]string, _ string) error {
	_, _ = io.Copy(io.Discard, body)
	if strings.Contains(key, "slow") {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.puts <- key
	return nil
}
func (s *slowStore) Get(context.Context, string) ([]byte, map[string]string, error) {
	return nil, nil, store.ErrNotFound
}
func (s *slowStore) List(context.Context, string, string, func([]string, bool) bool) error {
	return nil
}
func (s *slowStore) String() string { return "s3://slow" }

// A handed-over entry ships while another upload hangs: it waits for a
// free worker, not for a look over the spool to end.
func TestHandoffDoesNotWaitForASlowUpload(t *testing.T) {
	spoolDir := filepath.Join(t.TempDir(), "spool")
	store := &slowStore{release: make(chan struct{}), puts: make(chan string, 10)}
	defer close(store.release)
	cfg := config.DefaultLogs()
	cfg.SpoolDir = spoolDir
	s, err := ship.New(context.Background(), cfg, ship.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	doneEntry(t, spoolDir, "slow")
	r := New(s, spoolDir, WithPoll(time.Hour), WithWorkers(2))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = r.Serve(ctx); close(served) }()
	// Serve returns once its workers are done with the spool, before the
	// test's directory goes.
	defer func() { cancel(); <-served }()
	time.Sleep(100 * time.Millisecond) // the first look hands the slow one to a worker
	fast := doneEntry(t, spoolDir, "fast")
	r.Handoff(fast)
	select {
	case key := <-store.puts:
		if !strings.Contains(key, "fast") {
			t.Fatalf("stored %s first", key)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the handed-over entry did not ship while another upload hung")
	}
}

// doneEntry is a finished entry of ID id its shim let go of; its dir.
func doneEntry(t *testing.T, spoolDir, id string) string {
	t.Helper()
	e, err := spool.Open(spoolDir, spool.Meta{Namespace: "ns", ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(spool.ExitInfo{}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	return e.Dir()
}
