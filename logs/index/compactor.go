package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/internal/backoff"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/store"
)

// Compactor indexes the batches of one bucket and prefix. Every
// brisk-logd in batch mode runs one; the one holding the lease works, the
// others wait to take over.
type Compactor struct {
	st     store.Conditional
	prefix string
	node   string
	now    func() time.Time
	// cycle is how often new batches are indexed: with the batch
	// interval, it bounds how long after a task's end its log is found
	// by ID alone.
	cycle time.Duration
	ttl   time.Duration // of the lease
	skew  time.Duration // clock difference between nodes tolerated
	// lag is how far back each listing looks for batches: a batch's key
	// holds the time its node sealed it, and it appears in listings once
	// stored, up to an attempt's time later, on a clock up to skew apart.
	lag     time.Duration
	observe func(Cycle)

	lease *lease
	// notBefore: while another daemon holds the lease, it is read again
	// only once it may have lapsed, not every cycle: with a hundred
	// nodes, a read each every cycle would cost as much as the batches.
	notBefore time.Time
	seen      map[string]time.Time // batch keys indexed, by the time in their key
	// catchUp, after a takeover, is where the next listing starts: when
	// the last holder last indexed, less the lag, however long ago.
	catchUp time.Time
	minute  *written // the current minute's object
}

// written is an index object as this compactor last wrote or read it.
type written struct {
	key    string
	period time.Time
	obj    *object
	etag   string // "" when not stored yet
}

// Cycle is what one cycle of the compactor did.
type Cycle struct {
	Leader  bool
	Epoch   int64
	Batches int // newly indexed
	IDs     int
	Rolled  []string // index objects written by roll-ups
	Err     error
}

// CompactorOpt configures a Compactor.
type CompactorOpt func(*Compactor)

// WithCycle sets how often new batches are indexed (default 10 s).
func WithCycle(d time.Duration) CompactorOpt { return func(c *Compactor) { c.cycle = d } }

// WithLeaseTTL sets the lease's time to live (default 45 s): how long a
// dead compactor holds up indexing.
func WithLeaseTTL(d time.Duration) CompactorOpt { return func(c *Compactor) { c.ttl = d } }

// WithSkew sets the clock difference between nodes tolerated (default
// 10 s).
func WithSkew(d time.Duration) CompactorOpt { return func(c *Compactor) { c.skew = d } }

// WithLag sets how far back each listing of new batches looks (default 3
// minutes; at least an attempt to store a batch and the skew).
func WithLag(d time.Duration) CompactorOpt { return func(c *Compactor) { c.lag = d } }

// WithClock sets the compactor's clock (tests of skew).
func WithClock(now func() time.Time) CompactorOpt { return func(c *Compactor) { c.now = now } }

// WithCycleObserver has fn called after each cycle.
func WithCycleObserver(fn func(Cycle)) CompactorOpt { return func(c *Compactor) { c.observe = fn } }

