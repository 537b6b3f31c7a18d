package logd

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/store"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/handoff"
	"github.com/brisk-containers/brisk/logs/retrier"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/spoolmetrics"
)

// ShipWorkers is how many entries brisk-logd uploads at once: enough to
// ship a burst of exits in parallel over kept-alive connections, few
// enough to leave the node's cores to its tasks.
const ShipWorkers = 8

// Shipping is the node's shipping of finished logs: the retrier that
// uploads what shims hand over or leave, and how well it goes, for
// metrics, doctor and alerts. A shipper that cannot ship is loud.
type Shipping struct {
	// serve ships until its context ends; handoff passes on an entry
	// its shim let go of: the retrier's (one object per run) or the
	// batcher's (batch mode).
	serve   func(context.Context) error
	handoff func(dir string)
	store   string
	batch   *batchMetrics // batch mode's own metrics; nil under per-task upload

	mu     sync.Mutex
	health ShipHealth
	recent []Task // shipped lately, oldest first: "recently exited"

	ships       *prometheus.CounterVec
	consecutive prometheus.Gauge
	lastShipped prometheus.Gauge
	duration    prometheus.Histogram
}

// ShipHealth is how shipping goes: GET /v1/status on the unix socket.
type ShipHealth struct {
	Store               string    `json:"store"`
	Shipped             uint64    `json:"shipped"`
	Failed              uint64    `json:"failed"`
	Quarantined         uint64    `json:"quarantined"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastShipped         time.Time `json:"last_shipped,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorKind       string    `json:"last_error_kind,omitempty"` // store.FailureKind
}

// NewShipping is the shipping of logs' spool through shipper, as node,
// its metrics registered with reg.
func NewShipping(logs config.Logs, shipper *ship.Shipper, node string, reg prometheus.Registerer, opts ...ShippingOpt) (*Shipping, error) {
	sh := &Shipping{
		store: shipper.Store().String(),
		ships: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brisk_logd_ships_total",
			Help: "Attempts to ship a finished log, by result (shipped, failed, quarantined) and kind of failure (credentials, access, bucket, network, timeout, throttled, entry, other).",
		}, []string{"result", "kind"}),
		consecutive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "brisk_logd_ship_failures_consecutive",
			Help: "Failed attempts to ship since the last success: above 0 for long, the store is unreachable or refuses this node's credentials.",
		}),
		lastShipped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "brisk_logd_last_shipped_timestamp_seconds",
			Help: "When a log was last shipped (Unix time).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "brisk_logd_ship_duration_seconds",
			Help:    "Time to upload one finished log.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	sh.health.Store = sh.store
	if reg != nil {
		reg.MustRegister(sh.ships, sh.consecutive, sh.lastShipped, sh.duration, spoolmetrics.NewCollector(logs.SpoolDir))
	}
	var o shippingOpts
	for _, opt := range opts {
		opt(&o)
	}
	if logs.Upload == config.UploadBatch {
		return sh, sh.batchMode(logs, shipper, node, reg, o)
	}
	r := retrier.New(shipper, logs.SpoolDir, retrier.WithWorkers(ShipWorkers),
		retrier.WithAttemptTimeout(time.Duration(logs.UploadTimeout)), retrier.WithObserver(sh.observe))
	sh.serve, sh.handoff = r.Serve, r.Handoff
	return sh, nil
}

// Serve ships until ctx ends. Under batch mode it returns at once, with
// batch.ErrNoConditionalWrites, when the store does not honour
// conditional writes: brisk-logd stops on it.
func (sh *Shipping) Serve(ctx context.Context) error { return sh.serve(ctx) }

// Handoff ships the entry in dir, which its shim finished and let go of,
// as soon as a worker is free (per-task upload) or in the open batch.
func (sh *Shipping) Handoff(dir string) { sh.handoff(dir) }

// Health is how shipping goes now.
func (sh *Shipping) Health() ShipHealth {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.health
}

func (sh *Shipping) observe(o retrier.Outcome) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := time.Now()
	switch o.Status {
	case ship.Shipped:
		sh.remember(o.Meta, now, nil)
		sh.recordShipped(1, now, o.Took)
	case ship.Failed:
		sh.recordFailure(o.Err, now)
	case ship.Quarantined:
		sh.recordQuarantined()
	}
	// Otherwise owned by a live shim, or gone: not an attempt.
}

