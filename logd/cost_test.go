package logd

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/store"
)

var (
	put   = opPurpose{"PutObject", store.PurposeBatch}
	lease = opPurpose{"PutObject", store.PurposeLease}
	list  = opPurpose{"ListObjectsV2", store.PurposeList}
	get   = opPurpose{"GetObject", store.PurposeIndex}
)

// at is a sample m minutes after t0.
func at(m float64, tasks uint64, reqs map[opPurpose]uint64) requestSample {
	return requestSample{at: t0.Add(time.Duration(m * float64(time.Minute))), tasks: tasks, requests: reqs}
}

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func TestRequestWindowArithmetic(t *testing.T) {
	// A warm ring: a sample a minute for 61 minutes, 10 tasks and 2
	// batch PUTs and 1 lease PUT a minute.
	var warm []requestSample
	for m := range costSamples {
		warm = append(warm, at(float64(m), uint64(10*m), map[opPurpose]uint64{put: uint64(2 * m), lease: uint64(m)}))
	}
	for _, tc := range []struct {
		name     string
		past     []requestSample
		cur      requestSample
		from     time.Time
		tasks    uint64
		requests uint64
		byOp     []OpRequests
	}{
		{name: "nothing sampled yet", cur: at(5, 3, map[opPurpose]uint64{put: 1}), from: at(5, 0, nil).at},
		{name: "since start: every request since the first sample",
			past: []requestSample{at(0, 0, map[opPurpose]uint64{}), at(1, 4, map[opPurpose]uint64{put: 1})},
			cur:  at(1.5, 6, map[opPurpose]uint64{put: 2, list: 7}),
			from: t0, tasks: 6, requests: 9,
			byOp: []OpRequests{{"ListObjectsV2", "list", 7}, {"PutObject", "batch", 2}}},
		{name: "requests made before the first sample are not in it (the probe is, when sampled first)",
			past: []requestSample{at(0, 0, map[opPurpose]uint64{get: 4})},
			cur:  at(0.5, 1, map[opPurpose]uint64{get: 5, put: 1}),
			from: t0, tasks: 1, requests: 2,
			byOp: []OpRequests{{"GetObject", "index", 1}, {"PutObject", "batch", 1}}},
		{name: "warm, between two ticks: the oldest sample within the hour is the base",
			// now = 60.5 min: the sample at 0 is 60.5 min old, the one at 1 59.5 min.
			past: warm, cur: at(60.5, 605, map[opPurpose]uint64{put: 121, lease: 60}),
			from: at(1, 0, nil).at, tasks: 595, requests: 121 - 2 + 60 - 1,
			byOp: []OpRequests{{"PutObject", "batch", 119}, {"PutObject", "lease", 59}}},
		{name: "warm, on a tick: exactly an hour",
			past: warm, cur: at(60, 600, map[opPurpose]uint64{put: 120, lease: 60}),
			from: t0, tasks: 600, requests: 180,
			byOp: []OpRequests{{"PutObject", "batch", 120}, {"PutObject", "lease", 60}}},
		{name: "a series that appeared within the window counts whole, one that did not move is left out",
			past: []requestSample{at(0, 5, map[opPurpose]uint64{lease: 9})},
			cur:  at(3, 5, map[opPurpose]uint64{lease: 9, get: 2}),
			from: t0, tasks: 0, requests: 2,
			byOp: []OpRequests{{"GetObject", "index", 2}}},
		{name: "the sampler fell behind: from the newest sample, though over an hour old",
			past: []requestSample{at(0, 0, nil), at(1, 10, map[opPurpose]uint64{put: 1})},
			cur:  at(180, 50, map[opPurpose]uint64{put: 5}),
			from: at(1, 0, nil).at, tasks: 40, requests: 4,
			byOp: []OpRequests{{"PutObject", "batch", 4}}},
		{name: "minutes after the start: from the first sample", past: warm[:3], cur: at(2.5, 20, map[opPurpose]uint64{put: 4, lease: 2}), from: t0, tasks: 20, requests: 6,
			byOp: []OpRequests{{"PutObject", "batch", 4}, {"PutObject", "lease", 2}}},
		{name: "idle since the last tick", past: warm[58:], cur: at(60.2, 600, map[opPurpose]uint64{put: 120, lease: 60}),
			from: at(58, 0, nil).at, tasks: 20, requests: 6,
			byOp: []OpRequests{{"PutObject", "batch", 4}, {"PutObject", "lease", 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := windowOf(tc.past, tc.cur, costSpan)
			if !w.From.Equal(tc.from) || !w.To.Equal(tc.cur.at) || w.Tasks != tc.tasks || w.Requests != tc.requests || !reflect.DeepEqual(w.ByOp, tc.byOp) {
				t.Errorf("got from %s to %s, %d tasks, %d requests %+v;\nwant from %s, %d tasks, %d requests %+v",
					w.From.Format(time.TimeOnly), w.To.Format(time.TimeOnly), w.Tasks, w.Requests, w.ByOp,
					tc.from.Format(time.TimeOnly), tc.tasks, tc.requests, tc.byOp)
			}
		})
	}
}

// The ring keeps the last costSamples samples, oldest first, and reads the
// counter's every series.
func TestCostWindowRing(t *testing.T) {
	c := store.NewRequestCounter()
	var tasks uint64
	w := newCostWindow(c, func() uint64 { return tasks }, t0)
	for m := 1; m <= 150; m++ {
		c.WithLabelValues("PutObject", store.PurposeBatch).Add(2)
		if m > 140 {
			c.WithLabelValues("GetObject", store.PurposeRead).Inc()
		}
		tasks += 30
		w.record(w.sample(t0.Add(time.Duration(m) * time.Minute)))
	}
	s := w.samples()
	if len(s) != costSamples || !s[0].at.Equal(t0.Add(90*time.Minute)) || !s[len(s)-1].at.Equal(t0.Add(150*time.Minute)) {
		t.Fatalf("%d samples from %s to %s, want %d from 90 to 150 minutes", len(s), s[0].at, s[len(s)-1].at, costSamples)
	}
	c.WithLabelValues("PutObject", store.PurposeBatch).Add(2)
	tasks += 30
	// Half a minute after the last tick: from the sample at 91 minutes
	// to the counters as they are now.
	got := w.Window(t0.Add(150*time.Minute + 30*time.Second))
	if !got.From.Equal(t0.Add(91*time.Minute)) || got.Tasks != 60*30 || got.Requests != 60*2+10 {
		t.Fatalf("%+v: want from 91 minutes, 1800 tasks, 130 requests", got)
	}
	want := []OpRequests{{"GetObject", "read", 10}, {"PutObject", "batch", 120}}
	if !reflect.DeepEqual(got.ByOp, want) {
		t.Errorf("by op %+v, want %+v", got.ByOp, want)
	}
}

// GET /v1/status on the unix socket carries the requests with
// WithRequests, and none without.
func TestStatusReportsRequests(t *testing.T) {
	cfg := config.DefaultLogs()
	cfg.SpoolDir, cfg.LocalDir = t.TempDir(), t.TempDir()
	cfg.API.Socket = ""
	shipper, err := ship.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := NewShipping(cfg, shipper, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := store.NewRequestCounter()
	for _, tc := range []struct {
		name string
		opts []Opt
		want bool
	}{{"with the counter", []Opt{WithShipping(sh), WithRequests(c)}, true}, {"without", []Opt{WithShipping(sh)}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(context.Background(), cfg, shipper, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			c.WithLabelValues("PutObject", store.PurposeTask).Add(3)
			rec := httptest.NewRecorder()
			srv.routes(true).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/status", nil))
			var st Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatalf("%v: %s", err, rec.Body)
			}
			if !tc.want {
				if st.Requests != nil {
					t.Fatalf("requests without a counter: %s", rec.Body)
				}
				return
			}
			if st.Requests == nil || st.Requests.Requests != 3 || len(st.Requests.ByOp) != 1 || st.Requests.ByOp[0] != (OpRequests{"PutObject", "task", 3}) {
				t.Fatalf("status %s: want 3 PutObject requests for tasks since the server started", rec.Body)
			}
		})
	}
}
