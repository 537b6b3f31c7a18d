package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/snapshotter"
)

func TestAuditInterval(t *testing.T) {
	bad := snapshotter.BudgetAudit{Reserved: 16 << 20, Expected: 8 << 20, Problems: []string{"a", "b"}}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		step     time.Duration // clock advance between scrapes
		audits   int64         // over 4 scrapes
	}{
		{"within the interval the last audit is reported", time.Minute, time.Second, 1},
		{"each scrape past the interval audits", time.Minute, time.Minute, 4},
		{"0 audits at every scrape", 0, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &countingSource{audit: bad}
			c := NewCollector(src, WithAuditInterval(tc.interval))
			clock := time.Unix(1e9, 0)
			c.now = func() time.Time { return clock }
			reg := prometheus.NewRegistry()
			reg.MustRegister(c)
			for range 4 {
				if got := scrape(t, reg); got["brisk_tmpfs_budget_audit_violations"] != 2 {
					t.Fatalf("violations %v, want the audit's 2", got["brisk_tmpfs_budget_audit_violations"])
				}
				clock = clock.Add(tc.step)
			}
			if n := src.audits.Load(); n != tc.audits {
				t.Errorf("%d audits, want %d", n, tc.audits)
			}
		})
	}
}
