package logd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/store"
)

// ShippingOpt configures NewShipping.
type ShippingOpt func(*shippingOpts)

type shippingOpts struct {
	batch     []batch.Opt
	compactor []index.CompactorOpt
}

// WithBatchOptions passes options to batch mode's batcher and compactor
// (tests: a clock set apart, a short lease).
func WithBatchOptions(b []batch.Opt, c []index.CompactorOpt) ShippingOpt {
	return func(o *shippingOpts) { o.batch, o.compactor = b, c }
}

// batchMetrics are batch mode's: batches stored, how long after their
// tasks' ends, and the compactor's cycles.
type batchMetrics struct {
	batches    *prometheus.CounterVec
	logs       prometheus.Histogram
	exitStored prometheus.Histogram
	leader     prometheus.Gauge
	cycles     *prometheus.CounterVec
	indexed    prometheus.Counter
}

// batchMode makes sh ship in batches, and run this node's candidate for
// the bucket's compactor.
func (sh *Shipping) batchMode(logs config.Logs, shipper *ship.Shipper, node string, reg prometheus.Registerer, o shippingOpts) error {
	cs, ok := shipper.Store().(store.Conditional)
	if !ok {
		return fmt.Errorf("logs.upload = %q: %s cannot store batches (it needs conditional writes)", logs.Upload, shipper.Store())
	}
	m := &batchMetrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brisk_logd_batches_total",
			Help: "Attempts to store a batch of logs, by result (stored, failed).",
		}, []string{"result"}),
		logs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "brisk_logd_batch_logs",
			Help:    "Logs per stored batch.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		exitStored: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "brisk_logd_exit_to_stored_seconds",
			Help:    "Time from a task's exit to its batch being stored.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 10),
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "brisk_logd_compactor_leader",
			Help: "1 while this brisk-logd holds the bucket's compactor lease.",
		}),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brisk_logd_compactor_cycles_total",
			Help: "Cycles of the compactor while it held the lease, by result (ok, failed).",
		}, []string{"result"}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brisk_logd_indexed_batches_total",
			Help: "Batches this brisk-logd's compactor added to the index.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.logs, m.exitStored, m.leader, m.cycles, m.indexed)
	}
	sh.batch = m
	where := shipper.Store().String()
	if logs.S3.Endpoint != "" {
		where += " at " + logs.S3.Endpoint
	}
	// The compactor's lease and index rely on conditional writes: it
	// starts once the batcher's probe found the store honours them.
	probed := make(chan struct{})
	b := batch.New(cs, where, logs, node, append([]batch.Opt{batch.WithObserver(sh.observeBatch),
		batch.WithAttemptTimeout(time.Duration(logs.UploadTimeout)), batch.WithProbed(func() { close(probed) })}, o.batch...)...)
	lag := max(3*time.Minute, time.Duration(logs.S3.RequestTimeout)+2*time.Minute)
	c := index.NewCompactor(cs, logs.S3.Prefix, node, append([]index.CompactorOpt{index.WithLag(lag),
		index.WithCycleObserver(m.observeCycle)}, o.compactor...)...)
	sh.handoff = b.Handoff
	sh.serve = func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		compacted := make(chan error, 1)
		go func() {
			select {
			case <-probed:
				compacted <- c.Run(ctx)
			case <-ctx.Done():
				compacted <- ctx.Err()
			}
		}()
		err := b.Serve(ctx)
		cancel()
		<-compacted
		if errors.Is(err, batch.ErrNoConditionalWrites) {
			sh.mu.Lock()
			sh.health.LastFailure, sh.health.LastError, sh.health.LastErrorKind = time.Now(), err.Error(), store.FailOther
			sh.mu.Unlock()
		}
		return err
	}
	return nil
}

// observeBatch records an attempt to store a batch.
func (sh *Shipping) observeBatch(r batch.Result) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := time.Now()
	for range r.Quarantined {
		sh.recordQuarantined()
	}
	if r.Err != nil {
		sh.recordFailure(r.Err, now)
		sh.batch.batches.WithLabelValues("failed").Inc()
		return
	}
	if len(r.Entries) == 0 {
		return
	}
	sh.batch.batches.WithLabelValues("stored").Inc()
	sh.batch.logs.Observe(float64(len(r.Entries)))
	for _, e := range r.Entries {
		m := e.Meta
		sh.remember(&m, now, &index.Hit{Batch: r.Key, Entry: e})
		if !m.Exited.IsZero() {
			sh.batch.exitStored.Observe(now.Sub(m.Exited).Seconds())
		}
	}
	sh.recordShipped(len(r.Entries), now, r.Took)
}

func (m *batchMetrics) observeCycle(c index.Cycle) {
	if !c.Leader {
		m.leader.Set(0)
		return
	}
	m.leader.Set(1)
	if c.Err != nil {
		m.cycles.WithLabelValues("failed").Inc()
		log.L.WithError(c.Err).Debug("batch index: cycle failed")
		return
	}
	m.cycles.WithLabelValues("ok").Inc()
	m.indexed.Add(float64(c.Batches))
}
