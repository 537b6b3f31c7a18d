//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/log"
)

// maxBatch bounds how many calls share one transaction, so that a call
// arriving during a long queue waits for one commit, not for the queue.
const maxBatch = 64

// writeBatch gives the write transactions of concurrent calls one commit
// (group commit). Every bbolt commit costs two fdatasyncs of the metadata
// file, and bbolt runs one write transaction at a time: fifty containers
// prepared at once otherwise queue for a hundred device flushes, one after
// another, each behind whatever else the root disk is doing (tens of
// milliseconds on a busy node). Calls that arrive while a commit is under way
// wait for it and then share the next one; a call alone commits at once, as
// it always did. Nothing is less durable: every call returns after the
// transaction holding its change is on disk.
//
// A function run in a batch shares the transaction with others, so it must
// be failure-atomic: when it returns an error, the transaction must be as it
// found it. One that cannot take back what it wrote returns errTxDirty, and
// the whole batch is rolled back.
type writeBatch struct {
	ms *storage.MetaStore

	mu      sync.Mutex
	pending []*batchedCall
	leading bool // a caller is running a batch; the first pending call leads the next
	running int  // calls in the batch under way
}

type batchedCall struct {
	ctx context.Context
	fn  storage.TransactionCallback
	err error
	// done receives false once the call's batch is over (err is set), or
	// true when the call is to lead the next batch.
	done chan bool
}

// errTxDirty is what a batched function returns (wrapped) when it failed
// after changing the transaction and could not take the change back: no
// call of its batch may commit then.
var errTxDirty = errors.New("transaction left changed by a failed call")

// update runs fn in a write transaction, possibly shared with concurrent
// callers, and returns fn's error, or the commit's.
func (w *writeBatch) update(ctx context.Context, fn storage.TransactionCallback) error {
	c := &batchedCall{ctx: ctx, fn: fn, done: make(chan bool, 1)}
	w.mu.Lock()
	w.pending = append(w.pending, c)
	if w.leading {
		w.mu.Unlock()
		if lead := <-c.done; !lead {
			return c.err
		}
	} else {
		w.leading = true
		w.mu.Unlock()
	}
	w.lead()
	return c.err
}

// lead runs the next batch, whose first call is the caller's own, then
// hands the lead to the first call that arrived meanwhile.
func (w *writeBatch) lead() {
	w.mu.Lock()
	n := min(len(w.pending), maxBatch)
	batch := append([]*batchedCall(nil), w.pending[:n]...)
	w.pending = append(w.pending[:0:0], w.pending[n:]...)
	w.running = n
	w.mu.Unlock()

	requeue := w.run(batch)

	w.mu.Lock()
	w.running = 0
	w.pending = append(requeue, w.pending...)
	if len(w.pending) > 0 {
		w.pending[0].done <- true
	} else {
		w.leading = false
	}
	w.mu.Unlock()
	for _, c := range batch[1:] {
		if !slices.Contains(requeue, c) {
			c.done <- false
		}
	}
}

// run runs batch in one transaction and sets each call's error. It returns
// the calls it did not get to run because the transaction had to be thrown
// away before them: they are run in the next batch.
func (w *writeBatch) run(batch []*batchedCall) (requeue []*batchedCall) {
	txCtx, tx, err := w.ms.TransactionContext(context.Background(), true)
	if err != nil {
		for _, c := range batch {
			c.err = err
		}
		return nil
	}
	wrote := false
	for i, c := range batch {
		if c.err = c.ctx.Err(); c.err != nil {
			continue
		}
		c.err = runCall(c, txCtx)
		if c.err == nil {
			wrote = true
			continue
		}
		if errors.Is(c.err, errTxDirty) {
			if err := tx.Rollback(); err != nil {
				log.G(c.ctx).WithError(err).Error("failed to roll back a batch of metadata changes")
			}
			for _, done := range batch[:i] {
				if done.err == nil {
					done.err = fmt.Errorf("rolled back with a failed call sharing the transaction (%v): %w", c.err, errTxDirty)
				}
			}
			// Not run yet: nothing of theirs is lost.
			return batch[i+1:]
		}
	}
	if !wrote {
		// Every call failed and took back what it wrote: a commit would
		// cost two fdatasyncs for nothing.
		if err := tx.Rollback(); err != nil {
			log.G(batch[0].ctx).WithError(err).Error("failed to roll back a batch of metadata changes")
		}
		return nil
	}
	if err := tx.Commit(); err != nil {
		for _, c := range batch {
			if c.err == nil {
				c.err = fmt.Errorf("commit failed: %w", err)
			}
		}
	}
	return nil
}

// runCall runs c's function in the shared transaction. A panic there is
// the call's error, and dirties the transaction: what the function wrote
// before it is unknown, and the callers waiting on the batch must not hang.
func runCall(c *batchedCall, txCtx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.G(c.ctx).WithField("stack", string(debug.Stack())).Errorf("panic in a metadata transaction: %v", r)
			err = fmt.Errorf("panic in a metadata transaction: %v: %w", r, errTxDirty)
		}
	}()
	return c.fn(inTx{Context: c.ctx, tx: txCtx})
}

// inTx is a caller's context (its deadline, cancellation, logger,
// namespace) carrying a transaction another call opened. storage finds the
// transaction by a key of its own, which only tx holds: tx is derived from
// an empty context.
type inTx struct {
	context.Context
	tx context.Context
}

func (c inTx) Value(key any) any {
	if v := c.tx.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}
