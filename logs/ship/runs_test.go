package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// memStore is an in-memory store that counts uploads per key.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	puts map[string]int
	fail func(key string) error // nil: accept
}

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}, puts: map[string]int{}} }

func (m *memStore) Put(_ context.Context, key string, r io.Reader, _ map[string]string, _ string) error {
	if m.fail != nil {
		if err := m.fail(key); err != nil {
			return err
		}
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = body
	m.puts[key]++
	return nil
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w", key, store.ErrNotFound)
	}
	return b, nil, nil
}

func (m *memStore) List(_ context.Context, prefix, startAfter string, page func([]string, bool) bool) error {
	m.mu.Lock()
	var keys []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	sort.Strings(keys)
	page(keys, false)
	return nil
}

func (m *memStore) String() string { return "mem://" }

func stdoutOf(t *testing.T, body []byte) string {
	t.Helper()
	var out strings.Builder
	if err := spool.Decode(bytes.NewReader(body), func(r spool.Record) error {
		if r.Stream == spool.Stdout {
			out.Write(r.Bytes())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// Two runs of one ID are two objects; a retried upload of one run (the
// shim died after its PUT, before removing the entry) is still one.
func TestEveryRunKeptOnce(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	cfg := testLogs(t, config.CompressionNone)
	s := &Shipper{cfg: cfg, store: store}
	first := writeEntry(t, cfg.SpoolDir, "t1", false, "run 1\n", "")
	saved := t.TempDir()
	copyDir(t, first, saved)
	second := writeEntry(t, cfg.SpoolDir, "t1", false, "run 2\n", "")
	if first == second {
		t.Fatalf("two runs share the entry %s", first)
	}
	if res := s.ShipPending(ctx); res.Count(Shipped) != 2 {
		t.Fatalf("ShipPending = %+v", res)
	}
	// The crash: the first run's entry is back, as if never removed.
	copyDir(t, saved, first)
	if res := s.ShipPending(ctx); res.Count(Shipped) != 1 {
		t.Fatalf("ShipPending of the retried run = %+v", res)
	}
	runs, err := s.Runs(ctx, "ns", "t1")
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs = %+v, %v; want two", runs, err)
	}
	if len(store.objs) != 2 {
		t.Errorf("%d objects, want one per run: %v", len(store.objs), store.puts)
	}
	var got []string
	for _, r := range runs {
		body, _, err := store.Get(ctx, r.Key)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, stdoutOf(t, body))
	}
	sort.Strings(got) // both started in the same microsecond
	if got[0]+got[1] != "run 1\nrun 2\n" {
		t.Errorf("runs hold %q", got)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(from, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The shim dies at any step of appending the tail segments to the log at
// exit: the shipped log holds its head and every tail record once, in order.
func TestCrashWhileAppendingTailShipsItOnce(t *testing.T) {
	ctx := context.Background()
	cfg := testLogs(t, config.CompressionNone)
	e := chattyEntry(t, cfg.SpoolDir)
	segs := map[string][]byte{}
	for _, name := range spool.TailFiles {
		b, _ := os.ReadFile(filepath.Join(e.Dir(), name))
		// A segment reused in place holds an earlier round's records
		// past its end mark, a NUL after a newline or at its start.
		if len(b) > 0 && b[0] == 0 {
			b = nil
		} else if i := bytes.Index(b, []byte{'\n', 0}); i >= 0 {
			b = b[:i+1]
		}
		segs[name] = b
	}
	done, err := e.Finish(spool.ExitInfo{})
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	final, err := os.ReadFile(filepath.Join(e.Dir(), spool.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	// The segments as the log holds them, older first.
	older, newer := spool.TailFiles[0], spool.TailFiles[1]
	if bytes.Index(final, segs[older]) > bytes.Index(final, segs[newer]) {
		older, newer = newer, older
	}
	atOlder := int64(bytes.Index(final, segs[older]))
	afterOlder := atOlder + int64(len(segs[older]))
	if atOlder <= 0 || len(segs[newer]) == 0 {
		t.Fatalf("no two segments in the finished log")
	}
	for _, tc := range []struct {
		name     string
		log      int64    // bytes of the final log the crash left
		tailFrom int64    // meta.json as the crash left it
		copied   []string //
		emptied  []string // segments already freed
	}{
		{"before the first copy", atOlder, atOlder, nil, nil},
		{"in the middle of the first copy", atOlder + int64(len(segs[older]))/2, atOlder, nil, nil},
		{"after the first copy, before meta.json", afterOlder, atOlder, nil, nil},
		{"after meta.json, before freeing the segment", afterOlder, afterOlder, []string{older}, nil},
		{"in the middle of the second copy", afterOlder + int64(len(segs[newer]))/2, afterOlder, []string{older}, []string{older}},
		{"after the second copy, before meta.json", int64(len(final)), afterOlder, []string{older}, []string{older}},
		{"after the last meta.json, before done", int64(len(final)), int64(len(final)), []string{older, newer}, []string{older}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, cfg := newLocalShipper(t, config.CompressionNone)
			dir := spool.EntryDir(cfg.SpoolDir, "ns", "chatty", done.Run)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, spool.LogFile), final[:tc.log], 0o600); err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{older, newer} {
				data := segs[name]
				if slices.Contains(tc.emptied, name) {
					data = nil
				}
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				at := started.Add(time.Duration(i) * time.Second) // older first
				if err := os.Chtimes(path, at, at); err != nil {
					t.Fatal(err)
				}
			}
			m := done
			m.State, m.Complete, m.TailFrom, m.TailCopied = spool.StateLive, false, tc.tailFrom, tc.copied
			b, _ := json.Marshal(m)
			if err := os.WriteFile(filepath.Join(dir, spool.MetaFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
			if res := s.ShipPending(ctx); res.Count(Shipped) != 1 {
				t.Fatalf("ShipPending = %+v", res)
			}
			streams, _ := stored(t, s, "chatty")
			out := streams[spool.Stdout]
			if n := strings.Count(out, "line 1999\n"); n != 1 || !strings.HasPrefix(out, "line 0000\n") {
				t.Fatalf("shipped log holds the last line %d times (head kept: %v)", n, strings.HasPrefix(out, "line 0000\n"))
			}
			for i := 1; i < len(out)/10; i++ {
				if a, b := out[(i-1)*10:i*10], out[i*10:(i+1)*10]; a >= b {
					t.Fatalf("shipped log out of order or repeated: %q then %q", a, b)
				}
			}
		})
	}
}

// Entries that can never ship are set aside once, with their reason, and
// never retried; a store refusing for the moment is retried.
func TestPermanentFailuresQuarantine(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	cfg := testLogs(t, config.CompressionNone)
	s := &Shipper{cfg: cfg, store: store}
	corrupt := writeEntry(t, cfg.SpoolDir, "corrupt", false, "x\n", "")
	if err := os.WriteFile(filepath.Join(corrupt, spool.MetaFile), []byte(`{"namespace": "ns", "id": `), 0o600); err != nil {
		t.Fatal(err)
	}
	writeEntry(t, cfg.SpoolDir, "toolong", false, "x\n", "")
	writeEntry(t, cfg.SpoolDir, "later", false, "x\n", "")
	var attempts atomic.Int32
	store.fail = func(key string) error {
		attempts.Add(1)
		switch {
		case strings.Contains(key, "toolong"):
			return apiError("KeyTooLongError")
		case strings.Contains(key, "later"):
			return apiError("SlowDown")
		}
		return nil
	}
	for pass := range 3 {
		res := s.ShipPending(ctx)
		wantQ := 2
		if pass > 0 {
			wantQ = 0
		}
		if res.Count(Quarantined) != wantQ || res.Count(Failed) != 1 || len(res.Entries) != wantQ+1 {
			t.Fatalf("pass %d: %+v", pass, res)
		}
	}
	if n := attempts.Load(); n != 4 {
		t.Errorf("%d uploads tried; want 1 of the key the store refuses, 3 of the one it throttles", n)
	}
	q, err := spool.Quarantined(cfg.SpoolDir)
	if err != nil || len(q) != 2 {
		t.Fatalf("quarantined %+v %v", q, err)
	}
	reasons := q[0].Reason + "|" + q[1].Reason
	if !strings.Contains(reasons, "KeyTooLongError") || !strings.Contains(reasons, "meta.json") {
		t.Errorf("reasons %q", reasons)
	}
	st, err := spool.ReadStats(cfg.SpoolDir)
	if err != nil || st.Quarantined != 2 || st.Done != 1 {
		t.Errorf("stats %+v %v", st, err)
	}
}

type apiError string

func (a apiError) Error() string     { return "api error " + string(a) }
func (a apiError) ErrorCode() string { return string(a) }

func TestStoresReturnErrNotFound(t *testing.T) {
	l := &store.Local{Dir: t.TempDir()}
	for _, key := range []string{"ns/none@x.log", "ns/none@x.log/below"} {
		_, _, err := l.Get(context.Background(), key)
		if !errors.Is(err, store.ErrNotFound) || !errdefs.IsNotFound(err) {
			t.Errorf("store.Local.Get(%q) = %v; want store.ErrNotFound, of errdefs' not-found kind", key, err)
		}
	}
	if errors.Is(errors.New("x"), store.ErrNotFound) || errors.Is(fs.ErrNotExist, store.ErrNotFound) {
		t.Errorf("store.ErrNotFound matches too much")
	}
}

// Owners ship their own runs while retriers sweep the spool, some shims die
// mid-task, and many runs share an ID: at the end no directory is left, no
// one reported a failure, and every run's object holds exactly what it wrote.
func TestStressOwnersAndRetriers(t *testing.T) {
	const tasks, retriers, ids = 600, 4, 20
	ctx := context.Background()
	store := newMemStore()
	cfg := testLogs(t, config.CompressionNone)
	s := &Shipper{cfg: cfg, store: store}

	var falseErrors atomic.Int32
	var mu sync.Mutex
	want := map[string]string{} // run -> stdout
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for range retriers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, o := range s.ShipPending(ctx).Entries {
					if o.Status == Failed || o.Status == Quarantined {
						t.Errorf("retrier: %s %v: %v", o.Dir, o.Status, o.Err)
						falseErrors.Add(1)
					}
				}
				_ = spool.Sweep(cfg.SpoolDir)
			}
		}()
	}
	var owners sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range tasks {
		owners.Add(1)
		sem <- struct{}{}
		go func() {
			defer owners.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewSource(int64(i)))
			e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: fmt.Sprintf("job-%d", i%ids)}, spool.WithMaxBytes(1<<20))
			if err != nil {
				t.Error(err)
				falseErrors.Add(1)
				return
			}
			var out strings.Builder
			for j := range 1 + rng.Intn(20) {
				line := fmt.Sprintf("task %d line %d %s\n", i, j, strings.Repeat("x", rng.Intn(200)))
				out.WriteString(line)
				if err := e.Write(spool.Stdout, []byte(line)); err != nil {
					t.Error(err)
				}
			}
			mu.Lock()
			want[e.Meta().Run] = out.String()
			mu.Unlock()
			if i%7 == 0 { // the shim dies: the retriers ship the live entry
				e.Release()
				return
			}
			if _, err := e.Finish(spool.ExitInfo{}); err != nil {
				t.Error(err)
			}
			if err := s.Ship(ctx, e.Claim()); err != nil {
				t.Errorf("owner's ship: %v", err)
				falseErrors.Add(1)
			}
			e.Release()
		}()
	}
	owners.Wait()
	close(stop)
	rwg.Wait()
	// A last pass for the dead shims' entries the retriers had not reached.
	for _, o := range s.ShipPending(ctx).Entries {
		if o.Status != Shipped {
			t.Errorf("last pass: %+v", o)
		}
	}
	if err := spool.Sweep(cfg.SpoolDir); err != nil {
		t.Fatal(err)
	}

	leaked := 0
	_ = filepath.WalkDir(cfg.SpoolDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != cfg.SpoolDir && d.Name() != spool.EscapeName("ns") && !strings.HasPrefix(d.Name(), ".") {
			leaked++
		}
		return nil
	})
	if leaked != 0 {
		t.Errorf("%d names left in the spool", leaked)
	}
	if n := falseErrors.Load(); n != 0 {
		t.Errorf("%d false errors", n)
	}
	if len(store.objs) != tasks {
		t.Errorf("%d objects for %d runs", len(store.objs), tasks)
	}
	wrong := 0
	for id := range ids {
		runs, err := s.Runs(ctx, "ns", fmt.Sprintf("job-%d", id))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			body, _, err := store.Get(ctx, r.Key)
			if err != nil || stdoutOf(t, body) != want[r.Run] {
				wrong++
			}
		}
	}
	if wrong != 0 {
		t.Errorf("%d of %d objects differ from what their run wrote", wrong, tasks)
	}
	t.Logf("%d runs under %d IDs, %d retriers: %d objects, %d uploads", tasks, ids, retriers, len(store.objs), sumPuts(store))
}

