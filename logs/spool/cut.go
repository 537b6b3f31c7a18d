package spool

import (
	"time"
)

// A CRI reader joins a partial (P) record with the next record of its
// stream. Where max_bytes or a failing spool cuts output out of the log, the
// next record of a stream is another line's: each line left open there is
// closed first with an empty full record, so that no reader joins two
// unrelated lines, and a note on stderr says what was cut. A closed line
// shows as a line break where the cut is; a log nothing was cut from holds
// neither and reads back byte for byte.

// streams are the streams of a record, by streamIndex.
var streams = [2]Stream{Stdout, Stderr}

func streamIndex(s Stream) int {
	if s == Stderr {
		return 1
	}
	return 0
}

// openLines says, per stream, whether a line is open at one point of the
// log: whether the last record of the stream before it is partial.
type openLines [2]bool

// tags is what a run of records does to openLines: per stream (by
// streamIndex), the tag of its last record, 0 when it holds none.
type tags [2]byte

// after is the lines open after the records t stands for, o before them.
func (t tags) after(o openLines) openLines {
	for i, tag := range t {
		if tag != 0 {
			o[i] = tag == 'P'
		}
	}
	return o
}

// then is the tags of t's records followed by u's.
func (t tags) then(u tags) tags {
	for i, tag := range u {
		if tag != 0 {
			t[i] = tag
		}
	}
	return t
}

// closeLines appends to b an empty full record, dated at, for each line open
// in *o, and marks them closed.
func closeLines(b []byte, at time.Time, o *openLines) []byte {
	for i, open := range o {
		if !open {
			continue
		}
		b = at.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(append(append(b, ' '), streams[i]...), " F \n"...)
		o[i] = false
	}
	return b
}

// TailState is what meta.json holds, from when the head is full, for a
// reader of a dead shim's entry to put its head and tail segments together
// as Finish would have.
type TailState struct {
	// Newer is the segment written last: the segments are read older
	// first. A rotation records it before the segment takes a record, so
	// that the order never rests on file times, which a clock stepped back
	// makes lie.
	Newer string `json:"newer"`
	// Dropped is the output dropped between the head and the older
	// segment, as of the last rotation.
	Dropped int64 `json:"dropped,omitempty"`
	// HeadSize is the log's size at the head's end: what Finish writes
	// past it before recording TailFrom, a dead shim's reader writes again.
	HeadSize int64 `json:"head_size"`
	// HeadOpen are the streams whose last record in the head is partial.
	HeadOpen []Stream `json:"head_open,omitempty"`
	// HeadEnd is the time of the head's last record: the notes between
	// the head and the tail are dated then, so that times never go back.
	HeadEnd time.Time `json:"head_end"`
}

func (s *TailState) headOpen() openLines {
	var o openLines
	for _, st := range s.HeadOpen {
		o[streamIndex(st)] = true
	}
	return o
}

func (o openLines) streams() []Stream {
	var out []Stream
	for i, open := range o {
		if open {
			out = append(out, streams[i])
		}
	}
	return out
}