// NewCompactor is the compactor of the batches under prefix in st, run as
// node.
func NewCompactor(st store.Conditional, prefix, node string, opts ...CompactorOpt) *Compactor {
	c := &Compactor{st: st, prefix: prefix, node: node, now: time.Now, cycle: 10 * time.Second,
		ttl: 45 * time.Second, skew: 10 * time.Second, lag: 3 * time.Minute, observe: func(Cycle) {}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Run compacts until ctx ends: every cycle it takes the lease if free or
// lapsed, and, while it holds it, indexes new batches and rolls closed
// periods up.
func (c *Compactor) Run(ctx context.Context) error {
	for {
		res := c.Once(ctx)
		c.observe(res)
		if res.Err != nil && !errors.Is(res.Err, errLost) {
			log.G(ctx).WithError(res.Err).Warn("batch index: compactor cycle failed")
		}
		if !backoff.Sleep(ctx, c.cycle) {
			if c.lease != nil {
				c.release(context.WithoutCancel(ctx))
			}
			return ctx.Err()
		}
	}
}

// Once runs one cycle.
func (c *Compactor) Once(ctx context.Context) Cycle {
	now := c.now()
	if c.lease != nil && !c.lease.valid(now, c.skew) {
		log.G(ctx).WithField("epoch", c.lease.body.Epoch).Warn("batch index: the compactor lease lapsed before it was renewed; it is taken again if free")
		c.lease = nil
	}
	if c.lease == nil {
		if now.Before(c.notBefore) {
			return Cycle{}
		}
		l, held, err := acquire(ctx, c.st, c.prefix, c.node, c.ttl, c.skew, now)
		if err != nil {
			if !held.IsZero() {
				// Look again once it may have lapsed, spread over a
				// cycle so that the candidates do not all ask at once.
				c.notBefore = held.Add(c.skew + time.Duration(rand.Int64N(int64(c.cycle)+1)))
			}
			return Cycle{Err: err}
		}
		c.lease = l
		if err := c.load(ctx, now); err != nil {
			c.lease = nil
			return Cycle{Err: fmt.Errorf("load the index after taking the lease: %w", err)}
		}
		log.G(ctx).WithFields(log.Fields{"epoch": l.body.Epoch, "node": c.node}).Info("batch index: this brisk-logd compacts the bucket's index")
	} else if now.Sub(c.lease.renewed) >= c.ttl/3 {
		if err := c.renew(ctx, now); err != nil {
			return Cycle{Leader: c.lease != nil, Err: err}
		}
	}
	res := Cycle{Leader: true, Epoch: c.lease.body.Epoch}
	if err := c.index(ctx, now, &res); err != nil {
		res.Err = err
		return res
	}
	if err := c.rollUp(ctx, now, &res); err != nil {
		res.Err = err
	}
	return res
}

func (c *Compactor) renew(ctx context.Context, now time.Time) error {
	err := c.lease.renew(ctx, c.st, c.prefix, c.ttl, now)
	if errors.Is(err, errLost) {
		c.lease = nil
	}
	return err
}

// release lets the lease lapse now, so that another daemon takes over
// without waiting for it.
func (c *Compactor) release(ctx context.Context) {
	l := c.lease
	l.body.Expires = c.now().Add(-c.skew)
	_ = l.renew(ctx, c.st, c.prefix, -c.skew, c.now())
	c.lease = nil
}

// load rebuilds what this compactor knows after taking the lease: the
// batches the last minutes' objects hold (so as not to index them twice),
// and the current minute's object.
func (c *Compactor) load(ctx context.Context, now time.Time) error {
	c.seen = map[string]time.Time{}
	c.minute = nil
	c.catchUp = time.Time{}
	from := now.Add(-c.lag)
	if last := c.lease.body.Indexed; !last.IsZero() && last.Add(-c.lag).Before(from) {
		// No compactor ran since last: what was stored meanwhile is
		// listed once, from there on.
		c.catchUp = maxTime(last.Add(-c.lag), now.Add(-Retention))
		from = c.catchUp
	}
	t := tiers[0]
	// The minute objects since then say which batches are indexed
	// already: not indexed twice.
	for p := t.start(now); !p.Before(from.Add(-2 * t.period)); p = p.Add(-t.period) {
		w, err := c.read(ctx, t, p, 0)
		if err != nil {
			return err
		}
		w.obj.each(func(_, key string) {
			if k, ok := batch.ParseKey(c.prefix, key); ok {
				c.seen[key] = k.Sealed
			}
		})
		if p.Equal(t.start(now)) {
			c.minute = w
		}
	}
	if c.lease.body.Rolled == nil {
		c.lease.body.Rolled = map[string]time.Time{}
	}
	for _, t := range tiers[1:] {
		// A new index starts with the current period.
		if _, ok := c.lease.body.Rolled[t.name]; !ok {
			c.lease.body.Rolled[t.name] = t.start(now).Add(-t.period)
		}
	}
	return nil
}

// read reads an index object; an empty one if none is stored.
func (c *Compactor) read(ctx context.Context, t tier, period time.Time, shard int) (*written, error) {
	key := t.key(c.prefix, period, shard)
	o, err := c.st.Read(store.WithPurpose(ctx, store.PurposeIndex), key)
	if errors.Is(err, store.ErrNotFound) {
		return &written{key: key, period: period, obj: newObject(c.lease.body.Epoch)}, nil
	}
	if err != nil {
		return nil, err
	}
	obj, err := decodeObject(c.prefix, o.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return &written{key: key, period: period, obj: obj, etag: o.ETag}, nil
}

// index lists the batches stored since now-lag and adds those not seen
// to the current minute's object.
func (c *Compactor) index(ctx context.Context, now time.Time, res *Cycle) error {
	var fresh []string
	from := now.Add(-c.lag)
	if !c.catchUp.IsZero() && c.catchUp.Before(from) {
		from = c.catchUp
	}
	err := c.st.List(store.WithPurpose(ctx, store.PurposeList), c.prefix+batch.Dir, batch.TimePrefix(c.prefix, from), func(keys []string, _ bool) bool {
		for _, k := range keys {
			if _, ok := c.seen[k]; !ok {
				fresh = append(fresh, k)
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("list new batches: %w", err)
	}
	for k, sealed := range c.seen {
		if sealed.Before(from.Add(-time.Minute)) {
			delete(c.seen, k)
		}
	}
	if len(fresh) == 0 {
		c.indexed(now)
		return nil
	}
	t := tiers[0]
	if c.minute == nil || !c.minute.period.Equal(t.start(now)) {
		c.minute = &written{key: t.key(c.prefix, t.start(now), 0), period: t.start(now), obj: newObject(c.lease.body.Epoch)}
	}
	var added []string
	for _, k := range fresh {
		key, ok := batch.ParseKey(c.prefix, k)
		if !ok {
			continue // not a batch: ignore what else is there
		}
		for _, h := range key.Hashes {
			if c.minute.obj.add(h, k) {
				res.IDs++
			}
		}
		added = append(added, k)
		c.seen[k] = key.Sealed
	}
	if err := c.write(ctx, c.minute); err != nil {
		for _, k := range added {
			delete(c.seen, k) // indexed again next cycle
		}
		return err
	}
	res.Batches = len(added)
	c.indexed(now)
	return nil
}

// indexed records that everything stored up to now-lag is indexed: the
// next renewal of the lease says so, for a daemon taking over.
func (c *Compactor) indexed(now time.Time) {
	c.catchUp = time.Time{}
	c.lease.body.Indexed = now
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// write stores w: created if this compactor has not seen it stored,
// replaced if it holds the version stored. If another version is there,
// it is read and merged (entries are only ever added), unless a later
// epoch wrote it: then this compactor is stale and stops.
func (c *Compactor) write(ctx context.Context, w *written) error {
	ctx = store.WithPurpose(ctx, store.PurposeIndex)
	for try := 0; ; try++ {
		if !c.lease.valid(c.now(), c.skew) {
			c.lease = nil
			return fmt.Errorf("%w: the lease lapsed before %s was written", errLost, w.key)
		}
		w.obj.epoch = c.lease.body.Epoch
		data := w.obj.encode(c.prefix)
		var etag string
		var err error
		if w.etag == "" {
			etag, err = c.st.Create(ctx, w.key, data)
		} else {
			etag, err = c.st.Replace(ctx, w.key, data, w.etag)
		}
		if err == nil {
			w.etag = etag
			return nil
		}
		if !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) || try >= 3 {
			return fmt.Errorf("write index object %s: %w", w.key, err)
		}
		cur, rerr := c.st.Read(ctx, w.key)
		if errors.Is(rerr, store.ErrNotFound) {
			w.etag = ""
			continue
		}
		if rerr != nil {
			return fmt.Errorf("write index object %s: %w", w.key, rerr)
		}
		obj, derr := decodeObject(c.prefix, cur.Body)
		if derr != nil {
			return fmt.Errorf("write index object %s: %w", w.key, derr)
		}
		if obj.epoch > c.lease.body.Epoch {
			epoch := c.lease.body.Epoch
			c.lease = nil
			return fmt.Errorf("%w: epoch %d wrote %s, this compactor's epoch is %d", errLost, obj.epoch, w.key, epoch)
		}
		w.obj.merge(obj)
		w.etag = cur.ETag
	}
}

// rollUp merges each closed period of the finer tiers into the next.
func (c *Compactor) rollUp(ctx context.Context, now time.Time, res *Cycle) error {
	dirty := false
	for i, t := range tiers[1:] {
		finer := tiers[i]
		for {
			next := c.lease.body.Rolled[t.name].Add(t.period)
			if next.Before(now.Add(-Retention)) {
				next = t.start(now.Add(-Retention))
			}
			if now.Before(next.Add(t.period + t.settle)) {
				break
			}
			keys, err := c.roll(ctx, finer, t, next)
			if err != nil {
				if dirty {
					_ = c.renew(ctx, now)
				}
				return fmt.Errorf("roll %s up into %s: %w", next.Format(t.layout), t.name, err)
			}
			res.Rolled = append(res.Rolled, keys...)
			c.lease.body.Rolled[t.name] = next
			dirty = true
		}
	}
	if dirty {
		return c.renew(ctx, now)
	}
	return nil
}

// roll writes the shards of period p of tier t from the finer tier's
// objects.
func (c *Compactor) roll(ctx context.Context, finer, t tier, p time.Time) ([]string, error) {
	var keys []string
	for q := p; q.Before(p.Add(t.period)); q = q.Add(finer.period) {
		for s := range finer.shards {
			keys = append(keys, finer.key(c.prefix, q, s))
		}
	}
	objs, err := fetch(ctx, c.st, c.prefix, keys, store.PurposeIndex)
	if err != nil {
		return nil, err
	}
	shards := make([]*object, t.shards)
	for s := range shards {
		shards[s] = newObject(c.lease.body.Epoch)
	}
	for _, o := range objs {
		o.each(func(h, k string) { shards[shardOf(h, t.shards)].add(h, k) })
	}
	var out []string
	for s, o := range shards {
		if o.size() == 0 {
			continue
		}
		w := &written{key: t.key(c.prefix, p, s), period: p, obj: o}
		if err := c.write(ctx, w); err != nil {
			return out, err
		}
		out = append(out, w.key)
	}
	return out, nil
}

// fetchConcurrency bounds the reads in flight of one fetch.
const fetchConcurrency = 16

// fetch reads the index objects under keys at once; absent ones are
// skipped.
func fetch(ctx context.Context, st store.Conditional, prefix string, keys []string, purpose string) ([]*object, error) {
	ctx = store.WithPurpose(ctx, purpose)
	objs := make([]*object, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, fetchConcurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			o, err := st.Read(ctx, k)
			if errors.Is(err, store.ErrNotFound) {
				return
			}
			if err == nil {
				objs[i], err = decodeObject(prefix, o.Body)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", k, err)
			}
		}()
	}
	wg.Wait()
	var out []*object
	for _, o := range objs {
		if o != nil {
			out = append(out, o)
		}
	}
	return out, errors.Join(errs...)
}
