package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/atomicfile"
	"github.com/brisk-containers/brisk/internal/backoff"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// journalDir, under spool_dir, holds one record per batch being stored:
// its key, its trailer's CRC and its entries. A batcher that dies between
// storing a batch and removing its entries finds there, at its next start,
// which entries are stored already (their batch is in the store, with
// that CRC): they are removed, not batched twice.
const journalDir = ".batches"

// Batcher is brisk-logd's shipper under batch mode: it gathers finished
// spool entries into batches and stores each with one conditional PUT.
type Batcher struct {
	st       store.Conditional
	where    string
	prefix   string
	node     string
	spoolDir string
	cfg      config.Batch
	maxLogs  int
	backoff  backoff.Policy
	poll     time.Duration
	attempt  time.Duration
	now      func() time.Time
	observe  func(Result)
	probed   func()
	handed   chan string
	kick     chan struct{}

	open     *Builder
	openDirs map[string]*spool.Claim
	openAt   time.Time             // the first log's arrival: the batch is sealed interval after
	reserved map[string]bool       // entries of batches journalled and not settled
	sealed   *sealed               // stored by no attempt yet
	retryAt  time.Time             // of sealed
	entryTry map[string]entryRetry // logs too large for a batch whose upload failed
	// journalAt is when journal records the store could not settle are
	// looked at again; journalTries how many times they were.
	journalAt    time.Time
	journalTries int
}

// Result is one attempt to store a batch, or a log too large for one.
type Result struct {
	Key      string
	Entries  []Entry
	Bytes    int
	Attempts int // failed attempts before this one
	Took     time.Duration
	Err      error // nil: stored, and its entries left the spool
	// Quarantined lists entries that can never ship, set aside.
	Quarantined []string
}

// entryRetry is when a log stored alone is tried again.
type entryRetry struct {
	attempts int
	next     time.Time
}

// sealed is a batch ready to store.
type sealed struct {
	key      string
	body     []byte
	crc      uint32
	claims   []*spool.Claim
	entries  []Entry
	attempts int
	journal  string
}

// journalRecord is one file of journalDir.
type journalRecord struct {
	Key     string   `json:"key"`
	CRC     uint32   `json:"crc32c"`
	Entries []string `json:"entries"`
}

// Opt configures a Batcher.
type Opt func(*Batcher)

// WithObserver has fn called after each attempt to store a batch.
func WithObserver(fn func(Result)) Opt { return func(b *Batcher) { b.observe = fn } }

// WithProbed has fn called once the store passed the probe for
// conditional writes (Probe): what else relies on them, the compactor,
// starts then.
func WithProbed(fn func()) Opt { return func(b *Batcher) { b.probed = fn } }

// WithPoll sets how often the spool is looked over for entries not handed
// over (their shim died, or the hand-off was lost).
func WithPoll(d time.Duration) Opt { return func(b *Batcher) { b.poll = d } }

// WithBackoff sets the wait between failed attempts to store a batch.
func WithBackoff(min, max time.Duration) Opt {
	return func(b *Batcher) { b.backoff = backoff.Policy{Min: min, Max: max} }
}

// WithClock sets the batcher's clock: the time in batch keys.
func WithClock(now func() time.Time) Opt { return func(b *Batcher) { b.now = now } }

// WithAttemptTimeout bounds each attempt to store a batch.
func WithAttemptTimeout(d time.Duration) Opt { return func(b *Batcher) { b.attempt = d } }

// New is the batcher of logs' spool, storing batches in st (where names
// it in errors) under logs.s3.prefix, as node.
func New(st store.Conditional, where string, logs config.Logs, node string, opts ...Opt) *Batcher {
	b := &Batcher{
		st: st, where: where, prefix: logs.S3.Prefix, node: node, spoolDir: logs.SpoolDir, cfg: logs.Batch,
		backoff: backoff.Policy{Min: time.Second, Max: time.Minute}, poll: time.Second, now: time.Now,
		observe: func(Result) {}, probed: func() {}, handed: make(chan string, 1024), kick: make(chan struct{}, 1),
		openDirs: map[string]*spool.Claim{}, reserved: map[string]bool{}, entryTry: map[string]entryRetry{},
	}
	b.maxLogs = min(MaxHashes(b.prefix, node), 64)
	for _, o := range opts {
		o(b)
	}
	return b
}

