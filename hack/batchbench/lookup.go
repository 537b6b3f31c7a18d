package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/store"
)

// lookupResult is what looking sampled IDs up cost: each lookup finds the
// task's run by its ID alone and reads its log, one after the other, on
// one S3 client (its connections kept alive, as in the node log API).
type lookupResult struct {
	N         int       `json:"n"`
	Latency   []float64 `json:"latency_ms"`
	P50       float64   `json:"p50_ms"`
	P99       float64   `json:"p99_ms"`
	Max       float64   `json:"max_ms"`
	TripsMax  int       `json:"round_trips_max"` // 0: not known on this path
	TripsMean float64   `json:"round_trips_mean"`
	Requests  float64   `json:"requests_mean"`
	ReqMax    float64   `json:"requests_max"`
	NotFound  int       `json:"not_found"`
	Wrong     int       `json:"wrong_log"` // read back, not the task's
}

func (r *lookupResult) finish() {
	r.N = len(r.Latency)
	r.P50, r.P99, r.Max = percentile(r.Latency, 50), percentile(r.Latency, 99), percentile(r.Latency, 100)
}

func (r *lookupResult) err(path string) error {
	if r.NotFound > 0 || r.Wrong > 0 {
		return fmt.Errorf("lookup by ID (%s): %d of %d not found, %d read back wrong", path, r.NotFound, r.NotFound+r.N, r.Wrong)
	}
	return nil
}

// pick is up to n of tasks, at random.
func pick(tasks []task, n int) []task {
	s := append([]task(nil), tasks...)
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s[:min(n, len(s))]
}

// theirs says whether log, read back, is t's: its first line, and every
// line (as records of the CRI log format, one per line).
func theirs(log []byte, t task) bool {
	return bytes.Contains(log, []byte(t.first+"\n")) && bytes.Count(log, []byte("\n")) >= t.lines
}

// lookupBatch looks each sample up by its ID alone in the bucket's index
// (index.Find: the index, then the batches' trailers) and reads its log
// (batch.ReadLog: one ranged read): the round trips and requests are
// Find's Stats, plus the read.
func lookupBatch(ctx context.Context, st store.Conditional, prefix string, sample []task) (*lookupResult, error) {
	res := &lookupResult{}
	trips := 0
	for _, t := range sample {
		start := time.Now()
		hits, stats, err := index.Find(ctx, st, prefix, namespace, t.id, time.Now())
		var hit *index.Hit
		for i := range hits {
			if hits[i].Entry.Meta.Run == t.run {
				hit = &hits[i]
			}
		}
		if hit == nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res.NotFound++
			continue
		}
		_ = err // errors of other candidates: the hit is what counts
		log, err := batch.ReadLog(ctx, st, hit.Batch, hit.Entry)
		took := time.Since(start)
		if err != nil || !theirs(log, t) {
			res.Wrong++
			continue
		}
		res.Latency = append(res.Latency, ms(took))
		n := stats.RoundTrips + 1
		trips += n
		res.TripsMax = max(res.TripsMax, n)
		res.Requests += float64(stats.Requests + 1)
		res.ReqMax = max(res.ReqMax, float64(stats.Requests+1))
	}
	res.finish()
	if res.N > 0 {
		res.TripsMean = float64(trips) / float64(res.N)
		res.Requests /= float64(res.N)
	}
	return res, res.err("index.Find + batch.ReadLog")
}

// lookupShipper looks each sample up as briskctl logs and the node log
// API do: ship.Shipper.RecentRuns (per-task upload: one listing of the
// ID's keys; batch mode: the index, as Find, and that listing beside it),
// then ReadRun (the object, or the run's member of its batch). Requests
// are the bench's own counter, lookup by lookup. Round trips are known
// for per-task upload only, where every request waits for the one before:
// the listing's pages and the read.
func lookupShipper(ctx context.Context, sh *ship.Shipper, reg *prometheus.Registry, mode string, sample []task) (*lookupResult, error) {
	res := &lookupResult{}
	trips := 0
	for _, t := range sample {
		before := total(ownRequests(reg))
		start := time.Now()
		runs, _, _ := sh.RecentRuns(ctx, namespace, t.id)
		var run *ship.Run
		for i := range runs {
			if runs[i].Run == t.run {
				run = &runs[i]
			}
		}
		if run == nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res.NotFound++
			continue
		}
		log, _, err := sh.ReadRun(ctx, *run)
		took := time.Since(start)
		if err != nil || !theirs(log, t) {
			res.Wrong++
			continue
		}
		res.Latency = append(res.Latency, ms(took))
		n := total(ownRequests(reg)) - before
		res.Requests += n
		res.ReqMax = max(res.ReqMax, n)
		if mode == config.UploadTask {
			trips += int(n)
			res.TripsMax = max(res.TripsMax, int(n))
		}
	}
	res.finish()
	if res.N > 0 {
		res.TripsMean = float64(trips) / float64(res.N)
		res.Requests /= float64(res.N)
	}
	return res, res.err("ship.Shipper.RecentRuns + ReadRun")
}
