// Package retrier ships what the spool still holds after its owners gave up
// or died: the node's one retrier, so that the work of retrying while S3 is
// down is one pass over the spool per back-off period for the whole node,
// whatever the number of shims.
//
// brisk-snapshotter, the node's long-lived daemon, runs Serve and holds the
// spool's lease for its life. Shims run Fallback: while no daemon holds the
// lease, whichever shim finds a pass due takes the lease for that one pass,
// and the back-off kept with the lease counts for all of them.
package retrier

import (
	"context"
	"errors"
	"time"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// Retrier retries the pending entries of one spool.
type Retrier struct {
	shipper  *ship.Shipper
	spoolDir string
	min, max time.Duration
	poll     time.Duration
	now      func() time.Time
}

// Opt configures a Retrier.
type Opt func(*Retrier)

// WithBackoff sets the back-off between passes while some entry fails: it
// starts at min and doubles up to max; max is also the period of passes
// while none fails.
func WithBackoff(min, max time.Duration) Opt {
	return func(r *Retrier) { r.min, r.max = min, max }
}

// WithPoll sets how often a shim looks whether a pass is due, and how often
// the daemon tries for the lease while a shim holds it.
func WithPoll(d time.Duration) Opt { return func(r *Retrier) { r.poll = d } }

// New returns the retrier of spoolDir, shipping with shipper.
func New(shipper *ship.Shipper, spoolDir string, opts ...Opt) *Retrier {
	r := &Retrier{shipper: shipper, spoolDir: spoolDir, min: time.Second, max: time.Minute, poll: 10 * time.Second, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Serve is the node retrier: it takes the lease (waiting while a shim holds
// it for a pass), keeps it until ctx ends, and passes over the spool on the
// schedule.
func (r *Retrier) Serve(ctx context.Context) error {
	var lease *spool.Lease
	for {
		l, err := spool.TryLease(r.spoolDir)
		if err == nil {
			lease = l
			break
		}
		if !errors.Is(err, spool.ErrLocked) && !errors.Is(err, spool.ErrNoSpool) {
			log.G(ctx).WithError(err).WithField("spool_dir", r.spoolDir).Warn("take the log retrier lease")
		}
		if !sleep(ctx, r.poll) {
			return ctx.Err()
		}
	}
	defer lease.Release()
	log.G(ctx).WithField("spool_dir", r.spoolDir).Info("node log retrier running")
	for {
		if !sleep(ctx, lease.State().Due().Sub(r.now())) {
			return ctx.Err()
		}
		r.pass(ctx, lease)
	}
}

// Fallback is a shim's part while no daemon serves: every poll, a pass if
// the lease is free and a pass is due. It returns when ctx ends.
func (r *Retrier) Fallback(ctx context.Context) {
	for {
		r.TryPass(ctx)
		if !sleep(ctx, r.poll) {
			return
		}
	}
}

// TryPass makes one pass if no one else holds the lease and one is due;
// ran says whether it did.
func (r *Retrier) TryPass(ctx context.Context) (res ship.Result, ran bool) {
	lease, err := spool.TryLease(r.spoolDir)
	if err != nil {
		if !errors.Is(err, spool.ErrLocked) && !errors.Is(err, spool.ErrNoSpool) {
			log.G(ctx).WithError(err).WithField("spool_dir", r.spoolDir).Warn("take the log retrier lease")
		}
		return res, false
	}
	defer lease.Release()
	if r.now().Before(lease.State().Due()) {
		return res, false
	}
	return r.pass(ctx, lease), true
}

// pass ships what it can, sweeps what crashes left, and schedules the next
// pass: soon while something fails, doubling; at max while nothing does.
func (r *Retrier) pass(ctx context.Context, lease *spool.Lease) ship.Result {
	res := r.shipper.ShipPending(ctx)
	for _, o := range res.Entries {
		l := log.G(ctx).WithField("entry", o.Dir)
		switch o.Status {
		case ship.Shipped:
			l.Info("shipped a pending log")
		case ship.Quarantined:
			l.WithError(o.Err).Error("pending log can never ship: quarantined (briskctl flush lists it)")
		case ship.Failed:
			l.WithError(o.Err).Debug("pending log not shipped; retried later")
		}
	}
	if res.Err != nil {
		log.G(ctx).WithError(res.Err).Warn("log retrier pass")
	}
	if err := spool.Sweep(r.spoolDir); err != nil {
		log.G(ctx).WithError(err).Warn("sweep the spool")
	}
	st := lease.State()
	next := spool.RetryState{LastPass: r.now(), Backoff: r.max}
	if res.Retryable() {
		next.Failing = true
		next.Backoff = r.min
		if st.Failing {
			next.Backoff = min(max(st.Backoff*2, r.min), r.max)
		}
	}
	if err := lease.Record(next); err != nil {
		log.G(ctx).WithError(err).Warn("record the log retrier's schedule")
	}
	return res
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
