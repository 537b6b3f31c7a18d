package ship

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// briskctl logs ID finds a log in either mode with no flag: a shipper
// configured for per-task upload finds a batched run through the index
// when no object of its own has the ID, and a miss in a bucket with no
// index costs one request more, not the index's reads.
func TestEitherModeFindsBatchedRuns(t *testing.T) {
	f := storetest.New(t)
	cfg := config.DefaultLogs()
	cfg.SpoolDir = t.TempDir()
	cfg.S3 = f.Config()
	st := f.Store(cfg.S3)
	s, err := New(context.Background(), cfg, WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := f.Requests.Load()
	if runs, _, err := s.RecentRuns(ctx, "ns", "nowhere"); err != nil || len(runs) != 0 {
		t.Fatalf("a miss: %v %v", runs, err)
	}
	if n := f.Requests.Load() - before; n != 2 {
		t.Errorf("a miss in a bucket without an index took %d requests, want 2 (the listing, the lease)", n)
	}

	m := spool.Meta{Namespace: "ns", ID: "batched", Run: spool.NewRun(time.Now(), "abcdefgh"), State: spool.StateDone, ExitCode: 7, Complete: true}
	member, _ := batch.Compress(m, strings.NewReader("2026-12-07T00:00:00Z stdout F from a batch\n"))
	var b batch.Builder
	b.Add(m, member)
	body, _, _ := b.Seal("node-a", time.Now())
	f.Put(batch.BatchKey("", "node-a", time.Now(), []string{batch.IDHash("ns", "batched")}), body)
	if r := index.NewCompactor(st, "", "node-a").Once(ctx); r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, mode := range []string{config.UploadTask, config.UploadBatch} {
		s.cfg.Upload = mode
		runs, _, err := s.RecentRuns(ctx, "ns", "batched")
		if err != nil || len(runs) != 1 || runs[0].Batch == nil {
			t.Fatalf("upload = %s: runs %+v, %v; want the batched run", mode, runs, err)
		}
		log, meta, err := s.ReadRun(ctx, runs[0])
		if err != nil || !strings.Contains(string(log), "from a batch") || meta["brisk-exit-code"] != "7" {
			t.Fatalf("upload = %s: read %q %v %v", mode, log, meta, err)
		}
	}
}
