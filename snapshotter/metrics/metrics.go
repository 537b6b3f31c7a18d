// Package metrics exposes the snapshotter to Prometheus: per-snapshot inode
// and byte usage and limits, the tmpfs budget, and the latency of every
// snapshotter operation.
package metrics

import (
	"context"
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

// Collector computes usage at scrape time rather than on a timer: with O(1)
// usage per snapshot a scrape is cheap, and the numbers are never stale.
type Collector struct {
	src Source

	inodesUsed  *prometheus.Desc
	inodesLimit *prometheus.Desc
	bytesUsed   *prometheus.Desc
	bytesLimit  *prometheus.Desc
	budget      *prometheus.Desc
	budgetUsed  *prometheus.Desc
	budgetWant  *prometheus.Desc
	budgetBad   *prometheus.Desc
}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	labels := []string{"key", "profile", "upper"}
	return &Collector{
		src:         src,
		inodesUsed:  prometheus.NewDesc("brisk_snapshot_inodes_used", "Inodes used by an active snapshot's upper.", labels, nil),
		inodesLimit: prometheus.NewDesc("brisk_snapshot_inodes_limit", "Inode limit of an active snapshot's upper (0: unlimited).", labels, nil),
		bytesUsed:   prometheus.NewDesc("brisk_snapshot_bytes_used", "Bytes used by an active snapshot's upper.", labels, nil),
		bytesLimit:  prometheus.NewDesc("brisk_snapshot_bytes_limit", "Byte limit of an active snapshot's upper (0: unlimited).", labels, nil),
		budget:      prometheus.NewDesc("brisk_tmpfs_budget_bytes", "Cap on the sum of tmpfs upper size limits.", nil, nil),
		budgetUsed:  prometheus.NewDesc("brisk_tmpfs_budget_used_bytes", "Bytes of the tmpfs budget reserved.", nil, nil),
		budgetWant: prometheus.NewDesc("brisk_tmpfs_budget_expected_bytes",
			"Sum of the size limits of the live tmpfs uppers and of those still in use after their snapshot went: what brisk_tmpfs_budget_used_bytes must equal.", nil, nil),
		budgetBad: prometheus.NewDesc("brisk_tmpfs_budget_audit_violations",
			"Uppers whose budget booking is wrong at this scrape (0 when the books are right).", nil, nil),
	}
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
	if a, err := c.src.CheckBudget(ctx); err != nil {
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
