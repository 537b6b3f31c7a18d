// Package retrier ships what the spool still holds after its owners gave up
// or died: the node's one retrier, so that while S3 is down each pending
// entry is read and uploaded once per back-off period for the whole node,
// whatever the number of shims.
//
// brisk-snapshotter, the node's long-lived daemon, runs Serve and holds the
// spool's lease for its life. Shims run Fallback: while no daemon holds the
// lease, whichever shim gets it makes one pass. Each entry's back-off is
// kept with the entry, so it counts whoever makes the pass.
package retrier

import (
	"context"
	"errors"
	"time"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/internal/backoff"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// Retrier retries the pending entries of one spool.
type Retrier struct {
	shipper  *ship.Shipper
	spoolDir string
	backoff  backoff.Policy
	poll     time.Duration
	now      func() time.Time
}

// Opt configures a Retrier.
type Opt func(*Retrier)

// WithBackoff sets each entry's back-off between failed attempts: min after
// the first, doubling up to max.
func WithBackoff(min, max time.Duration) Opt {
	return func(r *Retrier) { r.backoff = backoff.Policy{Min: min, Max: max} }
}

// WithPoll sets how often the spool is looked over for entries due; a look
// costs a directory listing and a flock per entry, not an upload.
func WithPoll(d time.Duration) Opt { return func(r *Retrier) { r.poll = d } }

// New returns the retrier of spoolDir, shipping with shipper. The daemon
// looks every second by default; a shim passes WithPoll for a slower look.
// An entry's first retry comes a second after a failure, the wait doubling
// to a minute: while S3 is down the node uploads each entry once a minute.
func New(shipper *ship.Shipper, spoolDir string, opts ...Opt) *Retrier {
	r := &Retrier{shipper: shipper, spoolDir: spoolDir, backoff: backoff.Policy{Min: time.Second, Max: time.Minute}, poll: time.Second, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Serve is the node retrier: it takes the lease (waiting while a shim holds
// it for a pass) and keeps it until ctx ends, looking over the spool every
// poll.
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
		r.pass(ctx, lease)
		if !sleep(ctx, r.poll) {
			return ctx.Err()
		}
	}
}

// Fallback is a shim's part while no daemon serves: every poll, a pass if
// the lease is free. It returns when ctx ends.
func (r *Retrier) Fallback(ctx context.Context) {
	for {
		r.TryPass(ctx)
		if !sleep(ctx, r.poll) {
			return
		}
	}
}

// TryPass makes one pass if no one else holds the lease; ran says whether
// it did.
func (r *Retrier) TryPass(ctx context.Context) (res ship.Result, ran bool) {
	lease, err := spool.TryLease(r.spoolDir)
	if err != nil {
		if !errors.Is(err, spool.ErrLocked) && !errors.Is(err, spool.ErrNoSpool) {
			log.G(ctx).WithError(err).WithField("spool_dir", r.spoolDir).Warn("take the log retrier lease")
		}
		return res, false
	}
	defer lease.Release()
	return r.pass(ctx, lease), true
}

// pass attempts the entries that are due: never tried, or past their
// back-off. While S3 is down each entry is read and uploaded once per its
// back-off, for the whole node.
func (r *Retrier) pass(ctx context.Context, lease *spool.Lease) ship.Result {
	var res ship.Result
	dirs, err := spool.Pending(r.spoolDir)
	if err != nil {
		res.Err = err
		log.G(ctx).WithError(err).Warn("log retrier: list the spool")
		return res
	}
	for _, dir := range dirs {
		st := spool.ReadRetry(dir)
		if r.now().Before(st.Next) {
			continue
		}
		o := r.shipper.ShipEntry(ctx, dir)
		res.Entries = append(res.Entries, o)
		l := log.G(ctx).WithField("entry", o.Dir)
		switch o.Status {
		case ship.Shipped:
			l.Info("shipped a pending log")
		case ship.Quarantined:
			l.WithError(o.Err).Error("pending log can never ship: quarantined (briskctl flush lists it)")
		case ship.Failed:
			st.Attempts++
			st.Next = r.now().Add(r.backoff.Delay(st.Attempts))
			if err := lease.WriteRetry(dir, st); err != nil {
				l.WithError(err).Debug("record retry schedule")
			}
			l = l.WithError(o.Err).WithFields(log.Fields{"attempts": st.Attempts, "next": st.Next})
			if st.Attempts == 1 {
				l.Warn("pending log not shipped; retried with back-off")
			} else {
				l.Debug("pending log not shipped; retried with back-off")
			}
		}
	}
	if err := spool.Sweep(r.spoolDir); err != nil {
		log.G(ctx).WithError(err).Warn("sweep the spool")
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
