package ship

import (
	"context"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// A per-minute CronJob with a fixed task ID keeps about 1,440 runs under
// the 1-day rule. S3 lists 1,000 keys a page at most (this fake: 700),
// oldest first: every run is still listed, and the latest is found in two
// listing requests.
func TestRunsPastOnePage(t *testing.T) {
	f := storetest.New(t)
	f.PageSize = 700
	cfg := testLogs(t, config.CompressionNone)
	cfg.S3 = f.Config()
	s, err := New(context.Background(), cfg, WithStore(f.Store(cfg.S3)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	put := func(id string, n int) (oldest, latest string) {
		for i := n; i >= 1; i-- {
			run := spool.NewRun(now.Add(-time.Duration(i)*time.Minute), "")
			f.Put(s.KeyFor("ns", id, run), []byte(run))
			if i == n {
				oldest = run
			}
			latest = run
		}
		return oldest, latest
	}
	oldest, latest := put("cron", 1500)
	put("cron@x", 800) // an ID that extends this one: its keys follow
	put("cro", 800)    // and one that it extends: they come before
	put("few", 3)

	f.Lists.Store(0)
	runs, err := s.Runs(context.Background(), "ns", "cron")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1500 || runs[0].Run != oldest || runs[len(runs)-1].Run != latest {
		t.Fatalf("Runs lists %d runs, %v to %v; want 1500, %s to %s", len(runs), first(runs), last(runs), oldest, latest)
	}
	for i := 1; i < len(runs); i++ {
		if runs[i-1].Run >= runs[i].Run {
			t.Fatalf("runs out of order at %d: %s, %s", i, runs[i-1].Run, runs[i].Run)
		}
	}
	if n := f.Lists.Load(); n != 3 {
		t.Errorf("listing 1500 runs in pages of 700 took %d requests; want 3", n)
	}

	f.Lists.Store(0)
	recent, all, err := s.RecentRuns(context.Background(), "ns", "cron")
	if err != nil {
		t.Fatal(err)
	}
	if all || len(recent) == 0 || recent[len(recent)-1].Run != latest {
		t.Fatalf("RecentRuns: all %t, %d runs, latest %v; want %s, not all", all, len(recent), last(recent), latest)
	}
	if n := f.Lists.Load(); n != 2 {
		t.Errorf("finding the latest of 1500 runs took %d listing requests; want 2", n)
	}
	if stored := recent[len(recent)-1]; stored.Key != s.KeyFor("ns", "cron", latest) {
		t.Errorf("latest run's key %q", stored.Key)
	}

	f.Lists.Store(0)
	recent, all, err = s.RecentRuns(context.Background(), "ns", "few")
	if err != nil || !all || len(recent) != 3 {
		t.Fatalf("RecentRuns of an ID with 3 runs: %v, all %t, %d runs", err, all, len(recent))
	}
	if n := f.Lists.Load(); n != 1 {
		t.Errorf("listing 3 runs took %d requests; want 1", n)
	}
}

// The latest run is found also when none is recent: further back, then
// the whole listing.
func TestRecentRunsLooksFurtherBack(t *testing.T) {
	f := storetest.New(t)
	f.PageSize = 5
	cfg := testLogs(t, config.CompressionNone)
	cfg.S3 = f.Config()
	s, err := New(context.Background(), cfg, WithStore(f.Store(cfg.S3)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id  string
		age time.Duration // of the latest run
	}{
		{"hours", 5 * time.Hour},
		{"days", 3 * 24 * time.Hour},
		{"months", 60 * 24 * time.Hour},
	} {
		var latest string
		for i := 12; i >= 0; i-- {
			latest = spool.NewRun(time.Now().Add(-tc.age-time.Duration(i)*time.Minute), "")
			f.Put(s.KeyFor("ns", tc.id, latest), nil)
		}
		runs, _, err := s.RecentRuns(context.Background(), "ns", tc.id)
		if err != nil || len(runs) == 0 || runs[len(runs)-1].Run != latest {
			t.Errorf("%s: RecentRuns %v, latest %v; want %s", tc.id, err, last(runs), latest)
		}
	}
}

func first(runs []Run) string {
	if len(runs) == 0 {
		return "none"
	}
	return runs[0].Run
}

func last(runs []Run) string {
	if len(runs) == 0 {
		return "none"
	}
	return runs[len(runs)-1].Run
}
