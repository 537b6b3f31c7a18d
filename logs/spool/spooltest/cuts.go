// Package spooltest checks a log that max_bytes cut against the output the
// task wrote, as a CRI reader would read it. It is for tests.
package spooltest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/brisk-containers/brisk/logs/spool"
)

// dropped is the note standing where max_bytes dropped output.
var dropped = regexp.MustCompile(`^\[brisk: (\d+) bytes dropped( here)?: `)

// Cuts is what a log keeps of a task's output.
type Cuts struct {
	// Kept is each stream's output as a CRI reader shows it, without the
	// line breaks that close a line at a cut.
	Kept map[spool.Stream][]byte
	// Notes counts the notes of dropped output; Dropped adds up their
	// counts.
	Notes   int
	Dropped int64
	// pieces are, per stream, the runs of output between the notes.
	pieces map[spool.Stream][][]byte
	// closedAtNote are, per stream, the pieces that end with an empty
	// full record right before a note. Such a record closes a line the
	// cut left open, or it is the task's own newline that ended the line
	// just before the cut: a CRI reader shows both alike, and only the
	// note's count tells which (Check).
	closedAtNote map[spool.Stream]map[int]bool
}

// Read reads log as a CRI reader does, and checks what holds whatever the
// task wrote: every line is a record, times never go back, and no line is
// open on any stream where a note stands (a CRI reader would join it with
// the next record of its stream, past the cut).
func Read(log []byte) (Cuts, error) {
	c := Cuts{Kept: map[spool.Stream][]byte{}, closedAtNote: map[spool.Stream]map[int]bool{}}
	if len(log) > 0 && log[len(log)-1] != '\n' {
		return c, errors.New("the log does not end with a whole record")
	}
	pieces := map[spool.Stream][][]byte{spool.Stdout: {nil}, spool.Stderr: {nil}}
	open := map[spool.Stream]bool{}
	var closers []spool.Stream // empty records closing an open line, pending a note
	var last spool.Record
	// The first fault of each kind is reported, so that one fault does
	// not hide another.
	var back, joined error
	for n, line := range bytes.SplitAfter(log, []byte{'\n'}) {
		if len(line) == 0 {
			break
		}
		r, err := spool.ParseRecord(line[:len(line)-1])
		if err != nil {
			return c, fmt.Errorf("record %d: %w", n+1, err)
		}
		if r.Stream != spool.Stdout && r.Stream != spool.Stderr {
			return c, fmt.Errorf("record %d: stream %q", n+1, r.Stream)
		}
		if r.Time.Before(last.Time) && back == nil {
			back = fmt.Errorf("record %d, %q, dated %s, after one dated %s: times go back", n+1, abbrev(line), r.Time, last.Time)
		}
		last = r
		note := r.Stream == spool.Stderr && !r.Partial && bytes.HasPrefix(r.Content, []byte("[brisk: "))
		if !note && !r.Partial && len(r.Content) == 0 && open[r.Stream] {
			closers = append(closers, r.Stream)
			open[r.Stream] = false
			continue
		}
		if note {
			for _, s := range closers {
				if c.closedAtNote[s] == nil {
					c.closedAtNote[s] = map[int]bool{}
				}
				c.closedAtNote[s][len(pieces[s])-1] = true
			}
			closers = nil
			for _, s := range []spool.Stream{spool.Stdout, spool.Stderr} {
				if open[s] && joined == nil {
					joined = fmt.Errorf("record %d: a note while a line is open on %s: a CRI reader joins it with the next %s record, %q", n+1, s, s, abbrev(line))
				}
			}
			m := dropped.FindSubmatch(r.Content)
			if m == nil {
				continue
			}
			count, _ := strconv.ParseInt(string(m[1]), 10, 64)
			c.Notes++
			c.Dropped += count
			for s := range pieces {
				pieces[s] = append(pieces[s], nil)
			}
			continue
		}
		for _, s := range closers { // empty lines of the task's
			pieces[s][len(pieces[s])-1] = append(pieces[s][len(pieces[s])-1], '\n')
		}
		closers = nil
		p := pieces[r.Stream]
		p[len(p)-1] = append(p[len(p)-1], r.Bytes()...)
		open[r.Stream] = r.Partial
	}
	for _, s := range closers {
		pieces[s][len(pieces[s])-1] = append(pieces[s][len(pieces[s])-1], '\n')
	}
	for s, ps := range pieces {
		for _, p := range ps {
			c.Kept[s] = append(c.Kept[s], p...)
		}
	}
	c.pieces = pieces
	return c, errors.Join(back, joined)
}

// Check reads log as CRI records and checks it against written, each
// stream's output as the task wrote it (every run of bytes in it must be
// found once: a counter, not a repeated byte): every line is a record, times
// never go back, no line is open on any stream where a note stands, what
// lies between two notes is one run of the task's output on each stream
// (so a cut is never silent and a CRI reader never joins two lines a cut
// parted), the head and the newest output are kept, and the notes count
// every byte missing.
func Check(log []byte, written map[spool.Stream][]byte) (Cuts, error) {
	c, err := Read(log)
	if c.pieces == nil {
		return c, err
	}
	errs := []error{err}
	var missing, newlinesAtNotes int64
	for _, s := range []spool.Stream{spool.Stdout, spool.Stderr} {
		ps := c.pieces[s]
		out := written[s]
		at := 0 // where the last piece found ends in out
		for i, p := range ps {
			if len(p) == 0 {
				continue
			}
			j := bytes.Index(out[at:], p)
			if j < 0 {
				errs = append(errs, fmt.Errorf("%s between notes %d and %d: %d bytes, %q, are not one run of the output after the last: a cut with no note", s, i, i+1, len(p), abbrev(p)))
				return c, errors.Join(errs...)
			}
			if i == 0 && j != 0 {
				errs = append(errs, fmt.Errorf("%s: the head does not start the output", s))
				return c, errors.Join(errs...)
			}
			missing += int64(j)
			at += j + len(p)
			if c.closedAtNote[s][i] && at < len(out) && out[at] == '\n' {
				newlinesAtNotes++
			}
		}
		if at != len(out) && len(ps[len(ps)-1]) > 0 {
			errs = append(errs, fmt.Errorf("%s: the newest %d bytes are missing", s, len(out)-at))
		}
		missing += int64(len(out) - at)
	}
	// Each empty record before a note that stands where the task wrote a
	// newline may be that newline (kept, not counted as dropped) or a line
	// closed at the cut (the newline dropped with what followed it).
	if missing < c.Dropped || missing > c.Dropped+newlinesAtNotes {
		errs = append(errs, fmt.Errorf("the notes count %d bytes dropped, the log lacks %d (%d of them newlines the log may show as the empty records closing a line before a note)", c.Dropped, missing, newlinesAtNotes))
	}
	return c, errors.Join(errs...)
}

func abbrev(b []byte) string {
	if len(b) > 80 {
		return string(b[:40]) + "..." + string(b[len(b)-37:])
	}
	return string(b)
}
