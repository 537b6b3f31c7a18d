package index

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// clock is a test clock, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// putBatch stores a batch of node's holding ids, sealed at t.
func putBatch(t *testing.T, f *storetest.Fake, node string, at time.Time, ids ...string) string {
	t.Helper()
	var b batch.Builder
	var hs []string
	for _, id := range ids {
		m := spool.Meta{Namespace: "ns", ID: id, Run: spool.NewRun(at, "abcdefgh"), Node: node, State: spool.StateDone, Complete: true}
		member, err := batch.Compress(m, stringsReader("log of "+id+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		b.Add(m, member)
		hs = append(hs, batch.IDHash("ns", id))
	}
	body, _, err := b.Seal(node, at)
	if err != nil {
		t.Fatal(err)
	}
	key := batch.BatchKey("", node, at, hs)
	f.Put(key, body)
	return key
}

func found(t *testing.T, st store.Conditional, id string, now time.Time) []Hit {
	t.Helper()
	hits, stats, err := Find(context.Background(), st, "", "ns", id, now)
	if err != nil {
		t.Fatalf("Find(%q): %v", id, err)
	}
	if stats.RoundTrips > 2 {
		t.Errorf("Find(%q) took %d round trips before reading the log, want at most 2", id, stats.RoundTrips)
	}
	return hits
}

// Every ID a batch holds is found by the ID alone: within a cycle of its
// batch, and still a day later once its minute was rolled up into ten
// minutes, then an hour; batches sealed up to a skew behind the
// compactor's clock are not missed.
func TestCompactorIndexesAndRollsUp(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	clk := &clock{t: time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)}
	c := NewCompactor(st, "", "node-a", WithClock(clk.now))
	ctx := context.Background()
	putBatch(t, f, "node-a", clk.now(), "a", "b")
	putBatch(t, f, "node-b", clk.now().Add(-5*time.Second), "c") // a node 5 s behind
	if r := c.Once(ctx); r.Err != nil || !r.Leader || r.Batches != 2 {
		t.Fatalf("first cycle: %+v", r)
	}
	for _, id := range []string{"a", "b", "c"} {
		if hits := found(t, st, id, clk.now()); len(hits) != 1 || hits[0].Entry.Meta.ID != id {
			t.Fatalf("Find(%q) = %+v", id, hits)
		}
	}
	if hits := found(t, st, "nope", clk.now()); len(hits) != 0 {
		t.Fatalf("Find(nope) = %+v", hits)
	}
	// The same ID run again, later, on another node: two runs.
	clk.add(30 * time.Second)
	putBatch(t, f, "node-b", clk.now(), "a")
	if r := c.Once(ctx); r.Err != nil || r.Batches != 1 {
		t.Fatalf("second cycle: %+v", r)
	}
	if hits := found(t, st, "a", clk.now()); len(hits) != 2 {
		t.Fatalf("Find(a) after a second run: %d runs, want 2", len(hits))
	}
	// A day passes, one cycle every ten seconds... in steps of a minute,
	// which the roll-ups do not mind.
	for range 24 * 60 {
		clk.add(time.Minute)
		if r := c.Once(ctx); r.Err != nil {
			t.Fatalf("cycle at %s: %v", clk.now(), r.Err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if hits := found(t, st, id, clk.now()); len(hits) == 0 {
			t.Fatalf("Find(%q) a day later: not found", id)
		}
	}
	n := 0
	for _, k := range f.Keys() {
		if len(k) > 9 && k[:9] == "index/1h/" {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no hour objects written: %v", f.Keys())
	}
}

// Two compactors racing for one bucket: one holds the lease at a time,
// each epoch is another's, a stale one's write is refused, and every
// batch ends up in the index.
func TestTwoCompactorsRace(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	clk := &clock{t: time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)}
	a := NewCompactor(st, "", "node-a", WithClock(clk.now), WithLeaseTTL(30*time.Second), WithSkew(5*time.Second))
	b := NewCompactor(st, "", "node-b", WithClock(clk.now), WithLeaseTTL(30*time.Second), WithSkew(5*time.Second))
	ctx := context.Background()
	var ids []string
	epochs := map[int64]string{}
	for i := range 60 {
		id := fmt.Sprintf("t%d", i)
		ids = append(ids, id)
		putBatch(t, f, "n", clk.now(), id)
		ra, rb := a.Once(ctx), b.Once(ctx)
		if ra.Leader && rb.Leader && ra.Err == nil && rb.Err == nil {
			t.Fatalf("both lead at cycle %d: epochs %d and %d", i, ra.Epoch, rb.Epoch)
		}
		for _, r := range []struct {
			c   Cycle
			who string
		}{{ra, "a"}, {rb, "b"}} {
			if r.c.Leader && r.c.Err == nil {
				if w, ok := epochs[r.c.Epoch]; ok && w != r.who {
					t.Fatalf("epoch %d held by %s and %s", r.c.Epoch, w, r.who)
				}
				epochs[r.c.Epoch] = r.who
			}
		}
		// Every 15 cycles the leader stalls past its lease (a long GC
		// pause, a partition): the other takes over.
		if i%15 == 14 {
			clk.add(50 * time.Second)
		} else {
			clk.add(5 * time.Second)
		}
	}
	if len(epochs) < 3 {
		t.Errorf("epochs seen: %v; want takeovers", epochs)
	}
	// One more cycle each, so that whoever leads indexes the last batch.
	a.Once(ctx)
	b.Once(ctx)
	for _, id := range ids {
		if hits := found(t, st, id, clk.now()); len(hits) != 1 {
			t.Errorf("Find(%q): %d runs, want 1", id, len(hits))
		}
	}
	// A stale compactor's write is refused: a, made to believe it still
	// leads at an old epoch, tries to write over a later epoch's object.
	putBatch(t, f, "n", clk.now(), "last")
	a.Once(ctx)
	b.Once(ctx)
	stale := NewCompactor(st, "", "node-a", WithClock(clk.now))
	stale.lease = &lease{body: leaseBody{Holder: "node-a", Epoch: 1, Expires: clk.now().Add(time.Hour)}, renewed: clk.now()}
	w, err := (&Compactor{st: st, lease: stale.lease}).read(ctx, tiers[0], tiers[0].start(clk.now()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.etag == "" {
		t.Fatal("no current minute object to contend for")
	}
	w.etag = `"stale"`
	w.obj.add("zzzzzzzzzz", "batch/x.batch")
	if err := stale.write(ctx, w); err == nil {
		t.Fatal("a stale epoch's write was taken")
	}
}

// A compactor dies and none runs for half an hour: the one that takes
// over indexes what was stored meanwhile, from where the dead one left
// off, and what the dead one indexed is not indexed twice.
func TestTakeoverCatchesUp(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	clk := &clock{t: time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)}
	ctx := context.Background()
	a := NewCompactor(st, "", "node-a", WithClock(clk.now))
	putBatch(t, f, "n", clk.now(), "before")
	if r := a.Once(ctx); r.Err != nil || r.Batches != 1 {
		t.Fatalf("a: %+v", r)
	}
	clk.add(20 * time.Second)
	if r := a.Once(ctx); r.Err != nil { // renews: the lease records what a indexed
		t.Fatalf("a: %+v", r)
	}
	// a dies; batches keep coming for half an hour.
	var during []string
	for i := range 30 {
		clk.add(time.Minute)
		id := fmt.Sprintf("during-%d", i)
		during = append(during, id)
		putBatch(t, f, "n", clk.now(), id)
	}
	b := NewCompactor(st, "", "node-b", WithClock(clk.now))
	if r := b.Once(ctx); r.Err != nil || !r.Leader || r.Batches != 30 {
		t.Fatalf("b's first cycle: %+v; want the 30 batches stored while no compactor ran", r)
	}
	for _, id := range append(during, "before") {
		if hits := found(t, st, id, clk.now()); len(hits) != 1 {
			t.Errorf("Find(%q): %d runs, want 1", id, len(hits))
		}
	}
	// "before" is in a's minute object only.
	n := 0
	for _, k := range f.Keys() {
		if !strings.HasPrefix(k, "index/1m/") {
			continue
		}
		o, _ := f.Object(k)
		obj, err := decodeObject("", o.Body)
		if err != nil {
			t.Fatal(err)
		}
		n += len(obj.lookup(batch.IDHash("ns", "before")))
	}
	if n != 1 {
		t.Errorf("the batch indexed before the takeover is in %d minute objects, want 1", n)
	}
}

// A period with many entries is written in the tier's dense form, which
// a roll-up into the next tier and a lookup both read.
func TestDensePeriods(t *testing.T) {
	saved := append([]tier(nil), tiers...)
	defer func() { tiers = saved }()
	tiers[1].denseOver, tiers[2].denseOver = 5, 5
	f := storetest.New(t)
	st := f.Store(f.Config())
	clk := &clock{t: time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)}
	c := NewCompactor(st, "", "node-a", WithClock(clk.now))
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("dense-%d", i))
	}
	putBatch(t, f, "node-a", clk.now(), ids...)
	for range 2 * 60 {
		if r := c.Once(ctx); r.Err != nil {
			t.Fatalf("cycle at %s: %v", clk.now(), r.Err)
		}
		clk.add(time.Minute)
	}
	var dense10m, dense1h int
	for _, k := range f.Keys() {
		switch {
		case strings.HasPrefix(k, "index/10m/") && strings.Contains(k, "/d0"):
			dense10m++
		case strings.HasPrefix(k, "index/1h/") && strings.Contains(k, "/d0"):
			dense1h++
		case strings.HasPrefix(k, "index/10m/") || strings.HasPrefix(k, "index/1h/"):
			t.Errorf("sparse object %s of a dense period", k)
		}
	}
	if dense10m == 0 || dense1h == 0 {
		t.Logf("keys: %v", f.Keys())
		t.Fatalf("dense objects: %d of 10m, %d of 1h; want both", dense10m, dense1h)
	}
	for _, id := range ids {
		if hits := found(t, st, id, clk.now()); len(hits) != 1 {
			t.Errorf("Find(%q) two hours on: %d runs, want 1", id, len(hits))
		}
	}
}

// A compactor that dies before its first renewal: the one after it still
// rolls up the period the first one began, so that what it indexed stays
// found by ID once the minute objects are no longer read.
func TestFirstHolderDiesBeforeRenewing(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	clk := &clock{t: time.Date(2026, 12, 7, 10, 9, 55, 0, time.UTC)}
	ctx := context.Background()
	putBatch(t, f, "n", clk.now(), "early")
	a := NewCompactor(st, "", "node-a", WithClock(clk.now))
	if r := a.Once(ctx); r.Err != nil || r.Batches != 1 {
		t.Fatalf("a: %+v", r)
	}
	// a dies at once; b takes over once a's lease lapsed.
	clk.add(65 * time.Second)
	b := NewCompactor(st, "", "node-b", WithClock(clk.now))
	for range 3 * 60 {
		if r := b.Once(ctx); r.Err != nil {
			t.Fatalf("b at %s: %v", clk.now(), r.Err)
		}
		clk.add(10 * time.Second)
	}
	if hits := found(t, st, "early", clk.now()); len(hits) != 1 {
		t.Fatalf("Find(early) 30 minutes on: %d runs, want 1 (period 10:00 never rolled up?)", len(hits))
	}
}
