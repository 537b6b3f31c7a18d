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

// LogReader is an entry's log as its object holds it, read in place from
// the spool files: the shipper streams it to the store without a copy in
// memory or on the spool. It is sized and seekable, so PutObject can sign
// and rewind it and the upload manager can read its parts in place.
type LogReader struct {
	*io.SectionReader
	files []*os.File
}

// Close closes the spool files it reads.
func (l *LogReader) Close() error {
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// OpenLog opens the log of the entry in dir, whose metadata is m. A done
// entry's log is its log file. A live one's shim died: its log is the whole
// records of the log file up to where the tail began to be appended
// (m.TailFrom, when the shim died in Finish), then the tail segments not yet
// appended (m.TailCopied names those that were), older first. So a shim
// dying at any step of Finish never has a segment shipped twice or lost.
func OpenLog(dir string, m Meta) (_ *LogReader, retErr error) {
	l := &LogReader{}
	defer func() {
		if retErr != nil {
			l.Close()
		}
	}()
	log, size, err := l.open(LogPath(dir))
	if err != nil {
		return nil, err
	}
	if m.State == StateDone {
		l.SectionReader = io.NewSectionReader(log, 0, size)
		return l, nil
	}
	switch {
	case m.TailFrom > 0 && m.TailFrom <= size:
		size = m.TailFrom
	case m.TailFrom == 0 && m.Tail != nil && m.Tail.HeadSize < size:
		// Finish began its note of what was dropped but did not record
		// it: it is written again below.
		size = m.Tail.HeadSize
	}
	// Whatever the dead shim wrote whole is the log; a record cut
	// mid-write is dropped rather than shipped broken.
	if size, err = wholeRecords(log, size); err != nil {
		return nil, err
	}
	parts := []*io.SectionReader{io.NewSectionReader(log, 0, size)}
	newer := ""
	if m.Tail != nil {
		newer = m.Tail.Newer
	}
	tail, err := l.openTail(dir, m.TailCopied, newer)
	if err != nil {
		return nil, err
	}
	if len(tail) > 0 && m.TailFrom == 0 {
		// The shim died before Finish wrote the note of what was
		// dropped between the head and the tail (past TailFrom the log
		// holds it): it is written here as Finish would have, from
		// meta.json as of the last rotation.
		var note []byte
		switch {
		case m.Tail == nil: // an earlier version's shim: no count kept
			note = Note(recordTime(tail[0]), "the shim died before counting the output dropped between the head and the tail (max_bytes)")
		case m.Tail.Dropped > 0:
			o := m.Tail.headOpen()
			note = closeLines(nil, m.Tail.HeadEnd, &o)
			note = append(note, Note(m.Tail.HeadEnd, fmt.Sprintf("%d bytes dropped here: max_bytes keeps the head and the tail (as counted at the last rotation of the tail before the shim died)", m.Tail.Dropped))...)
		}
		parts = append(parts, io.NewSectionReader(bytes.NewReader(note), 0, int64(len(note))))
	}
	l.SectionReader = concat(append(parts, tail...))
	return l, nil
}

func (l *LogReader) open(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	l.files = append(l.files, f)
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// openTail opens the whole records of the tail segments a dead shim left,
// but those already copied to the log, older first: newer names the one
// written last. An earlier version's shim recorded none: it dated the
// retired segment back at each rotation, so its segments are ordered by
// mtime.
func (l *LogReader) openTail(dir string, copied []string, newer string) ([]*io.SectionReader, error) {
	type segment struct {
		r    *io.SectionReader
		name string
		mod  time.Time
	}
	var segs []segment
	for _, name := range TailFiles {
		if slices.Contains(copied, name) {
			continue
		}
		f, size, err := l.open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if size, err = segmentRecords(f, size); err != nil {
			return nil, err
		}
		if size, err = wholeRecords(f, size); err != nil {
			return nil, err
		}
		if size > 0 {
			segs = append(segs, segment{io.NewSectionReader(f, 0, size), name, fi.ModTime()})
		}
	}
	sort.SliceStable(segs, func(i, j int) bool {
		if newer != "" {
			return segs[j].name == newer
		}
		return segs[i].mod.Before(segs[j].mod)
	})
	out := make([]*io.SectionReader, len(segs))
	for i, s := range segs {
		out[i] = s.r
	}
	return out, nil
}

// recordTime is the time of the first record r holds; the clock's when it
// cannot be read.
func recordTime(r io.ReaderAt) time.Time {
	buf := make([]byte, 64)
	n, _ := r.ReadAt(buf, 0)
	if i := bytes.IndexByte(buf[:n], ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(buf[:i])); err == nil {
			return t
		}
	}
	return time.Now()
}

// concat reads parts end to end as one sized, seekable reader.
func concat(parts []*io.SectionReader) *io.SectionReader {
	if len(parts) == 1 {
		return parts[0]
	}
	var size int64
	for _, p := range parts {
		size += p.Size()
	}
	return io.NewSectionReader(sections(parts), 0, size)
}

type sections []*io.SectionReader

func (s sections) ReadAt(p []byte, off int64) (n int, err error) {
	for _, part := range s {
		if len(p) == 0 {
			break
		}
		if off >= part.Size() {
			off -= part.Size()
			continue
		}
		m, err := part.ReadAt(p[:min(int64(len(p)), part.Size()-off)], off)
		n += m
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		p, off = p[m:], 0
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// segmentRecords is the length of what a segment file of size bytes holds
// before its end mark (all of it when it has none): past the mark lie an
// earlier round's records. Read forwards a block at a time.
func segmentRecords(f io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 32<<10)
	var prev byte // the last byte of the block before
	for off := int64(0); off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if n == 0 {
			break
		}
		for j := 0; ; j++ {
			i := bytes.IndexByte(buf[j:n], segmentEnd)
			if i < 0 {
				break
			}
			j += i
			if off+int64(j) == 0 || (j == 0 && prev == '\n') || (j > 0 && buf[j-1] == '\n') {
				return off + int64(j), nil
			}
		}
		prev = buf[n-1]
		off += int64(n)
	}
	return size, nil
}

// wholeRecords is the length of f's first size bytes without the record a
// dead shim left cut short at the end, read backwards a block at a time.
func wholeRecords(f io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 32<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