// Handoff has the batcher take the entry in dir, which its shim finished.
// A dir that is no entry of the spool makes a look over the spool.
func (b *Batcher) Handoff(dir string) {
	if !spool.IsEntryOf(b.spoolDir, dir) {
		b.Kick()
		return
	}
	select {
	case b.handed <- dir:
	default:
		b.Kick()
	}
}

// Kick has the batcher look over the spool now.
func (b *Batcher) Kick() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Serve batches until ctx ends: it makes sure the store honours
// conditional writes (refusing to run, with ErrNoConditionalWrites, if it
// does not), takes the spool's lease (waiting while another process holds
// it), settles the batches a previous run left half stored, then batches what
// shims hand over and what a look over the spool finds.
func (b *Batcher) Serve(ctx context.Context) error {
	if b.maxLogs < 1 {
		return fmt.Errorf("logs.s3.prefix %q: too long for a batch key to hold any ID hash", b.prefix)
	}
	// The probe comes first: a store without conditional writes is
	// refused at start, also while spool_dir does not exist yet (no task
	// ran on this node), when the spool's lease waits.
	for attempt := 1; ; attempt++ {
		err := Probe(ctx, b.st, b.prefix, b.node, b.where)
		if err == nil {
			break
		}
		if errors.Is(err, ErrNoConditionalWrites) {
			return err
		}
		log.G(ctx).WithError(err).Warn("batch mode: cannot reach the store to probe it; logs wait in the spool")
		b.observe(Result{Err: err, Attempts: attempt - 1})
		if !backoff.Sleep(ctx, b.backoff.Delay(attempt)) {
			return ctx.Err()
		}
	}
	b.probed()
	lease, err := b.takeLease(ctx)
	if err != nil {
		return err
	}
	defer lease.Release()
	log.G(ctx).WithFields(log.Fields{"store": b.where, "interval": time.Duration(b.cfg.Interval), "max_logs": b.maxLogs}).Info("batch mode: storing logs in batches")
	b.loadJournal(ctx)
	defer b.releaseOpen()

	poll := time.NewTimer(0)
	defer poll.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case dir := <-b.handed:
			b.add(ctx, dir)
		case <-b.kick:
			b.look(ctx)
		case <-poll.C:
			b.look(ctx)
			if err := spool.Sweep(b.spoolDir); err != nil {
				log.G(ctx).WithError(err).Warn("sweep the spool")
			}
			poll.Reset(b.poll)
		case <-wake.C:
		}
		b.step(ctx)
		wake.Reset(b.nextWake())
	}
}

func (b *Batcher) takeLease(ctx context.Context) (*spool.Lease, error) {
	for {
		l, err := spool.TryLease(b.spoolDir)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, spool.ErrLocked) && !errors.Is(err, spool.ErrNoSpool) {
			log.G(ctx).WithError(err).WithField("spool_dir", b.spoolDir).Warn("take the spool's shipping lease")
		}
		if !backoff.Sleep(ctx, b.poll) {
			return nil, ctx.Err()
		}
	}
}

// step settles journals not yet settled, stores the sealed batch when due,
// and seals the open batch when full or old enough.
func (b *Batcher) step(ctx context.Context) {
	if len(b.reserved) > 0 && b.sealed == nil && !b.now().Before(b.journalAt) {
		b.loadJournal(ctx)
	}
	if b.sealed != nil {
		if b.now().Before(b.retryAt) {
			return
		}
		b.store(ctx)
		if b.sealed != nil {
			return
		}
	}
	if b.open == nil || b.open.Count() == 0 {
		return
	}
	if b.open.Count() >= b.maxLogs || b.open.Len() >= int(b.cfg.MaxBytes) || !b.now().Before(b.openAt.Add(time.Duration(b.cfg.Interval))) {
		b.seal(ctx)
		b.store(ctx)
	}
}

