package logd

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// What GET /v1/status reports of the S3 bill: the requests brisk-logd
// sent over the last hour, by operation and purpose, and the logs it
// shipped meanwhile. briskctl doctor turns them into requests per task and
// dollars a day. A Prometheus counter only says what was sent since the
// daemon started; the hour comes from samples of it, one a minute, kept
// in a ring.
const (
	costSpan  = time.Hour
	costEvery = time.Minute
	// costSamples is enough samples for one to be at most costSpan old
	// at any time between two ticks.
	costSamples = int(costSpan/costEvery) + 1
)

// RequestWindow is GET /v1/status's "requests": what this brisk-logd sent
// to the store from From to To (the last hour, or since it started), and
// how many logs it shipped then.
type RequestWindow struct {
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Tasks    uint64       `json:"tasks"`
	Requests uint64       `json:"requests"`
	ByOp     []OpRequests `json:"by_op,omitempty"`
}

// OpRequests is the requests of one S3 operation and purpose
// (brisk_s3_requests_total's labels): the operation sets the price.
type OpRequests struct {
	Op       string `json:"op"`
	Purpose  string `json:"purpose"`
	Requests uint64 `json:"requests"`
}

// opPurpose is one series of brisk_s3_requests_total.
type opPurpose struct{ op, purpose string }

// requestSample is the counters at one time.
type requestSample struct {
	at       time.Time
	tasks    uint64
	requests map[opPurpose]uint64
}

// costWindow samples the request counter and the logs shipped.
type costWindow struct {
	counter *prometheus.CounterVec
	tasks   func() uint64

	mu   sync.Mutex
	ring [costSamples]requestSample
	next int // where the next sample goes
	n    int // samples held
}

// newCostWindow starts the window with a sample at now: the requests
// made from then on (the probe at start included) are counted.
func newCostWindow(counter *prometheus.CounterVec, tasks func() uint64, now time.Time) *costWindow {
	w := &costWindow{counter: counter, tasks: tasks}
	w.record(w.sample(now))
	return w
}

// run samples every minute until ctx ends.
func (w *costWindow) run(ctx context.Context) {
	t := time.NewTicker(costEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.record(w.sample(now))
		}
	}
}

// sample reads the counters.
func (w *costWindow) sample(now time.Time) requestSample {
	return requestSample{at: now, tasks: w.tasks(), requests: readRequests(w.counter)}
}

// record keeps s, dropping the oldest sample when the ring is full.
func (w *costWindow) record(s requestSample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ring[w.next] = s
	w.next = (w.next + 1) % len(w.ring)
	w.n = min(w.n+1, len(w.ring))
}

// samples are the samples held, oldest first.
func (w *costWindow) samples() []requestSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]requestSample, 0, w.n)
	for i := range w.n {
		out = append(out, w.ring[(w.next-w.n+i+len(w.ring))%len(w.ring)])
	}
	return out
}

// Window is what was sent over the last hour up to now, from the
// counters read now.
func (w *costWindow) Window(now time.Time) RequestWindow {
	return windowOf(w.samples(), w.sample(now), costSpan)
}

// windowOf is the requests and tasks between the oldest of past (oldest
// first) at most span before cur and cur; when all are older (the sampler
// fell behind), from the newest of them: the window closest to span.
func windowOf(past []requestSample, cur requestSample, span time.Duration) RequestWindow {
	w := RequestWindow{From: cur.at, To: cur.at}
	if len(past) == 0 {
		return w
	}
	base := past[len(past)-1]
	for _, s := range past {
		if !s.at.Before(cur.at.Add(-span)) {
			base = s
			break
		}
	}
	w.From = base.at
	if cur.tasks > base.tasks {
		w.Tasks = cur.tasks - base.tasks
	}
	for k, v := range cur.requests {
		// A series not in the base sample appeared since: all its
		// requests are in the window.
		if d := v - min(v, base.requests[k]); d > 0 {
			w.ByOp = append(w.ByOp, OpRequests{Op: k.op, Purpose: k.purpose, Requests: d})
			w.Requests += d
		}
	}
	sort.Slice(w.ByOp, func(i, j int) bool {
		a, b := w.ByOp[i], w.ByOp[j]
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		return a.Purpose < b.Purpose
	})
	return w
}

// readRequests is every series of the counter now.
func readRequests(c *prometheus.CounterVec) map[opPurpose]uint64 {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	out := map[opPurpose]uint64{}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		var k opPurpose
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case "op":
				k.op = l.GetValue()
			case "purpose":
				k.purpose = l.GetValue()
			}
		}
		out[k] = uint64(d.GetCounter().GetValue())
	}
	return out
}
