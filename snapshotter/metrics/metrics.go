// Package metrics exposes the snapshotter to Prometheus: per-snapshot inode
// and byte usage and limits, the tmpfs budget, and the latency of every
// snapshotter operation.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/snapshotter"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
	"github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is what the collector reads; *snapshotter.Snapshotter is one.
type Source interface {
	Report(ctx context.Context) ([]usageapi.SnapshotUsage, error)
	Budget() (limit, inUse int64)
	CheckBudget(ctx context.Context) (snapshotter.BudgetAudit, error)
}

// DefaultAuditInterval is how often, at most, scrapes run the budget audit.
const DefaultAuditInterval = 15 * time.Second

// Collector computes usage at scrape time rather than on a timer: with O(1)
// usage per snapshot a scrape is cheap, and the numbers are never stale.
//
// The budget audit is the exception. It holds the metadata's write
// transaction, the one every Prepare, Commit and Remove on the node needs,
// so it runs at most once per audit interval, and scrapes in between report
// its last result: a tight scrape loop must not delay containers.
type Collector struct {
	src Source

	auditInterval time.Duration
	now           func() time.Time
	auditMu       sync.Mutex // held while auditing: concurrent scrapes audit once
	lastAudit     snapshotter.BudgetAudit
	auditedAt     time.Time // zero until an audit succeeded

	inodesUsed  *prometheus.Desc
	inodesLimit *prometheus.Desc
	bytesUsed   *prometheus.Desc
	bytesLimit  *prometheus.Desc
	budget      *prometheus.Desc
	budgetUsed  *prometheus.Desc
	budgetWant  *prometheus.Desc
	budgetBad   *prometheus.Desc
}

// Opt configures a Collector.
type Opt func(*Collector)

// WithAuditInterval sets how often, at most, scrapes run the budget audit;
// 0 (or less) audits at every scrape.
func WithAuditInterval(d time.Duration) Opt {
	return func(c *Collector) { c.auditInterval = d }
}

// NewCollector returns a collector over src.
func NewCollector(src Source, opts ...Opt) *Collector {
	labels := []string{"key", "profile", "upper"}
	c := &Collector{
		src:           src,
		auditInterval: DefaultAuditInterval,
		now:           time.Now,
		inodesUsed:    prometheus.NewDesc("brisk_snapshot_inodes_used", "Inodes used by an active snapshot's upper.", labels, nil),
		inodesLimit:   prometheus.NewDesc("brisk_snapshot_inodes_limit", "Inode limit of an active snapshot's upper (0: unlimited).", labels, nil),
		bytesUsed:     prometheus.NewDesc("brisk_snapshot_bytes_used", "Bytes used by an active snapshot's upper.", labels, nil),
		bytesLimit:    prometheus.NewDesc("brisk_snapshot_bytes_limit", "Byte limit of an active snapshot's upper (0: unlimited).", labels, nil),
		budget:        prometheus.NewDesc("brisk_tmpfs_budget_bytes", "Cap on the sum of tmpfs upper size limits.", nil, nil),
		budgetUsed:    prometheus.NewDesc("brisk_tmpfs_budget_used_bytes", "Bytes of the tmpfs budget reserved.", nil, nil),
		budgetWant: prometheus.NewDesc("brisk_tmpfs_budget_expected_bytes",
			"Sum of the size limits of the live tmpfs uppers and of those still in use after their snapshot went: what brisk_tmpfs_budget_used_bytes must equal.", nil, nil),
		budgetBad: prometheus.NewDesc("brisk_tmpfs_budget_audit_violations",
			"Uppers whose budget booking is wrong at this scrape (0 when the books are right).", nil, nil),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.inodesUsed, c.inodesLimit, c.bytesUsed, c.bytesLimit, c.budget, c.budgetUsed, c.budgetWant, c.budgetBad} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	limit, inUse := c.src.Budget()
	ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(limit))
	ch <- prometheus.MustNewConstMetric(c.budgetUsed, prometheus.GaugeValue, float64(inUse))
	if a, err := c.audit(ctx); err != nil {
		log.G(ctx).WithError(err).Warn("tmpfs budget audit for metrics failed")
	} else {
		violations := len(a.Problems)
		if violations == 0 && !a.OK() {
			violations = 1
		}
		ch <- prometheus.MustNewConstMetric(c.budgetWant, prometheus.GaugeValue, float64(a.Expected))
		ch <- prometheus.MustNewConstMetric(c.budgetBad, prometheus.GaugeValue, float64(violations))
	}
	report, err := c.src.Report(ctx)
	if err != nil {
		log.G(ctx).WithError(err).Warn("usage report for metrics failed")
		return
	}
	for _, u := range report {
		lv := []string{u.Key, u.Profile, string(u.Upper)}
		ch <- prometheus.MustNewConstMetric(c.inodesUsed, prometheus.GaugeValue, float64(u.InodesUsed), lv...)
		ch <- prometheus.MustNewConstMetric(c.inodesLimit, prometheus.GaugeValue, float64(u.InodesLimit), lv...)
		ch <- prometheus.MustNewConstMetric(c.bytesUsed, prometheus.GaugeValue, float64(u.BytesUsed), lv...)
		ch <- prometheus.MustNewConstMetric(c.bytesLimit, prometheus.GaugeValue, float64(u.BytesLimit), lv...)
	}
}

// audit returns the last budget audit if it is younger than the audit
// interval, and runs a new one otherwise. A failed audit is not kept: the
// next scrape tries again.
func (c *Collector) audit(ctx context.Context) (snapshotter.BudgetAudit, error) {
	c.auditMu.Lock()
	defer c.auditMu.Unlock()
	if !c.auditedAt.IsZero() && c.now().Sub(c.auditedAt) < c.auditInterval {
		return c.lastAudit, nil
	}
	a, err := c.src.CheckBudget(ctx)
	if err != nil {
		return a, err
	}
	c.lastAudit, c.auditedAt = a, c.now()
	return a, nil
}
