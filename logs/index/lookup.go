package index

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/store"
)

// Hit is one run of an ID found in a batch.
type Hit struct {
	Batch string // the batch's key
	Entry batch.Entry
	// Rebuilt: the batch's trailer was corrupt; the run was found from
	// its gzip member's header and carries no metadata beyond its name.
	Rebuilt bool
}

// Stats is what a lookup cost.
type Stats struct {
	RoundTrips int // sequential: reads issued together count once
	Requests   int
	Candidates int      // batches whose key holds the ID's hash
	Corrupt    []string // batches whose trailer failed its CRC
}

// Find finds the runs of (namespace, id) in the batches under prefix by
// the ID alone, oldest first: one round of index reads (the ID's shard of
// each tier's objects over the last 25 hours, together), then one of the
// trailers of the batches they name. Reading a run's log is the third
// round trip (batch.ReadLog).
func Find(ctx context.Context, st store.Conditional, prefix, namespace, id string, now time.Time) ([]Hit, Stats, error) {
	hash := batch.IDHash(namespace, id)
	keys := readKeys(prefix, hash, now)
	st2 := Stats{RoundTrips: 1, Requests: len(keys)}
	objs, err := fetch(ctx, st, prefix, keys, store.PurposeRead)
	cands := map[string]bool{}
	for _, o := range objs {
		for _, k := range o.lookup(hash) {
			cands[k] = true
		}
	}
	if len(cands) == 0 {
		return nil, st2, err
	}
	hits, ferr := inBatches(ctx, st, cands, namespace, id, &st2)
	return hits, st2, errors.Join(err, ferr)
}

// FindNear finds the runs of (namespace, id) in the batches a node
// ("" any) sealed within window of around, by listing them: the way to a
// log while no compactor runs, given where and when the task ran.
func FindNear(ctx context.Context, st store.Conditional, prefix, namespace, id, node string, around time.Time, window time.Duration) ([]Hit, Stats, error) {
	hash := batch.IDHash(namespace, id)
	end := around.Add(window)
	cands := map[string]bool{}
	var stats Stats
	err := st.List(store.WithPurpose(ctx, store.PurposeRead), prefix+batch.Dir, batch.TimePrefix(prefix, around.Add(-window)), func(keys []string, _ bool) bool {
		stats.RoundTrips++
		stats.Requests++
		for _, k := range keys {
			key, ok := batch.ParseKey(prefix, k)
			if !ok {
				continue
			}
			if key.Sealed.After(end) {
				return false
			}
			if node != "" && key.Node != batch.NodeName(node) {
				continue
			}
			for _, h := range key.Hashes {
				if h == hash {
					cands[k] = true
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, stats, fmt.Errorf("list batches around %s: %w", around.Format(time.RFC3339), err)
	}
	if len(cands) == 0 {
		return nil, stats, nil
	}
	hits, err := inBatches(ctx, st, cands, namespace, id, &stats)
	return hits, stats, err
}

// inBatches reads the trailers of the candidate batches at once and keeps
// the runs of (namespace, id), adding what it cost to stats.
func inBatches(ctx context.Context, st store.Conditional, cands map[string]bool, namespace, id string, stats *Stats) ([]Hit, error) {
	ctx = store.WithPurpose(ctx, store.PurposeRead)
	stats.RoundTrips++
	stats.Candidates += len(cands)
	var mu sync.Mutex
	var hits []Hit
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, fetchConcurrency)
	for k := range cands {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			found, rebuilt, err := batch.Find(ctx, st, k, namespace, id)
			mu.Lock()
			defer mu.Unlock()
			stats.Requests++
			if rebuilt {
				stats.Corrupt = append(stats.Corrupt, k)
				stats.Requests++
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("batch %s: %w", k, err))
				return
			}
			for _, e := range found {
				hits = append(hits, Hit{Batch: k, Entry: e, Rebuilt: rebuilt})
			}
		}()
	}
	wg.Wait()
	if len(stats.Corrupt) > 0 {
		stats.RoundTrips++ // the whole batch, read after its trailer
	}
	// One run in two batches (a batch stored twice, which the journal
	// prevents): the first is kept.
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Entry.Meta.Run != hits[j].Entry.Meta.Run {
			return hits[i].Entry.Meta.Run < hits[j].Entry.Meta.Run
		}
		return hits[i].Batch < hits[j].Batch
	})
	out := hits[:0]
	for i, h := range hits {
		if i > 0 && h.Entry.Meta.Run == hits[i-1].Entry.Meta.Run {
			continue
		}
		out = append(out, h)
	}
	return out, errors.Join(errs...)
}