// nextWake is how long until step has something to do.
func (b *Batcher) nextWake() time.Duration {
	switch {
	case b.sealed != nil:
		return max(time.Millisecond, b.retryAt.Sub(b.now()))
	case b.open != nil && b.open.Count() > 0:
		return max(time.Millisecond, b.openAt.Add(time.Duration(b.cfg.Interval)).Sub(b.now()))
	}
	return time.Hour
}

// look adds the entries the spool holds and no live shim owns.
func (b *Batcher) look(ctx context.Context) {
	if b.sealed != nil {
		return // the store fails: entries wait in the spool
	}
	dirs, err := spool.Pending(b.spoolDir)
	if err != nil {
		log.G(ctx).WithError(err).Warn("batch mode: list the spool")
		return
	}
	for _, dir := range dirs {
		if b.sealed != nil {
			return
		}
		b.add(ctx, dir)
		b.step(ctx)
	}
}

// add claims the entry in dir and adds its log to the open batch, or
// stores it alone when it is too large for one.
func (b *Batcher) add(ctx context.Context, dir string) {
	if b.sealed != nil || b.openDirs[dir] != nil || b.reserved[dir] {
		return
	}
	if r, ok := b.entryTry[dir]; ok && b.now().Before(r.next) {
		return
	}
	claim, err := spool.Lock(dir)
	if err != nil {
		return // owned by a live shim (ErrLocked), or gone: not ours
	}
	m, err := spool.ReadMeta(dir)
	if err == nil && m.Run == "" {
		m.Run = spool.LegacyRun(m)
	}
	var member []byte
	if err == nil {
		member, err = b.compress(dir, m)
	}
	if err != nil {
		if permanent(err) {
			b.quarantine(ctx, claim, err)
		} else {
			log.G(ctx).WithError(err).WithField("entry", dir).Warn("batch mode: read a spool entry")
			claim.Release()
		}
		return
	}
	if m.State != spool.StateDone {
		m.Complete = false // its shim died before the end
	}
	if int64(len(member)) > int64(b.cfg.StandaloneOver) {
		b.addLarge(ctx, claim, m, member)
		return
	}
	b.opened(dir, claim).Add(m, member)
}

// opened is the open batch, opened for the entry in dir (claimed) if none
// is: the interval runs from its first entry.
func (b *Batcher) opened(dir string, claim *spool.Claim) *Builder {
	if b.open == nil {
		b.open = &Builder{}
	}
	if b.open.Count() == 0 {
		b.openAt = b.now()
	}
	b.openDirs[dir] = claim
	return b.open
}

func (b *Batcher) compress(dir string, m spool.Meta) ([]byte, error) {
	lr, err := spool.OpenLog(dir, m)
	if err != nil {
		return nil, err
	}
	defer lr.Close()
	return Compress(m, lr)
}

// permanent: an entry no retry can read (no meta.json, none that parses,
// no log).
func permanent(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.Is(err, fs.ErrNotExist) || errors.As(err, &syntax) || errors.As(err, &typ)
}

func (b *Batcher) quarantine(ctx context.Context, c *spool.Claim, why error) {
	dir := c.Dir()
	if err := c.Quarantine(why.Error()); err != nil {
		log.G(ctx).WithError(errors.Join(why, err)).WithField("entry", dir).Error("batch mode: entry can never ship, and cannot be quarantined")
		c.Release()
		return
	}
	log.G(ctx).WithError(why).WithField("entry", dir).Error("batch mode: entry can never ship: quarantined (briskctl flush lists it)")
	b.observe(Result{Quarantined: []string{dir}})
}

// addLarge stores a log too large for a batch as its own object, and adds
// the batch entry that points to it. If the batch is lost after, the
// object stays unindexed and the entry, still in the spool, is stored
// again: never found twice.
func (b *Batcher) addLarge(ctx context.Context, claim *spool.Claim, m spool.Meta, member []byte) {
	dir := claim.Dir()
	key := LargeKey(b.prefix, b.node, b.now())
	start := b.now()
	actx, cancel := b.attemptContext(ctx)
	_, err := b.st.Create(store.WithPurpose(actx, store.PurposeBatch), key, member)
	cancel()
	if err != nil {
		claim.Release()
		r := b.entryTry[dir]
		r.attempts++
		r.next = b.now().Add(b.backoff.Delay(r.attempts))
		b.entryTry[dir] = r
		b.observe(Result{Key: key, Bytes: len(member), Took: b.now().Sub(start), Err: fmt.Errorf("store the log of %s/%s run %s alone as %s in %s: %w", m.Namespace, m.ID, m.Run, key, b.where, err)})
		return
	}
	delete(b.entryTry, dir)
	b.opened(dir, claim).AddObject(m, key)
}