func sumPuts(m *memStore) int {
	n := 0
	for _, p := range m.puts {
		n += p
	}
	return n
}

// An entry left by an earlier version (one directory per ID, a lock file
// inside) ships once its old shim is gone, always to the same key.
func TestLegacyEntryShips(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	cfg := testLogs(t, config.CompressionNone)
	s := &Shipper{cfg: cfg, store: store}
	dir := filepath.Join(cfg.SpoolDir, "ns", "old-task")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(spool.Meta{Namespace: "ns", ID: "old-task", State: spool.StateDone, Complete: true, Started: started})
	for name, data := range map[string][]byte{
		spool.MetaFile: m,
		spool.LogFile:  []byte("2026-11-26T06:00:00Z stdout F from before the upgrade\n"),
		"lock":         nil,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	saved := t.TempDir()
	copyDir(t, dir, saved)
	// Its old shim still runs and holds the lock file.
	lock, err := os.Open(filepath.Join(dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if res := s.ShipPending(ctx); len(res.Entries) != 1 || res.Entries[0].Status != Owned {
		t.Fatalf("ShipPending while the old shim lives = %+v", res)
	}
	lock.Close()
	for range 2 { // shipped, then as if the removal had not happened
		if res := s.ShipPending(ctx); res.Count(Shipped) != 1 {
			t.Fatalf("ShipPending = %+v", res)
		}
		copyDir(t, saved, dir)
	}
	if len(store.objs) != 1 {
		t.Fatalf("objects %v, want one", store.puts)
	}
	for k, body := range store.objs {
		if stdoutOf(t, body) != "from before the upgrade\n" || !strings.HasPrefix(k, "ns/old-task@20261126T060000.000000Z-") {
			t.Errorf("%s holds %q", k, body)
		}
	}
}
