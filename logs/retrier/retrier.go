// Package retrier ships what the spool holds once its owners let go of it:
// entries a shim handed over at its task's exit, and those left by shims
// that gave up or died. It is the node's one shipper of pending entries, so
// that while S3 is down each is read and uploaded once per back-off period
// for the whole node, whatever the number of shims.
//
// brisk-logd, the node's log daemon, runs Serve and holds the spool's lease
// for its life. A shim's hand-off goes straight to a worker (up to
// WithWorkers ship at once, over the shipper's kept-alive connections); a
// look over the spool every poll finds the rest. Each entry's back-off is
// kept with the entry, so it survives a restart of the daemon.
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
	handed   chan string
	observe  func(Outcome)

	mu       sync.Mutex
	inflight map[string]bool // entries a worker is shipping
}

// Outcome is one attempt to ship an entry, as a pass saw it.
type Outcome struct {
	ship.Outcome
	Attempts int           // failed attempts so far, this one included
	Took     time.Duration // the upload's time
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

// handoffQueue is how many hand-offs wait for a free worker before the
// next ones are left to a look over the spool.
const handoffQueue = 1024

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

// New returns the retrier of spoolDir, shipping with shipper. It looks over
// the spool every second by default.
// An entry's first retry comes a second after a failure, the wait doubling
// to a minute: while S3 is down the node uploads each entry once a minute.
func New(shipper *ship.Shipper, spoolDir string, opts ...Opt) *Retrier {
	r := &Retrier{shipper: shipper, spoolDir: spoolDir, backoff: backoff.Policy{Min: time.Second, Max: time.Minute}, poll: time.Second, workers: 1, now: time.Now,
		kick: make(chan struct{}, 1), handed: make(chan string, handoffQueue), observe: func(Outcome) {}, inflight: map[string]bool{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Serve is the node retrier: it takes the lease (waiting while another
// holds it) and keeps it until ctx ends. Its workers ship entries as they
// are handed over (Handoff), and every poll, or when kicked, it looks over
// the spool for entries due: left by a shim that died, not handed over, or
// past their back-off. An entry is never shipped by two workers at once.
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
		if !backoff.Sleep(ctx, r.poll) {
			return ctx.Err()
		}
	}
	defer lease.Release()
	log.G(ctx).WithFields(log.Fields{"spool_dir": r.spoolDir, "workers": r.workers}).Info("node log retrier running")

	work := make(chan string)
	var wg sync.WaitGroup
	for range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dir := range work {
				r.ship(ctx, lease, dir, spool.ReadRetry(dir))
				r.release(dir)
			}
		}()
	}
	defer func() { close(work); wg.Wait() }()
	// send gives dir to a worker unless one has it already; false once
	// ctx ended.
	send := func(dir string) bool {
		if !r.claim(dir) {
			return true
		}
		select {
		case work <- dir:
			return true
		case <-ctx.Done():
			r.release(dir)
			return false
		}
	}
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case dir := <-r.handed:
			if !send(dir) {
				return ctx.Err()
			}
			continue
		case <-r.kick:
		case <-poll.C:
		}
		for _, dir := range r.due(ctx) {
			if !send(dir) {
				return ctx.Err()
			}
		}
		if err := spool.Sweep(r.spoolDir); err != nil {
			log.G(ctx).WithError(err).Warn("sweep the spool")
		}
		poll.Reset(r.poll)
	}
}

// Handoff has a worker ship the entry in dir as soon as one is free: its
// shim finished it and let go of it. dir must be an entry of this spool;
// anything else makes a look over the spool instead, which finds whatever
// was meant.
func (r *Retrier) Handoff(dir string) {
	if !spool.IsEntryOf(r.spoolDir, dir) {
		r.Kick()
		return
	}
	select {
	case r.handed <- dir:
	default:
		r.Kick() // a burst beyond the queue: the look finds the rest
	}
}

// Kick has Serve look over the spool now rather than at its next poll.
func (r *Retrier) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// claim marks dir as being shipped; false when a worker has it already.
func (r *Retrier) claim(dir string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[dir] {
		return false
	}
	r.inflight[dir] = true
	return true
}

func (r *Retrier) release(dir string) {
	r.mu.Lock()
	delete(r.inflight, dir)
	r.mu.Unlock()
}

// due lists the entries due: never tried, or past their back-off. While
// S3 is down each entry is read and uploaded once per its back-off, for the
// whole node.
func (r *Retrier) due(ctx context.Context) []string {
	dirs, err := spool.Pending(r.spoolDir)
	if err != nil {
		log.G(ctx).WithError(err).Warn("log retrier: list the spool")
		return nil
	}
	var due []string
	for _, dir := range dirs {
		if st := spool.ReadRetry(dir); !r.now().Before(st.Next) {
			due = append(due, dir)
		}
	}
	return due
}

// ship ships one entry, or records when to try it again.
func (r *Retrier) ship(ctx context.Context, lease *spool.Lease, dir string, st spool.RetryState) {
	start := time.Now()
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
	r.observe(Outcome{Outcome: o, Attempts: st.Attempts, Took: time.Since(start)})
}
