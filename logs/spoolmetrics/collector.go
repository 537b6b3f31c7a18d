// Package spoolmetrics exposes the node's log spool to Prometheus. Shims
// live for one task and cannot be scraped, so brisk-snapshotter, the one
// long-lived Brisk daemon on a node, serves these beside its own metrics:
// logs piling up in the spool is how an unreachable or refusing S3 shows.
package spoolmetrics

import (
	"time"

	"github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/logs/spool"
)

// Collector reads the spool at scrape time.
type Collector struct {
	dir string

	entries       *prometheus.Desc
	bytes         *prometheus.Desc
	oldestPending *prometheus.Desc
	quarantined   *prometheus.Desc
}

// NewCollector returns a collector over the spool in dir.
func NewCollector(dir string) *Collector {
	return &Collector{
		dir:     dir,
		entries: prometheus.NewDesc("brisk_logs_spool_entries", "Task logs in the spool: live (task running, or its shim died) or done (finished, waiting to be shipped).", []string{"state"}, nil),
		bytes:   prometheus.NewDesc("brisk_logs_spool_bytes", "Bytes of task logs held in the spool.", nil, nil),
		oldestPending: prometheus.NewDesc("brisk_logs_oldest_pending_seconds",
			"Seconds since the oldest finished task log still waiting to be shipped exited; 0 when none waits.", nil, nil),
		quarantined: prometheus.NewDesc("brisk_logs_spool_quarantined_entries",
			"Task logs set aside in the spool because they can never ship (briskctl flush lists them with the reason).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.bytes
	ch <- c.oldestPending
	ch <- c.quarantined
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, err := spool.ReadStats(c.dir)
	if err != nil {
		// No figures rather than zeros: an alert on a stale series is
		// better than one that reads "nothing pending".
		log.L.WithError(err).WithField("spool_dir", c.dir).Warn("read spool for metrics")
		return
	}
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Live), spool.StateLive)
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Done), spool.StateDone)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
	age := 0.0
	if !st.OldestDone.IsZero() {
		age = max(time.Since(st.OldestDone).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.oldestPending, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.quarantined, prometheus.GaugeValue, float64(st.Quarantined))
}