func (b *Batcher) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.attempt > 0 {
		return context.WithTimeout(ctx, b.attempt)
	}
	return context.WithCancel(ctx)
}

// seal closes the open batch and journals it.
func (b *Batcher) seal(ctx context.Context) {
	now := b.now()
	body, crc, err := b.open.Seal(b.node, now)
	if err != nil { // a trailer that does not encode: not seen in practice
		log.G(ctx).WithError(err).Error("batch mode: seal a batch")
		b.releaseOpen()
		return
	}
	s := &sealed{body: body, crc: crc, entries: b.open.Entries()}
	for dir, c := range b.openDirs {
		s.claims = append(s.claims, c)
		b.reserved[dir] = true
	}
	s.key = BatchKey(b.prefix, b.node, now, hashesOf(s.entries))
	// Named by the batch's time, node and nonce: its key, with a hash per
	// log, is too long for a file name.
	s.journal = filepath.Join(b.spoolDir, journalDir, journalName(b.prefix, s.key)+".json")
	b.open, b.openDirs = nil, map[string]*spool.Claim{}
	if err := b.writeJournal(s); err != nil {
		log.G(ctx).WithError(err).Warn("batch mode: journal a batch (a crash before its entries leave the spool would store them twice)")
	}
	b.sealed, b.retryAt = s, now
}

func hashesOf(entries []Entry) []string {
	hs := make([]string, len(entries))
	for i, e := range entries {
		hs[i] = IDHash(e.Meta.Namespace, e.Meta.ID)
	}
	return hs
}

func (b *Batcher) writeJournal(s *sealed) error {
	rec := journalRecord{Key: s.key, CRC: s.crc}
	for _, c := range s.claims {
		rec.Entries = append(rec.Entries, c.Dir())
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.journal), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.journal, data, 0o600)
}

// store makes one attempt to store the sealed batch. An attempt after a
// failed one first looks whether the failed one landed after all (a
// timeout after the store took the batch): if it did, the batch is
// stored; if nothing is there, it is stored under a new key with the
// current time, so that the compactor's listing, which looks back a few
// minutes only, still finds it.
func (b *Batcher) store(ctx context.Context) {
	s := b.sealed
	start := b.now()
	actx, cancel := b.attemptContext(store.WithPurpose(ctx, store.PurposeBatch))
	defer cancel()
	err := b.put(actx, s)
	res := Result{Key: s.key, Entries: s.entries, Bytes: len(s.body), Attempts: s.attempts, Took: b.now().Sub(start), Err: err}
	if err != nil {
		s.attempts++
		b.retryAt = b.now().Add(b.backoff.Delay(s.attempts))
		l := log.G(ctx).WithError(err).WithFields(log.Fields{"key": s.key, "logs": len(s.entries), "attempts": s.attempts, "next": b.retryAt})
		if s.attempts == 1 {
			l.Warn("batch mode: batch not stored; retried with back-off, its logs wait in the spool")
		} else {
			l.Debug("batch mode: batch not stored; retried with back-off")
		}
		b.observe(res)
		return
	}
	b.settle(ctx, s.journal, s.claims)
	b.sealed = nil
	b.observe(res)
}

