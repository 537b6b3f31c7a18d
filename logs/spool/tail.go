package spool

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The tail of a log past max_bytes lives in two segment files beside the
// log rather than in the shim's memory, each holding up to a sixth of
// max_bytes: when the newer is full, the older is emptied and becomes the
// newer. The last sixth to third of max_bytes is kept that way at the cost
// of one write per chunk, a shim serving many chatty containers stays small,
// and a shim killed mid-task leaves the tail on disk for the retrier. A sixth,
// not a quarter: when the task exits each segment is copied after the head,
// and the entry, head and both segments and the copy of one, stays within
// max_bytes then too.

// TailFiles are an entry's tail segments, in no particular order: the one
// written last is the newer, which meta.json names (TailState.Newer).
var TailFiles = [2]string{"tail.0", "tail.1"}

// segmentEnd marks where a segment's records end. A segment is overwritten
// in place when it is reused: emptying it would free its pages and the next
// writes allocate them again, which cost a shim writing fast more than the
// copying does. What lies past the mark is an earlier round's. Records never
// hold it after a newline, which a timestamp always follows.
const segmentEnd = 0

type tailSegment struct {
	f       *os.File
	size    int64 // bytes of records
	content int64 // task bytes they hold
	marked  int64 // task bytes cut from them, counted by the notes they hold
	tags    tags  // what its records do to the lines open before it
}

type tailFiles struct {
	seg        [2]tailSegment
	active     int
	buf        []byte // records bound for the active segment
	bufContent int64
	bufTags    tags
}

