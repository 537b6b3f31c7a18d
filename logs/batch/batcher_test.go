package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/atomicfile"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
	"github.com/brisk-containers/brisk/logs/store/storetest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func writeEntry(t *testing.T, spoolDir, id, out string) string {
	t.Helper()
	e, err := spool.Open(spoolDir, spool.Meta{Namespace: "ns", ID: id, Node: "node-a", Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(spool.Stdout, []byte(out)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(spool.ExitInfo{Code: 3, Exited: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	return e.Dir()
}

func testLogs(t *testing.T, f *storetest.Fake) config.Logs {
	logs := config.DefaultLogs()
	logs.SpoolDir = t.TempDir()
	logs.Upload = config.UploadBatch
	logs.S3 = f.Config()
	logs.Batch.Interval = config.Duration(200 * time.Millisecond)
	return logs
}

// batches is every batch stored, and the runs each holds.
func batches(t *testing.T, f *storetest.Fake) map[string][]Entry {
	t.Helper()
	out := map[string][]Entry{}
	for _, k := range f.Keys() {
		if _, ok := ParseKey("", k); !ok {
			continue
		}
		o, _ := f.Object(k)
		tr, _, _, _, err := ParseTail(o.Body, int64(len(o.Body)))
		if err != nil || tr == nil {
			t.Fatalf("batch %s: %v", k, err)
		}
		out[k] = tr.Entries
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func runBatcher(t *testing.T, b *Batcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	return func() { cancel(); <-done }
}

// Finished entries go into one batch per interval, each log once, and
// leave the spool once the batch is stored; a log over standalone_over is
// stored alone and the batch points to it.
func TestBatcherStoresEachLogOnce(t *testing.T) {
	f := storetest.New(t)
	logs := testLogs(t, f)
	logs.Batch.StandaloneOver = 2 << 10
	b := New(f.Store(logs.S3), "fake", logs, "node-a", WithPoll(50*time.Millisecond))
	want := map[string]string{}
	for i := range 10 {
		id := fmt.Sprintf("task-%d", i)
		want[id] = fmt.Sprintf("line of %s\n", id)
		b.Handoff(writeEntry(t, logs.SpoolDir, id, want[id]))
	}
	// Random bytes do not compress: over 2 KiB compressed.
	large := strings.Repeat(fmt.Sprintf("%x", time.Now().UnixNano()), 1) + string(randomText(8<<10))
	writeEntry(t, logs.SpoolDir, "large", large)
	stop := runBatcher(t, b)
	defer stop()
	waitFor(t, "the spool to empty", func() bool { p, _ := spool.Pending(logs.SpoolDir); return len(p) == 0 })
	seen := map[string]int{}
	for k, entries := range batches(t, f) {
		for _, e := range entries {
			seen[e.Meta.ID]++
			got, err := ReadLog(context.Background(), f.Store(logs.S3), k, e)
			if err != nil {
				t.Fatalf("read %s: %v", e.Meta.ID, err)
			}
			w := want[e.Meta.ID]
			if e.Meta.ID == "large" {
				w = large
				if e.Object == "" || !strings.HasPrefix(e.Object, LargeDir) {
					t.Errorf("large log stored in the batch, not alone: %+v", e)
				}
			}
			first, _, _ := strings.Cut(w, "\n")
			if !strings.Contains(string(got), " stdout F "+first+"\n") || len(got) < len(w) {
				t.Errorf("log of %s: %d bytes, not the %d written", e.Meta.ID, len(got), len(w))
			}
		}
	}
	if len(seen) != 11 {
		t.Fatalf("logs stored: %v; want 11", seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
}

func randomText(n int) []byte {
	b := make([]byte, n)
	f, _ := os.Open("/dev/urandom")
	defer f.Close()
	_, _ = f.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
		if b[i]%7 == 0 {
			b[i] = '\n'
		}
	}
	return b
}

// While the store is down every entry stays in the spool; once it is back
// each lands once.
func TestBatcherWaitsOutAnOutage(t *testing.T) {
	f := storetest.New(t)
	logs := testLogs(t, f)
	b := New(f.Store(logs.S3), "fake", logs, "node-a", WithPoll(50*time.Millisecond), WithBackoff(100*time.Millisecond, 200*time.Millisecond))
	stop := runBatcher(t, b)
	defer stop()
	writeEntry(t, logs.SpoolDir, "before", "x\n")
	waitFor(t, "the first batch", func() bool { return len(batches(t, f)) == 1 })
	f.Down.Store(true)
	for i := range 5 {
		writeEntry(t, logs.SpoolDir, fmt.Sprintf("during-%d", i), "y\n")
	}
	time.Sleep(time.Second)
	if p, _ := spool.Pending(logs.SpoolDir); len(p) != 5 {
		t.Fatalf("pending while the store is down: %d, want 5", len(p))
	}
	f.Down.Store(false)
	waitFor(t, "the spool to empty", func() bool { p, _ := spool.Pending(logs.SpoolDir); return len(p) == 0 })
	n := 0
	for _, entries := range batches(t, f) {
		n += len(entries)
	}
	if n != 6 {
		t.Fatalf("%d logs stored, want 6", n)
	}
}

// A batcher killed between storing a batch and removing its entries: the
// next one finds the batch by its journal and removes them, storing
// nothing twice. A journalled batch that never landed is batched again.
func TestBatcherSettlesWhatADeadOneStored(t *testing.T) {
	f := storetest.New(t)
	logs := testLogs(t, f)
	st := f.Store(logs.S3)
	stored := writeEntry(t, logs.SpoolDir, "stored", "s\n")
	lost := writeEntry(t, logs.SpoolDir, "lost", "l\n")
	// What a dead batcher left: two sealed batches journalled; the first
	// landed, the second did not.
	for i, dir := range []string{stored, lost} {
		m, _ := spool.ReadMeta(dir)
		member, _ := Compress(m, strings.NewReader("x\n"))
		var bb Builder
		bb.Add(m, member)
		body, crc, _ := bb.Seal("node-a", time.Now())
		key := BatchKey("", "node-a", time.Now(), []string{IDHash("ns", m.ID)})
		if i == 0 {
			f.Put(key, body)
		}
		rec := fmt.Sprintf(`{"key":%q,"crc32c":%d,"entries":[%q]}`, key, crc, dir)
		if err := atomicfile.Write(filepath.Join(logs.SpoolDir, journalDir, fmt.Sprint(i)+".json"), []byte(rec), 0o600); err != nil {
			// the directory first
			_ = os.MkdirAll(filepath.Join(logs.SpoolDir, journalDir), 0o700)
			if err := atomicfile.Write(filepath.Join(logs.SpoolDir, journalDir, fmt.Sprint(i)+".json"), []byte(rec), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop := runBatcher(t, New(st, "fake", logs, "node-a", WithPoll(50*time.Millisecond)))
	defer stop()
	waitFor(t, "the spool to empty", func() bool { p, _ := spool.Pending(logs.SpoolDir); return len(p) == 0 })
	count := map[string]int{}
	for _, entries := range batches(t, f) {
		for _, e := range entries {
			count[e.Meta.ID]++
		}
	}
	if count["stored"] != 1 || count["lost"] != 1 {
		t.Fatalf("stored runs: %v; want each once", count)
	}
	waitFor(t, "the journal to empty", func() bool {
		j, _ := os.ReadDir(filepath.Join(logs.SpoolDir, journalDir))
		return len(j) == 0
	})
}

// A full batch (64 logs, its key over 600 bytes) is journalled while the
// store is down: the journal record's file name does not derive from the
// key, which no file system takes as a name.
func TestBatcherJournalsAFullBatch(t *testing.T) {
	f := storetest.New(t)
	logs := testLogs(t, f)
	logs.Batch.Interval = config.Duration(time.Minute) // sealed when full, not by time
	requests := store.NewRequestCounter()
	b := New(f.Store(logs.S3, store.WithRequests(requests)), "fake", logs, "node-a", WithPoll(50*time.Millisecond), WithBackoff(time.Minute, time.Minute))
	if b.maxLogs != 64 {
		t.Fatalf("a batch holds %d logs, want 64", b.maxLogs)
	}
	stop := runBatcher(t, b)
	defer stop()
	// Down once the probe is over.
	waitFor(t, "the probe", func() bool {
		return testutil.ToFloat64(requests.WithLabelValues("DeleteObject", store.PurposeProbe)) > 0
	})
	f.Down.Store(true)
	for i := range 64 {
		writeEntry(t, logs.SpoolDir, fmt.Sprintf("task-%d", i), "x\n")
	}
	var rec journalRecord
	waitFor(t, "the full batch's journal record", func() bool {
		j, _ := os.ReadDir(filepath.Join(logs.SpoolDir, journalDir))
		for _, e := range j {
			if data, err := os.ReadFile(filepath.Join(logs.SpoolDir, journalDir, e.Name())); err == nil && json.Unmarshal(data, &rec) == nil {
				return true
			}
		}
		return false
	})
	if k, ok := ParseKey("", rec.Key); !ok || len(k.Hashes) != 64 || len(rec.Entries) != 64 {
		t.Fatalf("journal record: key %q (%d hashes), %d entries; want 64 of each", rec.Key, len(k.Hashes), len(rec.Entries))
	}
}

// S3 answers 409 ConditionalRequestConflict while another conditional
// write to the key is in flight: the batcher retries, and the batch lands
// once.
func TestBatcherRetriesAConflict(t *testing.T) {
	f := storetest.New(t)
	logs := testLogs(t, f)
	f.Conflicts.Store(2)
	b := New(f.Store(logs.S3), "fake", logs, "node-a", WithPoll(50*time.Millisecond), WithBackoff(50*time.Millisecond, 100*time.Millisecond))
	writeEntry(t, logs.SpoolDir, "conflicted", "x\n")
	stop := runBatcher(t, b)
	defer stop()
	waitFor(t, "the spool to empty", func() bool { p, _ := spool.Pending(logs.SpoolDir); return len(p) == 0 })
	if got := batches(t, f); len(got) != 1 {
		t.Fatalf("batches stored: %d, want 1", len(got))
	}
}