func (b *Batcher) put(ctx context.Context, s *sealed) error {
	if s.attempts > 0 {
		switch ours, err := b.landed(ctx, s.key, s.crc); {
		case err != nil:
			return err
		case ours:
			return nil
		default:
			if err := b.rekey(s); err != nil {
				return err
			}
		}
	}
	_, err := b.st.Create(ctx, s.key, s.body)
	if !errors.Is(err, store.ErrExists) {
		if err != nil {
			return fmt.Errorf("store batch %s in %s: %w", s.key, b.where, err)
		}
		return nil
	}
	// Another object under a key with a random part: a retry of ours
	// that the store took, or a stranger (two daemons with one node
	// name). The trailer's CRC tells.
	if ours, err := b.landed(ctx, s.key, s.crc); err != nil || ours {
		return err
	}
	if err := b.rekey(s); err != nil {
		return err
	}
	if _, err := b.st.Create(ctx, s.key, s.body); err != nil {
		return fmt.Errorf("store batch %s in %s: %w", s.key, b.where, err)
	}
	return nil
}

// landed says whether key holds our batch (its footer names crc);
// false when it holds nothing or another batch.
func (b *Batcher) landed(ctx context.Context, key string, crc uint32) (bool, error) {
	o, err := b.st.ReadRange(ctx, key, -FooterSize, 0)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look whether batch %s is in %s: %w", key, b.where, err)
	}
	f, err := parseFooter(o.Body)
	return err == nil && f.crc == crc, nil
}

// rekey gives s a new key, at the current time, and journals it.
func (b *Batcher) rekey(s *sealed) error {
	now := b.now()
	s.key = BatchKey(b.prefix, b.node, now, hashesOf(s.entries))
	return b.writeJournal(s)
}

// settle removes the entries of a stored batch from the spool, then its
// journal record.
func (b *Batcher) settle(ctx context.Context, journal string, claims []*spool.Claim) {
	for _, c := range claims {
		dir := c.Dir()
		if err := c.Remove(); err != nil {
			log.G(ctx).WithError(err).WithField("entry", dir).Warn("batch mode: remove a stored entry from the spool")
		}
		c.Release()
		delete(b.reserved, dir)
	}
	if err := os.Remove(journal); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.G(ctx).WithError(err).Warn("batch mode: remove a batch's journal record")
	}
}

// loadJournal settles what a previous run journalled: a batch found in the
// store with its CRC was stored, and its entries leave the spool; a batch
// not found was not, and its entries are batched again. While the store
// cannot tell, the entries stay reserved: never batched twice.
func (b *Batcher) loadJournal(ctx context.Context) {
	dir := filepath.Join(b.spoolDir, journalDir)
	names, _ := os.ReadDir(dir)
	b.reserved = map[string]bool{}
	for _, n := range names {
		path := filepath.Join(dir, n.Name())
		if !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		var rec journalRecord
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		if err != nil {
			log.G(ctx).WithError(err).WithField("journal", path).Warn("batch mode: unreadable journal record removed; its entries are batched again")
			_ = os.Remove(path)
			continue
		}
		if b.sealed != nil && b.sealed.journal == path {
			continue
		}
		ours, err := b.landed(store.WithPurpose(ctx, store.PurposeBatch), rec.Key, rec.CRC)
		if err != nil {
			log.G(ctx).WithError(err).WithField("key", rec.Key).Warn("batch mode: cannot tell whether a journalled batch was stored; its entries wait")
			for _, e := range rec.Entries {
				b.reserved[e] = true
			}
			continue
		}
		var claims []*spool.Claim
		if ours {
			for _, e := range rec.Entries {
				if c, err := spool.Lock(e); err == nil {
					claims = append(claims, c)
				}
			}
			log.G(ctx).WithFields(log.Fields{"key": rec.Key, "logs": len(rec.Entries)}).Info("batch mode: a batch stored before a restart: its entries leave the spool")
		}
		b.settle(ctx, path, claims)
	}
	b.journalled()
}

// journalled schedules the next look at the records loadJournal could not
// settle, with back-off.
func (b *Batcher) journalled() {
	if len(b.reserved) == 0 {
		b.journalTries = 0
		return
	}
	b.journalTries++
	b.journalAt = b.now().Add(b.backoff.Delay(b.journalTries))
}

// releaseOpen lets go of the open batch's entries: they stay in the spool.
func (b *Batcher) releaseOpen() {
	for _, c := range b.openDirs {
		c.Release()
	}
	b.open, b.openDirs = nil, map[string]*spool.Claim{}
	if b.sealed != nil {
		for _, c := range b.sealed.claims {
			c.Release()
		}
	}
}
