package ship

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// A quarantined entry goes back to pending once its cause is fixed, due at
// once, and ships; requeued while the cause stays, it is quarantined again
// with its reason.
func TestRequeueQuarantined(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	cfg := testLogs(t, config.CompressionNone)
	s := &Shipper{cfg: cfg, store: store}
	writeEntry(t, cfg.SpoolDir, "refused", false, "kept\n", "")
	refuse := true
	store.fail = func(string) error {
		if refuse {
			return apiError("InvalidArgument")
		}
		return nil
	}
	requeueAll := func() []string {
		t.Helper()
		q, err := spool.Quarantined(cfg.SpoolDir)
		if err != nil {
			t.Fatal(err)
		}
		var dirs []string
		for _, e := range q {
			dir, err := spool.Requeue(e.Dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{spool.ReasonFile, spool.RetryFile} {
				if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
					t.Errorf("requeued entry %s keeps its %s: %v", dir, f, err)
				}
			}
			dirs = append(dirs, dir)
		}
		return dirs
	}
	if res := s.ShipPending(ctx); res.Count(Quarantined) != 1 {
		t.Fatalf("first pass: %+v", res)
	}
	// Requeued while the store still refuses: quarantined again.
	if dirs := requeueAll(); len(dirs) != 1 || !strings.HasPrefix(dirs[0], cfg.SpoolDir+"/ns/") {
		t.Fatalf("requeued %v", dirs)
	}
	if res := s.ShipPending(ctx); res.Count(Quarantined) != 1 {
		t.Fatalf("pass after a requeue with the cause left: %+v", res)
	}
	if q, _ := spool.Quarantined(cfg.SpoolDir); len(q) != 1 || !strings.Contains(q[0].Reason, "InvalidArgument") {
		t.Fatalf("quarantined again: %+v", q)
	}
	// Fixed, requeued: shipped.
	refuse = false
	requeueAll()
	if res := s.ShipPending(ctx); res.Count(Shipped) != 1 {
		t.Fatalf("pass after the fix: %+v", res)
	}
	if q, _ := spool.Quarantined(cfg.SpoolDir); len(q) != 0 {
		t.Errorf("still quarantined: %+v", q)
	}
	if len(store.objs) != 1 {
		t.Errorf("stored %d objects; want the requeued log", len(store.objs))
	}
	if _, err := spool.Requeue(filepath.Join(cfg.SpoolDir, "ns", "x@y")); err == nil {
		t.Errorf("Requeue of a pending entry's path succeeded")
	}
}
