// Package retrier ships what the spool holds once its owners let go of it:
// entries a shim handed over at its task's exit, and those left by shims
// that gave up or died. It is the node's one shipper of pending entries, so
// that while S3 is down each is read and uploaded once per back-off period
// for the whole node, whatever the number of shims.
//
// brisk-logd, the node's log daemon, runs Serve and holds the spool's lease
// for its life; a shim's hand-off Kicks it into a pass at once, which ships
// up to WithWorkers entries at a time over the shipper's kept-alive
// connections. Each entry's back-off is kept with the entry, so it counts
// whoever makes the pass.
package retrier

import (
	"context"
	"errors"
	"sync"
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
	workers  int
	attempt  time.Duration // 0: no deadline but each request's
	now      func() time.Time
	kick     chan struct{}
	observe  func(Outcome)
}

// Outcome is one attempt to ship an entry, as a pass saw it.
type Outcome struct {
	ship.Outcome
	Attempts int           // failed attempts so far, this one included
	Took     time.Duration // the upload's time
	Meta     *spool.Meta   // the entry's metadata as it was shipped; nil when unread
}

// WithWorkers sets how many entries a pass ships at once: a burst of exits
// ships in parallel, over connections the shipper keeps alive.
func WithWorkers(n int) Opt { return func(r *Retrier) { r.workers = max(1, n) } }

// WithAttemptTimeout bounds each attempt to ship one entry, however many
// requests it makes: past it the entry is retried after its back-off.
func WithAttemptTimeout(d time.Duration) Opt { return func(r *Retrier) { r.attempt = d } }

// WithObserver has fn called after each attempt to ship an entry (from the
// worker that made it): for metrics and health.
func WithObserver(fn func(Outcome)) Opt { return func(r *Retrier) { r.observe = fn } }

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
	r := &Retrier{shipper: shipper, spoolDir: spoolDir, backoff: backoff.Policy{Min: time.Second, Max: time.Minute}, poll: time.Second, workers: 1, now: time.Now, kick: make(chan struct{}, 1), observe: func(Outcome) {}}
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
		t := time.NewTimer(r.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-r.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// Kick has Serve make a pass now rather than at its next poll: a shim
// handed an entry over. Kicks during a pass make one more pass after it.
func (r *Retrier) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
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
// back-off, up to r.workers at a time. While S3 is down each entry is read
// and uploaded once per its back-off, for the whole node.
func (r *Retrier) pass(ctx context.Context, lease *spool.Lease) ship.Result {
	var res ship.Result
	dirs, err := spool.Pending(r.spoolDir)
	if err != nil {
		res.Err = err
		log.G(ctx).WithError(err).Warn("log retrier: list the spool")
		return res
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		slot = make(chan struct{}, r.workers)
	)
	for _, dir := range dirs {
		st := spool.ReadRetry(dir)
		if r.now().Before(st.Next) {
			continue
		}
		slot <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slot; wg.Done() }()
			o := r.ship(ctx, lease, dir, st)
			mu.Lock()
			res.Entries = append(res.Entries, o)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := spool.Sweep(r.spoolDir); err != nil {
		log.G(ctx).WithError(err).Warn("sweep the spool")
	}
	return res
}

// ship ships one entry, or records when to try it again.
func (r *Retrier) ship(ctx context.Context, lease *spool.Lease, dir string, st spool.RetryState) ship.Outcome {
	start := time.Now()
	var meta *spool.Meta
	if m, err := spool.ReadMeta(dir); err == nil {
		meta = &m
	}
	actx := ctx
	if r.attempt > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, r.attempt)
		defer cancel()
	}
	o := r.shipper.ShipEntry(actx, dir)
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
	r.observe(Outcome{Outcome: o, Attempts: st.Attempts, Took: time.Since(start), Meta: meta})
	return o
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
