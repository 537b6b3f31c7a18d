package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/store"
)

// findable times, for sampled tasks, their exit (Finish) to the moment a
// lookup by their ID alone finds them.
//
// Under batch mode that is index.Find. Run for every sampled ID every few
// hundred milliseconds it would cost MinIO (on the same two cores) some
// thousands of GETs a second, so it runs when an index may have changed:
// each time a node's compactor reports a cycle that indexed batches
// (brisk_logd_indexed_batches_total, read from every node every 250 ms,
// and it is only then that an ID becomes findable), and every 30 s
// whatever the counters say. Under per-task upload a run is findable once
// its object is stored, polled every 250 ms with a one-byte read of its
// key.
type findable struct {
	mode    string
	st      *store.S3
	shipper *ship.Shipper
	nodes   []*node
	prefix  string

	// busy is held (read) by every lookup: a snapshot of the counters
	// takes it (write) so that no request of the bench's is in flight,
	// counted by the bench and not yet by MinIO.
	busy sync.RWMutex

	mu      sync.Mutex
	pending map[string]task
	lat     []time.Duration
	finds   int // index.Find calls that found nothing yet
	errs    int
	lastErr error
	wake    chan struct{}
}

func newFindable(mode string, st *store.S3, logs config.Logs, shipper *ship.Shipper, nodes []*node) *findable {
	return &findable{mode: mode, st: st, shipper: shipper, nodes: nodes, prefix: logs.S3.Prefix,
		pending: map[string]task{}, wake: make(chan struct{}, 1)}
}

// add samples t.
func (f *findable) add(t task) {
	f.mu.Lock()
	f.pending[t.id] = t
	f.mu.Unlock()
}

// left is how many sampled tasks are not found yet.
func (f *findable) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// run looks the pending tasks up until ctx ends.
func (f *findable) run(ctx context.Context) {
	if f.mode == config.UploadBatch {
		go f.watchIndex(ctx)
	}
	tick := 250 * time.Millisecond
	if f.mode == config.UploadBatch {
		tick = 30 * time.Second // in case a cycle's count was missed
	}
	t := time.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(tick)
		case <-f.wake:
		}
		f.round(ctx)
	}
}

// watchIndex wakes run when a compactor indexed batches.
func (f *findable) watchIndex(ctx context.Context) {
	last := -1.0
	for {
		sum := 0.0
		for _, n := range f.nodes {
			mfs, err := scrape(ctx, n.metrics)
			if err == nil {
				sum += byLabels(mfs, "brisk_logd_indexed_batches_total", nil)[""]
			}
		}
		if sum != last {
			last = sum
			select {
			case f.wake <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// round looks every pending task up once, four at a time.
func (f *findable) round(ctx context.Context) {
	f.mu.Lock()
	todo := make([]task, 0, len(f.pending))
	for _, t := range f.pending {
		todo = append(todo, t)
	}
	f.mu.Unlock()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, t := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f.busy.RLock()
			found, err := f.lookup(ctx, t)
			f.busy.RUnlock()
			at := time.Now()
			f.mu.Lock()
			defer f.mu.Unlock()
			switch {
			case err != nil && ctx.Err() == nil:
				f.errs++
				f.lastErr = err
			case found:
				if _, ok := f.pending[t.id]; ok {
					delete(f.pending, t.id)
					f.lat = append(f.lat, at.Sub(t.exited))
				}
			default:
				f.finds++
			}
		}()
	}
	wg.Wait()
}

// lookup says whether t is findable now.
func (f *findable) lookup(ctx context.Context, t task) (bool, error) {
	if f.mode == config.UploadBatch {
		hits, _, err := index.Find(ctx, f.st, f.prefix, namespace, t.id, time.Now())
		for _, h := range hits {
			if h.Entry.Meta.Run == t.run {
				return true, nil
			}
		}
		return false, err
	}
	_, err := f.st.ReadRange(ctx, f.shipper.KeyFor(namespace, t.id, t.run), 0, 1)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// result is the latencies found, in ms, and the samples never found.
func (f *findable) result() (lat []float64, missing, errs int, lastErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.lat {
		lat = append(lat, ms(d))
	}
	return lat, len(f.pending), f.errs, f.lastErr
}
