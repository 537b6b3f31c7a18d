package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// The tail of a log past max_bytes lives in two segment files beside the
// log rather than in the shim's memory, each holding up to a quarter of
// max_bytes: when the newer is full, the older is emptied and becomes the
// newer. The last quarter to half of max_bytes is kept that way at the cost
// of one write per chunk, a shim serving many chatty containers stays small,
// and a shim killed mid-task leaves the tail on disk for the retrier.

// TailFiles are an entry's tail segments, in no particular order: the one
// written last is the newer.
var TailFiles = [2]string{"tail.0", "tail.1"}

type tailSegment struct {
	f       *os.File
	size    int64 // bytes of records
	content int64 // task bytes they hold
}

type tailFiles struct {
	seg        [2]tailSegment
	active     int
	buf        []byte // records bound for the active segment
	bufContent int64
}

func (e *Entry) openTail() error {
	t := &tailFiles{}
	for i, name := range TailFiles {
		f, err := os.OpenFile(filepath.Join(e.dir, name), os.O_CREATE|os.O_TRUNC|os.O_RDWR|os.O_APPEND, 0o600)
		if err != nil {
			t.close()
			return fmt.Errorf("open tail segment: %w", err)
		}
		t.seg[i].f = f
	}
	e.tailf = t
	return nil
}

// tailRecord adds one record past the head, rotating the segments when the
// active one would pass its share. An empty segment takes any record, so the
// last record is always kept, however long.
func (e *Entry) tailRecord(ts string, stream Stream, tag byte, content []byte, n int64) {
	if e.tailf == nil {
		if err := e.openTail(); err != nil {
			e.lose(n, err)
			return
		}
	}
	t := e.tailf
	if filled := t.seg[t.active].content + t.bufContent; filled > 0 && filled+n > e.max/4 {
		e.flushTail()
		older := &t.seg[1-t.active]
		e.meta.Truncated += older.content
		if err := older.f.Truncate(0); err != nil {
			// It cannot be emptied: what it holds stays, out of order
			// with nothing, but it is counted as dropped above.
			e.lose(0, err)
		}
		older.size, older.content = 0, 0
		t.active = 1 - t.active
	}
	t.buf = appendRecord(t.buf, ts, stream, tag, content)
	t.bufContent += n
}

// flushTail writes the pending tail records to the active segment.
func (e *Entry) flushTail() {
	t := e.tailf
	if t == nil || len(t.buf) == 0 {
		return
	}
	a := &t.seg[t.active]
	if e.put(a.f, &a.size, t.buf, t.bufContent) == nil {
		a.content += t.bufContent
	}
	t.buf, t.bufContent = t.buf[:0], 0
}

// finishTail appends the segments, older first, to the log, freeing each
// once it is copied. meta.json says at every step what the log holds, so
// that a shim dying at any point leaves an entry a retrier ships with each
// tail record once: where the head ends before the first copy, and after
// each copy the log's size and the segments it now holds, before that
// segment is emptied.
func (e *Entry) finishTail(sync bool) error {
	t := e.tailf
	if t == nil {
		return nil
	}
	e.flushTail()
	e.meta.TailFrom = e.size
	if err := writeMeta(e.dir, e.meta, sync); err != nil {
		return err
	}
	if e.meta.Truncated > 0 {
		_ = e.put(e.log, &e.size, Note(e.now(), fmt.Sprintf("%d bytes dropped: max_bytes keeps the head and the tail", e.meta.Truncated)), 0)
	}
	for _, i := range []int{1 - t.active, t.active} {
		s := &t.seg[i]
		if s.size == 0 {
			continue
		}
		_ = e.put(e.log, &e.size, nil, 0) // a marker of output lost before, if any
		if _, err := io.Copy(e.log, io.NewSectionReader(s.f, 0, s.size)); err != nil {
			_ = e.log.Truncate(e.size)
			e.lose(s.content, err)
			continue
		}
		e.size += s.size
		if sync {
			if err := e.log.Sync(); err != nil {
				return err
			}
		}
		e.meta.TailFrom, e.meta.TailCopied = e.size, append(e.meta.TailCopied, TailFiles[i])
		if err := writeMeta(e.dir, e.meta, sync); err != nil {
			return err
		}
		_ = s.f.Truncate(0)
	}
	t.close()
	e.tailf = nil
	e.hadTail = true
	return nil
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

// WholeRecords drops a record cut short at the end of b: the one a shim was
// writing when it died.
func WholeRecords(b []byte) []byte {
	return b[:bytes.LastIndexByte(b, '\n')+1]
}

// ReadTail returns the records in the tail segments an entry's shim left
// when it died before Finish, older segment first, whole records only,
// leaving out the segments named in skip (Meta.TailCopied: already in the
// log).
func ReadTail(dir string, skip ...string) ([]byte, error) {
	type segment struct {
		data []byte
		mod  time.Time
	}
	var segs []segment
	for _, name := range TailFiles {
		if slices.Contains(skip, name) {
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if data = WholeRecords(data); len(data) > 0 {
			segs = append(segs, segment{data, fi.ModTime()})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].mod.Before(segs[j].mod) })
	var out []byte
	for _, s := range segs {
		out = append(out, s.data...)
	}
	return out, nil
}
