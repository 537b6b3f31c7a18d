package index

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/containerd/log"
	"github.com/sirupsen/logrus"

	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// BenchmarkFindAtSeedScale indexes an hour of the seed's load (100 nodes,
// each storing a batch of 30 logs every 10 s: 36,000 batches, their keys
// carrying 1.08 M ID hashes) with the compactor on a test clock, rolled up
// into ten minutes and the hour, then looks an ID up as a reader right
// after does. It reports the index objects' sizes by tier (gzip, as
// stored), what this lookup downloads, and what one would a day into the
// bucket's life: one shard of 16 minute objects, 8 ten-minute and 25
// hour objects. Batches are stored as keys only (the compactor reads
// none), but for the one holding the IDs looked up.
//
//	go test -run XXX -bench FindAtSeedScale -benchtime 5x ./logs/index/
func BenchmarkFindAtSeedScale(b *testing.B) {
	const nodes, logs = 100, 30
	f := storetest.New(b)
	st := f.Store(f.Config())
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	c := NewCompactor(st, "", "node-00", WithClock(clk.now))
	// The compactor's log would interleave with the benchmark's line.
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	ctx := log.WithLogger(context.Background(), logrus.NewEntry(quiet))
	task := 0
	for end := start.Add(time.Hour + 4*time.Minute); clk.now().Before(end); {
		if clk.now().Before(start.Add(time.Hour)) {
			for n := range nodes {
				at := clk.now().Add(time.Duration(n) * 50 * time.Millisecond)
				node := fmt.Sprintf("node-%02d", n)
				if n == 0 && clk.now().Equal(start.Add(30*time.Minute)) {
					realBatch(b, f, node, at, logs)
					continue
				}
				hs := make([]string, logs)
				for i := range hs {
					hs[i] = batch.IDHash("ns", fmt.Sprint("task-", task))
					task++
				}
				f.Put(batch.BatchKey("", node, at, hs), []byte("not read"))
			}
		}
		clk.add(10 * time.Second)
		if r := c.Once(ctx); r.Err != nil {
			b.Fatalf("cycle at %s: %v", clk.now(), r.Err)
		}
	}
	sizes := map[string][]int{}
	size := map[string]int{}
	for _, k := range f.Keys() {
		if o, ok := f.Object(k); ok && strings.HasPrefix(k, Dir) {
			tier := strings.Split(k, "/")[1]
			sizes[tier] = append(sizes[tier], len(o.Body))
			size[k] = len(o.Body)
		}
	}
	mean := func(tier string) float64 {
		t := 0
		for _, v := range sizes[tier] {
			t += v
		}
		return float64(t) / float64(max(1, len(sizes[tier])))
	}
	read := 0
	for _, k := range readKeys("", batch.IDHash("ns", "probe-7"), clk.now()) {
		read += size[k]
	}
	b.ResetTimer()
	for range b.N {
		hits, _, err := Find(ctx, st, "", "ns", "probe-7", clk.now())
		if err != nil || len(hits) != 1 {
			b.Fatalf("Find: %d hits, %v", len(hits), err)
		}
	}
	b.ReportMetric(mean("1m")/1e6, "MB/1m-object")
	b.ReportMetric(mean("10m")/1e6, "MB/10m-shard")
	b.ReportMetric(mean("1h")/1e6, "MB/1h-shard")
	b.ReportMetric(float64(read)/1e6, "MB-read/find")
	b.ReportMetric((16*mean("1m")+8*mean("10m")+25*mean("1h"))/1e6, "MB-read/find-a-day-in")
}

// realBatch stores a batch of node's, sealed at at, holding the logs of
// probe-0 … probe-(n-1).
func realBatch(b *testing.B, f *storetest.Fake, node string, at time.Time, n int) {
	var bb batch.Builder
	var hs []string
	for i := range n {
		id := fmt.Sprint("probe-", i)
		m := spool.Meta{Namespace: "ns", ID: id, Run: spool.NewRun(at, "abcdefgh"), Node: node, State: spool.StateDone, Complete: true}
		member, err := batch.Compress(m, strings.NewReader("log of "+id+"\n"))
		if err != nil {
			b.Fatal(err)
		}
		bb.Add(m, member)
		hs = append(hs, batch.IDHash("ns", id))
	}
	body, _, err := bb.Seal(node, at)
	if err != nil {
		b.Fatal(err)
	}
	f.Put(batch.BatchKey("", node, at, hs), body)
}