func (e *Entry) openTail() error {
	t := &tailFiles{}
	for i, name := range TailFiles {
		f, err := os.OpenFile(filepath.Join(e.dir, name), os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
		if err != nil {
			t.close()
			return fmt.Errorf("open tail segment: %w", err)
		}
		t.seg[i].f = f
	}
	e.tailf = t
	e.saveTail()
	return nil
}

// saveTail records in meta.json what a reader of a dead shim's entry needs
// to put the head and the segments together: which segment is the newer,
// what was dropped between and how the head ends. It is written before a
// record lands in a newly active segment. A meta.json the spool refuses (it
// is full) leaves the order last recorded: the records bound for the
// segment are then most likely refused too.
func (e *Entry) saveTail() {
	if e.tailf == nil {
		return
	}
	e.meta.Tail = &TailState{
		Newer:    TailFiles[e.tailf.active],
		Dropped:  e.dropped,
		HeadSize: e.size + int64(len(e.batch)),
		HeadOpen: e.headOpen().streams(),
		HeadEnd:  e.headEnd,
	}
	_ = writeMeta(e.dir, e.meta, e.fsync.Always)
}

// tailStart is the lines open where the older segment starts in the log:
// after the note of what was dropped, none; else the head's.
func (e *Entry) tailStart() openLines {
	if e.dropped > 0 {
		return openLines{}
	}
	return e.headOpen()
}

// activeEnd is the lines open at the end of the active segment, with the
// records bound for it when buffered.
func (e *Entry) activeEnd(buffered bool) openLines {
	t := e.tailf
	o := t.seg[1-t.active].tags.after(e.tailStart())
	o = t.seg[t.active].tags.after(o)
	if buffered {
		o = t.bufTags.after(o)
	}
	return o
}

// tailRecord adds one record past the head, rotating the segments when the
// active one would pass its share, a sixth of max_bytes in records. A
// record longer than a share (a line with no newline in a small max_bytes)
// keeps its newest bytes: the last output is always kept, and no segment
// outgrows its share by more than one record's prefix and the note below.
//
// Such a record is cut at its start: the lines open before it are closed
// there and a note says how much was cut, where it was.
func (e *Entry) tailRecord(si int, tag byte, content []byte, n int64) {
	if e.tailf == nil {
		if err := e.openTail(); err != nil {
			e.lose(n, err)
			return
		}
	}
	t := e.tailf
	share := e.tailShare()
	size := e.recordSize(content)
	over := size - share
	filled := t.seg[t.active].size + int64(len(t.buf))
	switch {
	case filled > 0 && filled+size > share:
		if over > 0 {
			// The segment retired now ends where the cut is. The
			// rotation drops the older one: whatever it held, the
			// note of what was dropped then comes before this one.
			start := e.tailStart()
			if older := t.seg[1-t.active]; older.content+older.marked > 0 {
				start = openLines{}
			}
			o := t.seg[t.active].tags.then(t.bufTags).after(start)
			t.bufTags = t.bufTags.then(closed(o))
			t.buf = closeLines(t.buf, e.stamp, &o)
		}
		e.rotate()
	case over > 0 && filled == 0 && t.seg[1-t.active].size == 0 && e.dropped == 0:
		// The first record of the tail: the head ends where the cut is.
		// (An empty active segment after a rotation is one the spool
		// refused records for: the marker of that loss closes the lines.)
		e.closeHead()
	}
	if over > 0 {
		cut := min(over, int64(len(content)))
		e.meta.Truncated += cut
		content, n = content[cut:], n-cut
		t.buf = append(t.buf, Note(e.stamp, fmt.Sprintf("%d bytes dropped here: max_bytes keeps the end of a line longer than a sixth of it", cut))...)
		t.bufTags[streamIndex(Stderr)] = 'F'
		t.seg[t.active].marked += cut
	}
	t.buf = e.appendRecord(t.buf, tag, content)
	t.bufTags[si] = tag
	t.bufContent += n
}

// closed is the tags of the empty records that close the lines open in o.
func closed(o openLines) tags {
	var t tags
	for i, open := range o {
		if open {
			t[i] = 'F'
		}
	}
	return t
}

// rotate empties the older segment, counting what it held as dropped, and
// makes it the active one.
func (e *Entry) rotate() {
	t := e.tailf
	e.flushTail()
	older := &t.seg[1-t.active]
	e.meta.Truncated += older.content
	e.dropped += older.content + older.marked
	// One byte empties it for a reader; its pages stay for reuse.
	if _, err := older.f.WriteAt([]byte{segmentEnd}, 0); err != nil {
		// It cannot be emptied: what it holds stays, out of order
		// with nothing, but it is counted as dropped above.
		e.lose(0, err)
	}
	*older = tailSegment{f: older.f}
	t.active = 1 - t.active
	e.saveTail()
}

// dropNote is the note standing where max_bytes dropped the output between
// the head and the tail.
func dropNote(at time.Time, n int64) []byte {
	return Note(at, fmt.Sprintf("%d bytes dropped here: max_bytes keeps the head and the tail", n))
}

// tailShare is what one segment holds, in records: a sixth of max_bytes.
func (e *Entry) tailShare() int64 { return e.max / 6 }

// flushTail writes the pending tail records to the active segment.
func (e *Entry) flushTail() {
	t := e.tailf
	if t == nil || len(t.buf) == 0 {
		return
	}
	a := &t.seg[t.active]
	if e.putSegment(a, t.buf, t.bufTags, t.bufContent) == nil {
		a.content += t.bufContent
	}
	t.buf, t.bufContent, t.bufTags = t.buf[:0], 0, tags{}
}

// putSegment writes records holding content task bytes at the end of s's
// records, then moves its end mark past them: everything but their first
// byte and the new mark first, then that byte over the old mark, so that a
// reader (the retrier of a shim killed mid-write) sees the segment before
// or after, never an earlier round's records after new ones. Like put, it
// counts a write the file refuses as lost, after a marker of earlier loss;
// rt is what the records do to the lines open before them.
func (e *Entry) putSegment(s *tailSegment, records []byte, rt tags, content int64) error {
	if e.unmarked > 0 {
		// Only the active segment takes records: the lines open before
		// the marker are those at its end.
		o := e.activeEnd(false)
		rt = closed(o).then(tags{1: 'F'}).then(rt)
		records = append(e.lossNote(&o), records...)
	}
	b := append(records, segmentEnd)
	if _, err := s.f.WriteAt(b[1:], s.size+1); err != nil {
		e.lose(content, err)
		return err
	}
	if _, err := s.f.WriteAt(b[:1], s.size); err != nil {
		e.lose(content, err)
		return err
	}
	e.unmarked = 0
	s.size += int64(len(records))
	s.tags = s.tags.then(rt)
	return nil
}

// finishTail appends the segments, older first, to the log, freeing each
// once it is copied so that the entry stays within max_bytes. meta.json
// records the progress before anything is freed or read twice: TailFrom,
// where the log ends before the segments still to append, and TailCopied,
// the segments already in the log. A shim dying at any step thus leaves a
// log that a retrier reads up to TailFrom, followed by the segments not
// copied: each segment once, none lost.
func (e *Entry) finishTail(sync bool) error {
	t := e.tailf
	if t == nil {
		return nil
	}
	e.flushTail()
	// Output lost and not marked yet is the newest, which the spool has
	// refused since: its marker goes at the end of the log, in Finish.
	pending := e.unmarked
	e.unmarked = 0
	defer func() { e.unmarked += pending }()
	if e.dropped > 0 {
		// Dated as the head's last record, which no tail record comes
		// before; the lines the head leaves open are cut there.
		o := e.logOpen
		rec := closeLines(nil, e.headEnd, &o)
		rec = append(rec, dropNote(e.headEnd, e.dropped)...)
		if e.put(e.log, &e.size, &e.logOpen, rec, 0) == nil {
			e.logOpen = openLines{}
		}
		e.step()
	}
	if err := e.recordTailProgress(sync, ""); err != nil {
		return err
	}
	for _, i := range []int{1 - t.active, t.active} {
		s := &t.seg[i]
		if s.size == 0 {
			continue
		}
		_ = e.put(e.log, &e.size, &e.logOpen, nil, 0) // a marker of output lost before, if any
		if _, err := io.Copy(e.log, io.NewSectionReader(s.f, 0, s.size)); err != nil {
			_ = e.log.Truncate(e.size)
			e.lose(s.content, err)
			continue
		}
		e.size += s.size
		e.logOpen = s.tags.after(e.logOpen)
		e.step()
		if err := e.recordTailProgress(sync, filepath.Base(s.f.Name())); err != nil {
			// Not recorded as copied, the segment must stay: a
			// retrier reads it after TailFrom.
			_ = e.log.Truncate(e.size - s.size)
			e.size -= s.size
			return err
		}
		// Freed before the next is copied: the entry never holds more
		// than one segment twice.
		_ = s.f.Truncate(0)
		e.step()
	}
	t.close()
	e.tailf = nil
	e.hadTail = true
	return nil
}

// recordTailProgress writes to meta.json that the log up to its current
// size holds the head and the segment copied, if any: durable (per sync)
// before that segment is freed.
func (e *Entry) recordTailProgress(sync bool, copied string) error {
	if copied != "" && sync {
		if err := e.log.Sync(); err != nil {
			return err
		}
	}
	m := e.meta
	m.TailFrom = e.size
	if copied != "" {
		m.TailCopied = append(m.TailCopied[:len(m.TailCopied):len(m.TailCopied)], copied)
	}
	if err := writeMeta(e.dir, m, sync); err != nil {
		return err
	}
	e.meta = m
	e.step()
	return nil
}

func (e *Entry) step() {
	if e.finishStep != nil {
		e.finishStep()
	}
}

// removeTail deletes the segments of a done entry.
func (e *Entry) removeTail() {
	if !e.hadTail {
		return
	}
	for _, name := range TailFiles {
		_ = os.Remove(filepath.Join(e.dir, name))
	}
}

func (t *tailFiles) close() {
	for _, s := range t.seg {
		if s.f != nil {
			s.f.Close()
		}
	}
}
