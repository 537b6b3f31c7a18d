package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/internal/usage"
)

// FsyncPolicy says when the log reaches the disk under spool_dir.
type FsyncPolicy struct {
	Always   bool          // after every write of records
	AtExit   bool          // once, when the task exits
	Interval time.Duration // at most this long after a record
}

// Opt configures an Entry.
type Opt func(*Entry)

// WithMaxBytes bounds the entry's bytes on the spool, records and all, at
// every moment: past it the head (the first half) and the tail (the last
// sixth to third, see tail.go) are kept and the bytes between are counted.
// A record's timestamp, stream and tag count, or a task writing empty lines
// would fill the spool with forty times max_bytes. Each cut closes the lines
// it leaves open and is marked where it is (cut.go).
func WithMaxBytes(n int64) Opt { return func(e *Entry) { e.max = n } }

// WithFsync sets the fsync policy.
func WithFsync(p FsyncPolicy) Opt { return func(e *Entry) { e.fsync = p } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Opt { return func(e *Entry) { e.now = now } }

// Entry is a live log being written.
type Entry struct {
	dir   string
	max   int64
	fsync FsyncPolicy
	now   func() time.Time

	mu       sync.Mutex
	meta     Meta
	log      *os.File
	claim    *Claim
	size     int64     // bytes of records in the file: a failed write is cut back to it
	unmarked int64     // content lost since the last marker in the file
	headFull bool      // past max/2: everything else goes to the tail
	headEnd  time.Time // time of the head's last record
	dropped  int64     // output dropped between the head and the older segment
	tailf    *tailFiles
	// logOpen are the lines open at the end of the log file; batchTags
	// what the records of batch do to them.
	logOpen   openLines
	batchTags tags
	// stamp dates the records of the current Write: the clock, but never
	// before an earlier Write's, so that times in the log never go back.
	stamp   time.Time
	hadTail bool   // segments were appended to the log at Finish
	batch   []byte // records of one Write bound for the file
	prefix  []byte // "TIMESTAMP STREAM " of the records of one Write
	dirty   bool   // written since the last sync
	closed  bool   // log closed (Finish, Release, Discard)
	// finishStep, when set (tests), is called after each step of
	// finishTail that changes the disk: where a crash may cut it short.
	finishStep func()
	ticker     *time.Ticker
	done       chan struct{}
}

// Open creates the entry of a starting run and takes its lock. Every run
// has its own entry, named by m.Run (NewRun when empty): a run never
// truncates, appends to or waits for an earlier run of the same ID, whether
// that one is still running, uploading or waiting for S3.
func Open(spoolDir string, m Meta, opts ...Opt) (*Entry, error) {
	e := &Entry{max: 16 << 20, now: time.Now, fsync: FsyncPolicy{AtExit: true}}
	for _, o := range opts {
		o(e)
	}
	if err := ValidateID(m.ID); err != nil {
		return nil, err
	}
	m.State = StateLive
	if m.Started.IsZero() {
		m.Started = e.now()
	}
	if m.Run == "" {
		m.Run = NewRun(m.Started, m.Pod)
	}
	e.meta = m
	final := EntryDir(spoolDir, m.Namespace, m.ID, m.Run)
	// The entry is made whole under .new, locked, then renamed into place:
	// whoever sees it in the spool sees its meta.json and finds it locked.
	staging, err := os.MkdirTemp(mkdirAll(filepath.Join(spoolDir, newDir)), "")
	if err != nil {
		return nil, fmt.Errorf("create spool entry: %w", err)
	}
	if err := e.create(staging, final); err != nil {
		e.close()
		_ = os.RemoveAll(staging)
		return nil, fmt.Errorf("create spool entry %s: %w", final, err)
	}
	if p := e.fsync.Interval; p > 0 {
		e.ticker = time.NewTicker(p)
		e.done = make(chan struct{})
		go e.syncLoop()
	}
	return e, nil
}

// mkdirAll returns dir after creating it; MkdirTemp reports the failure.
func mkdirAll(dir string) string {
	_ = os.MkdirAll(dir, 0o700)
	return dir
}

func (e *Entry) create(staging, final string) error {
	claim, err := Lock(staging)
	if err != nil {
		return err
	}
	e.claim = claim
	if e.log, err = os.OpenFile(filepath.Join(staging, LogFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	if err := writeMeta(staging, e.meta, false); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	// rename(2) refuses a non-empty target: two runs never share an entry.
	if err := os.Rename(staging, final); err != nil {
		return err
	}
	e.dir, e.claim.dir = final, final
	return nil
}

func (e *Entry) close() {
	if e.log != nil {
		e.log.Close()
	}
	if e.claim != nil {
		e.claim.Release()
	}
}

// Dir is the entry's directory.
func (e *Entry) Dir() string { return e.dir }

// Meta is the entry's metadata as it stands.
func (e *Entry) Meta() Meta {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.meta
}

// Claim is the owner's lock on the entry, to ship it with.
func (e *Entry) Claim() *Claim { return e.claim }

func (e *Entry) syncLoop() {
	for {
		select {
		case <-e.ticker.C:
			e.mu.Lock()
			if e.dirty {
				_ = e.log.Sync()
				e.dirty = false
			}
			e.mu.Unlock()
		case <-e.done:
			return
		}
	}
}

// Write appends p, from stream, as records: one per line, a trailing piece
// without newline as a partial (P) record. It never blocks on anything but
// the local file, so the task it serves never waits for a consumer, and it
// costs one write(2) per call, whatever the number of lines.
func (e *Entry) Write(stream Stream, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if stream == Stdout {
		e.meta.StdoutBytes += int64(len(p))
	} else {
		e.meta.StderrBytes += int64(len(p))
	}
	// The prefix is formatted once per call, not per line.
	e.tick()
	e.prefix = e.stamp.UTC().AppendFormat(e.prefix[:0], time.RFC3339Nano)
	e.prefix = append(append(append(e.prefix, ' '), stream...), ' ')
	e.batch, e.batchTags = e.batch[:0], tags{}
	si := streamIndex(stream)
	var batchContent int64
	skipped := false
	for len(p) > 0 {
		if e.headFull && !skipped {
			skipped = true
			if cut := e.droppable(p); cut > 0 {
				e.meta.Truncated += int64(cut)
				e.dropped += int64(cut)
				p = p[cut:]
				continue
			}
		}
		i := bytes.IndexByte(p, '\n')
		tag, content, n := byte('P'), p, int64(len(p))
		if i >= 0 {
			tag, content, n = 'F', p[:i], int64(i+1)
		}
		p = p[n:]
		if !e.headFull {
			if e.max <= 0 || e.recordSize(content) <= e.headRoom() {
				e.batch = e.appendRecord(e.batch, tag, content)
				e.batchTags[si] = tag
				e.headEnd = e.stamp
				batchContent += n
				continue
			}
			// The head takes what fits of the record that fills it, as a
			// partial record; once one record missed the head, all later
			// ones do too, or the file would be out of order.
			if fit := e.headRoom() - e.recordSize(nil); fit > 0 {
				e.batch = e.appendRecord(e.batch, 'P', content[:int(fit)])
				e.batchTags[si] = 'P'
				e.headEnd = e.stamp
				batchContent += fit
				content, n = content[fit:], n-fit
			}
			e.headFull = true
		}
		e.tailRecord(si, tag, content, n)
	}
	if len(e.batch) > 0 {
		err := e.put(e.log, &e.size, &e.logOpen, e.batch, batchContent)
		if err == nil {
			e.logOpen = e.batchTags.after(e.logOpen)
		}
		e.batchTags = tags{}
		if err != nil {
			e.flushTail()
			return fmt.Errorf("write spool: %w", err)
		}
		e.dirty = true
		if e.fsync.Always {
			e.dirty = false
			if err := e.log.Sync(); err != nil {
				return err
			}
		}
	}
	e.flushTail()
	return nil
}

// droppable is how many bytes at the start of p, past the head, are whole
// records that the records after them in p rotate out of the tail whatever
// the segments hold, as the two segments keep at most two shares: a chunk of
// empty lines is forty times its size in records, most of which would be
// formatted and written only to be dropped.
func (e *Entry) droppable(p []byte) int {
	share := e.tailShare()
	if share <= 0 {
		return 0
	}
	// Most chunks cannot hold two shares of records; the bounds say so
	// without a look at their lines.
	overhead := e.recordSize(nil)
	if int64(len(p))*(overhead+1) < 2*share || int64(len(p))+int64(bytes.Count(p, []byte{'\n'})+1)*overhead < 2*share {
		return 0
	}
	var after int64
	end := bytes.LastIndexByte(p, '\n') + 1
	if end < len(p) { // the trailing partial record
		after += min(e.recordSize(p[end:]), share)
	}
	for end > 0 {
		if after >= 2*share {
			return end
		}
		start := bytes.LastIndexByte(p[:end-1], '\n') + 1
		after += min(e.recordSize(p[start:end-1]), share)
		end = start
	}
	return 0
}

// recordSize is the bytes a record of content takes in the file.
func (e *Entry) recordSize(content []byte) int64 {
	return int64(len(e.prefix) + len("F ") + len(content) + len("\n"))
}

// tick moves stamp to the clock's time, unless the clock went back.
func (e *Entry) tick() {
	if now := e.now(); now.After(e.stamp) {
		e.stamp = now
	}
}

// headOpen is the lines open at the end of the head, with the records of
// the current Write bound for it.
func (e *Entry) headOpen() openLines { return e.batchTags.after(e.logOpen) }

// closeHead closes the lines open at the end of the head: the record of
// the current Write that missed it is cut at its start.
func (e *Entry) closeHead() {
	o := e.headOpen()
	for i, open := range o {
		if open {
			e.batchTags[i] = 'F'
		}
	}
	e.batch = closeLines(e.batch, e.stamp, &o)
	e.saveTail()
}

// headRoom is what the head may still take of max_bytes: half of it.
func (e *Entry) headRoom() int64 { return e.max/2 - e.size - int64(len(e.batch)) }

// appendRecord appends one record of the current Write to b.
func (e *Entry) appendRecord(b []byte, tag byte, content []byte) []byte {
	b = append(b, e.prefix...)
	b = append(b, tag, ' ')
	b = append(b, content...)
	return append(b, '\n')
}

// lose accounts for content the spool could not take (spool_dir full, or
// failing): the task must not wait for the spool, so the bytes are counted
// and the log is marked incomplete.
func (e *Entry) lose(content int64, err error) {
	e.meta.Lost += content
	e.unmarked += content
	if e.meta.LostReason == "" {
		e.meta.LostReason = err.Error()
	}
}

// lossMarker is the record standing where output the spool refused is
// missing.
func (e *Entry) lossMarker() []byte {
	return Note(e.stamp, fmt.Sprintf("%d bytes of output lost here: the spool could not take them: %s", e.unmarked, e.meta.LostReason))
}

// Note is a record of Brisk's own in a task's log, on stderr, where the
// tools that read the log show it in place.
func Note(t time.Time, text string) []byte {
	return fmt.Appendf(nil, "%s stderr F [brisk: %s]\n", t.UTC().Format(time.RFC3339Nano), text)
}

// put writes records holding content task bytes to f, whose records end at
// *size with the lines *open open, after a marker of output lost before
// them: the log says where output is missing, not only that it is. A write
// f refuses is cut back out and its content counted as lost, so the task
// never waits for the spool. The caller applies the records' tags to *open.
func (e *Entry) put(f *os.File, size *int64, open *openLines, records []byte, content int64) error {
	o := *open
	if e.unmarked > 0 {
		records = append(e.lossNote(&o), records...)
	}
	if _, err := f.Write(records); err != nil {
		_ = f.Truncate(*size)
		e.lose(content, err)
		return err
	}
	e.unmarked = 0
	*size += int64(len(records))
	*open = o
	return nil
}

// lossNote is the marker of the output lost since the last one, after
// records closing the lines open in *o: the output lost may have ended them.
func (e *Entry) lossNote(o *openLines) []byte {
	return append(closeLines(nil, e.stamp, o), e.lossMarker()...)
}

// ExitInfo is how the task ended.
type ExitInfo struct {
	Code   int
	Exited time.Time
	Usage  *usage.Layer // nil: not measured
	Stats  map[string]string
}

// Finish writes the kept tail after a marker of what was dropped, syncs per
// policy and marks the entry done with one atomic rename of meta.json. The
// lock stays held until Release, so the owner can ship before a retrier may.
func (e *Entry) Finish(x ExitInfo) (Meta, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopSync()
	sync := e.fsync.AtExit || e.fsync.Always || e.fsync.Interval > 0
	if err := e.finishTail(sync); err != nil {
		return e.meta, err
	}
	// The exit path finishes whatever the spool's state: what it cannot
	// write is counted as lost, not an error.
	e.tick()
	_ = e.put(e.log, &e.size, &e.logOpen, nil, 0) // the marker of what was lost at the end, if any
	if sync {
		if err := e.log.Sync(); err != nil {
			return e.meta, err
		}
	}
	e.closed = true
	if err := e.log.Close(); err != nil {
		return e.meta, err
	}
	e.meta.State = StateDone
	e.meta.Complete = e.meta.Lost == 0
	e.meta.ExitCode = x.Code
	e.meta.Exited = x.Exited
	e.meta.Usage = x.Usage
	e.meta.Stats = x.Stats
	if err := writeMeta(e.dir, e.meta, sync); err != nil {
		return e.meta, err
	}
	// Only now that the entry is done are the segments, appended to the
	// log, no longer needed to recover it.
	e.removeTail()
	return e.meta, nil
}

// Release drops the lock; after a failed upload the entry is then free for
// the retrier.
func (e *Entry) Release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopSync()
	if e.tailf != nil { // Finish was not reached
		e.tailf.close()
		e.tailf = nil
	}
	if e.log != nil && !e.closed {
		e.log.Close()
		e.closed = true
	}
	e.claim.Release()
}

// Discard removes the entry of a run that never started (its create
// failed): there is no log to keep, and nothing must ship for it.
func (e *Entry) Discard() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopSync()
	if e.tailf != nil {
		e.tailf.close()
		e.tailf = nil
	}
	if !e.closed {
		e.log.Close()
		e.closed = true
	}
	err := e.claim.Remove()
	e.claim.Release()
	return err
}

func (e *Entry) stopSync() {
	if e.done != nil {
		e.ticker.Stop()
		close(e.done)
		e.done = nil
	}
}
