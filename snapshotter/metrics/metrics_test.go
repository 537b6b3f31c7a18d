package metrics

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/snapshotter"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

// countingSource counts budget audits, each of which holds the metadata's
// write transaction in the real snapshotter.
type countingSource struct {
	audits atomic.Int64
	audit  snapshotter.BudgetAudit
}

func (s *countingSource) Report(context.Context) ([]usageapi.SnapshotUsage, error) { return nil, nil }
func (s *countingSource) Budget() (int64, int64)                                   { return 1 << 30, 8 << 20 }
func (s *countingSource) CheckBudget(context.Context) (snapshotter.BudgetAudit, error) {
	s.audits.Add(1)
	return s.audit, nil
}

func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetGauge() != nil && len(m.GetLabel()) == 0 {
				out[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestScrapeLoopAuditsOnce: a tight scrape loop must not take the write
// transaction at every scrape.
func TestScrapeLoopAuditsOnce(t *testing.T) {
	src := &countingSource{audit: snapshotter.BudgetAudit{Reserved: 8 << 20, Expected: 8 << 20}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src))
	for range 50 {
		got := scrape(t, reg)
		if got["brisk_tmpfs_budget_expected_bytes"] != 8<<20 || got["brisk_tmpfs_budget_audit_violations"] != 0 {
			t.Fatalf("scrape: %v", got)
		}
	}
	if n := src.audits.Load(); n != 1 {
		t.Errorf("50 scrapes in a row ran the budget audit %d times, want once", n)
	}
}
