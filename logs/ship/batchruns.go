package ship

import (
	"context"
	"fmt"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/store"
)

// batchRuns are the runs of (namespace, id) in batches, found by the ID
// alone through the bucket's index (nil when the store has no
// conditional reads: local_dir).
func (s *Shipper) batchRuns(ctx context.Context, namespace, id string) ([]Run, error) {
	cs, ok := s.store.(store.Conditional)
	if !ok {
		return nil, nil
	}
	hits, _, err := index.Find(ctx, cs, s.cfg.S3.Prefix, namespace, id, time.Now())
	runs := make([]Run, 0, len(hits))
	for _, h := range hits {
		runs = append(runs, BatchRun(h))
	}
	if err != nil {
		err = fmt.Errorf("look %q up in the batch index of %s: %w", id, s.store, err)
	}
	return runs, err
}

// BatchRun is the run a batch holds.
func BatchRun(h index.Hit) Run {
	return Run{Run: h.Entry.Meta.Run, Key: h.Batch, Batch: &h}
}

// batchMode: runs are stored in batches, and looked up in the index
// alongside the per-task listing.
func (s *Shipper) batchMode() bool { return s.cfg.Upload == config.UploadBatch }

// withBatchRuns adds to rs the runs the batch index finds, looked up at
// the same time as list runs: both are round trips to the store. Under
// per-task upload the index is asked only when list found nothing, for
// logs a node in batch mode stored.
func (s *Shipper) withBatchRuns(ctx context.Context, rs runSet, namespace, id string, list func() error) error {
	if !s.batchMode() {
		if err := list(); err != nil || len(rs) > 0 {
			return err
		}
		// One read says whether the bucket has a batch index at all:
		// a miss in a bucket of per-task objects costs one request,
		// not the index's fifty.
		cs, ok := s.store.(store.Conditional)
		if !ok {
			return nil
		}
		if used, err := index.InUse(ctx, cs, s.cfg.S3.Prefix); err != nil || !used {
			return nil
		}
		runs, _ := s.batchRuns(ctx, namespace, id)
		rs.addRuns(runs)
		return nil
	}
	type result struct {
		runs []Run
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runs, err := s.batchRuns(ctx, namespace, id)
		done <- result{runs, err}
	}()
	lerr := list()
	res := <-done
	rs.addRuns(res.runs)
	if lerr != nil {
		return lerr
	}
	return res.err
}

// ReadRun reads a stored run's log and its metadata (as Metadata makes
// it): its object, or its member of a batch.
func (s *Shipper) ReadRun(ctx context.Context, r Run) ([]byte, map[string]string, error) {
	ctx = store.WithPurpose(ctx, store.PurposeRead)
	if r.Batch == nil {
		return s.store.Get(ctx, r.Key)
	}
	cs, ok := s.store.(store.Conditional)
	if !ok {
		return nil, nil, fmt.Errorf("run %s is in batch %s, which %s cannot read", r.Run, r.Key, s.store)
	}
	log, err := batch.ReadLog(ctx, cs, r.Batch.Batch, r.Batch.Entry)
	if err != nil {
		return nil, nil, err
	}
	return log, Metadata(r.Batch.Entry.Meta), nil
}

// RunsNear lists the runs of (namespace, id) in the batches node ("" any)
// stored within window of around, by listing the batches rather than
// asking the index: how a log is found while no compactor runs. With the
// runs in this node's spool, oldest first.
func (s *Shipper) RunsNear(ctx context.Context, namespace, id, node string, around time.Time, window time.Duration) ([]Run, error) {
	rs, err := s.liveRuns(namespace, id)
	if err != nil {
		return nil, err
	}
	cs, ok := s.store.(store.Conditional)
	if !ok {
		return rs.sorted(), fmt.Errorf("%s holds no batches: --around looks in batches only", s.store)
	}
	hits, _, err := index.FindNear(ctx, cs, s.cfg.S3.Prefix, namespace, id, node, around, window)
	for _, h := range hits {
		rs.addRuns([]Run{BatchRun(h)})
	}
	if err != nil {
		return rs.sorted(), fmt.Errorf("look %q up in the batches of %s around %s: %w", id, s.store, around.Format(time.RFC3339), err)
	}
	return rs.sorted(), nil
}