// recordShipped counts n logs shipped by one upload that took took.
// Called with sh.mu held, by either mode.
func (sh *Shipping) recordShipped(n int, now time.Time, took time.Duration) {
	sh.health.Shipped += uint64(n)
	sh.health.ConsecutiveFailures = 0
	sh.health.LastShipped = now
	sh.ships.WithLabelValues("shipped", "").Add(float64(n))
	sh.lastShipped.Set(float64(now.Unix()))
	sh.duration.Observe(took.Seconds())
	sh.consecutive.Set(0)
}

// recordFailure counts a failed upload, by its kind. Called with sh.mu
// held.
func (sh *Shipping) recordFailure(err error, now time.Time) {
	kind := store.FailureKind(err)
	sh.health.Failed++
	sh.health.ConsecutiveFailures++
	sh.health.LastFailure, sh.health.LastError, sh.health.LastErrorKind = now, err.Error(), kind
	sh.ships.WithLabelValues("failed", kind).Inc()
	sh.consecutive.Set(float64(sh.health.ConsecutiveFailures))
}

// recordQuarantined counts a log set aside as one that can never ship.
// Called with sh.mu held.
func (sh *Shipping) recordQuarantined() {
	sh.health.Quarantined++
	sh.ships.WithLabelValues("quarantined", store.FailEntry).Inc()
}

// serveHandoff is POST /v1/handoff, on the unix socket: a shim finished an
// entry and let go of it. A body that names no entry of the spool makes a
// look over the spool instead (Retrier.Handoff).
func (s *Server) serveHandoff(w http.ResponseWriter, r *http.Request) {
	if s.shipping == nil {
		deny(w, http.StatusServiceUnavailable, "this brisk-logd does not ship")
		return
	}
	var req handoff.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		deny(w, http.StatusBadRequest, "hand-off: %v", err)
		return
	}
	s.shipping.Handoff(req.Entry)
	w.WriteHeader(http.StatusAccepted)
}

// Status is GET /v1/status, on the unix socket.
type Status struct {
	Node     string      `json:"node"`
	Shipping *ShipHealth `json:"shipping,omitempty"`
	// Requests is the last hour's S3 requests and logs shipped
	// (WithRequests).
	Requests *RequestWindow `json:"requests,omitempty"`
}

func (s *Server) serveStatus(w http.ResponseWriter, _ *http.Request) {
	st := Status{Node: s.node}
	if s.shipping != nil {
		h := s.shipping.Health()
		st.Shipping = &h
	}
	if s.cost != nil {
		r := s.cost.Window(time.Now())
		st.Requests = &r
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// Recent tasks are kept this long after they shipped, and at most this
// many: the minutes after a task's end when its users still look, found on
// this node without a listing of the store.
const (
	recentFor = 10 * time.Minute
	recentMax = 20000
)

// StateShipped is a task's state in GET /v1/tasks once brisk-logd shipped
// its log: the store holds it, under the key its run names.
const StateShipped = "shipped"

// remember records a shipped run, and where in a batch it is if it is in
// one. Called with sh.mu held.
func (sh *Shipping) remember(m *spool.Meta, now time.Time, in *index.Hit) {
	if m == nil {
		return
	}
	t := taskOf(*m)
	t.State, t.shipped, t.batch = StateShipped, now, in
	sh.recent = append(sh.recent, t)
	drop := 0
	for drop < len(sh.recent) && (len(sh.recent)-drop > recentMax || now.Sub(sh.recent[drop].shipped) > recentFor) {
		drop++
	}
	sh.recent = append(sh.recent[:0], sh.recent[drop:]...)
}

// Recent is the runs shipped in the last minutes, of namespace ns ("" any)
// and ID id ("" any), that keep passes.
func (sh *Shipping) Recent(ns, id string, keep func(Task) bool) []Task {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []Task
	for _, t := range sh.recent {
		if time.Since(t.shipped) > recentFor || (ns != "" && t.Namespace != ns) || (id != "" && t.ID != id) || !keep(t) {
			continue
		}
		out = append(out, t)
	}
	return out
}
