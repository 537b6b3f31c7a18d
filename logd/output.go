package logd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/brisk-containers/brisk/logs/spool"
)

// Body formats of GET /v1/logs.
const (
	// FormatText is the task's output as it wrote it: what curl shows.
	FormatText = "text"
	// FormatCRI is the CRI records as stored: with no filter, the bytes
	// of the stored object.
	FormatCRI = "cri"
	// FormatNDJSON is one JSON object per record, then one for the exit:
	// for the page and briskctl.
	FormatNDJSON = "ndjson"
)

// Trailers of a text or cri answer that reached the task's end.
const (
	TrailerExitCode = "Brisk-Exit-Code"
	TrailerError    = "Brisk-Error"
)

// logQuery is a GET /v1/logs request's choices, as briskctl logs takes them.
type logQuery struct {
	follow     bool
	tail       int // -1: all
	since      time.Time
	stream     spool.Stream
	timestamps bool
	run        string // a run's name, or N (1 the oldest); "" the latest
	format     string
	local      bool // a peer's hop: this node's spool only
}

// parseLogQuery reads q; every error names the parameter and its value.
func parseLogQuery(q url.Values, now time.Time) (logQuery, error) {
	lq := logQuery{tail: -1, format: FormatText, run: q.Get("run")}
	var err error
	bad := func(key, why string) error { return fmt.Errorf("%s=%q: %s", key, q.Get(key), why) }
	if lq.follow, err = flag(q, "follow"); err != nil {
		return lq, err
	}
	if lq.timestamps, err = flag(q, "timestamps"); err != nil {
		return lq, err
	}
	if lq.local, err = flag(q, "local"); err != nil {
		return lq, err
	}
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return lq, bad("tail", "want a number of records, 0 or more")
		}
		lq.tail = n
	}
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			lq.since = t
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			lq.since = now.Add(-d)
		} else {
			return lq, bad("since", "want an RFC 3339 time or a duration such as 5m")
		}
	}
	switch s := spool.Stream(q.Get("stream")); s {
	case "", spool.Stdout, spool.Stderr:
		lq.stream = s
	default:
		return lq, bad("stream", "want stdout or stderr")
	}
	switch f := q.Get("format"); f {
	case "":
	case FormatText, FormatCRI, FormatNDJSON:
		lq.format = f
	default:
		return lq, bad("format", "want text, cri or ndjson")
	}
	return lq, nil
}

func flag(q url.Values, key string) (bool, error) {
	switch strings.ToLower(q.Get(key)) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1 or 0", key, q.Get(key))
}

// exitInfo is a run's end, as the spool or the object's metadata holds it.
type exitInfo struct {
	Code     int       `json:"code"`
	Started  time.Time `json:"started"`
	Exited   time.Time `json:"exited,omitempty"`
	Complete bool      `json:"complete"`
}

// ndRecord is one record in ndjson.
type ndRecord struct {
	Time    time.Time    `json:"time"`
	Stream  spool.Stream `json:"stream"`
	Partial bool         `json:"partial,omitempty"`
	// Log is the record's text; bytes that are not UTF-8 are U+FFFD in it,
	// and the record's bytes as written are in LogBase64 as well (JSON
	// strings hold text only).
	Log       string `json:"log"`
	LogBase64 []byte `json:"log_b64,omitempty"`
}

var newline = []byte{'\n'}

// output writes records to an HTTP answer in the chosen format, filtered
// as asked. Records come as raw CRI lines; a nil record means the reader
// caught up with the writer, which flushes (and, under tail=N, prints the
// last N records seen so far).
type output struct {
	w       http.ResponseWriter
	q       logQuery
	ring    [][]byte // the last q.tail records, until caught up
	caught  bool
	midLine map[spool.Stream]bool
	dirty   bool
}

func newOutput(w http.ResponseWriter, q logQuery) *output {
	o := &output{w: w, q: q, midLine: map[spool.Stream]bool{}}
	switch q.format {
	case FormatNDJSON:
		w.Header().Set("Content-Type", "application/x-ndjson")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	return o
}

// record takes one raw CRI line (with its newline), or nil for caught up.
func (o *output) record(line []byte) error {
	if line == nil {
		return o.catchUp()
	}
	if o.q.format == FormatCRI && o.q.stream == "" && o.q.since.IsZero() && (o.q.tail < 0 || o.caught) {
		// The records as stored, unfiltered: nothing to parse (the spool
		// wrote them, the store holds what it wrote).
		o.dirty = true
		_, err := o.w.Write(line)
		return err
	}
	r, err := spool.ParseRecord(line[:len(line)-1])
	if err != nil {
		return err
	}
	if (o.q.stream != "" && r.Stream != o.q.stream) || (!o.q.since.IsZero() && r.Time.Before(o.q.since)) {
		return nil
	}
	if o.q.tail >= 0 && !o.caught {
		if o.q.tail == 0 {
			return nil
		}
		if len(o.ring) == o.q.tail {
			o.ring = o.ring[1:]
		}
		o.ring = append(o.ring, append([]byte(nil), line...))
		return nil
	}
	return o.write(line, r)
}

func (o *output) catchUp() error {
	if !o.caught {
		o.caught = true
		for _, l := range o.ring {
			r, _ := spool.ParseRecord(l[:len(l)-1]) // parsed once already
			if err := o.write(l, r); err != nil {
				return err
			}
		}
		o.ring = nil
	}
	if o.dirty {
		o.dirty = false
		if f, ok := o.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	return nil
}

// write writes one record that passed the filters: line, parsed as r.
func (o *output) write(line []byte, r spool.Record) error {
	var err error
	o.dirty = true
	switch o.q.format {
	case FormatCRI:
		_, err = o.w.Write(line)
	case FormatNDJSON:
		rec := ndRecord{Time: r.Time, Stream: r.Stream, Partial: r.Partial, Log: string(r.Content)}
		if !utf8.Valid(r.Content) {
			rec.Log, rec.LogBase64 = strings.ToValidUTF8(rec.Log, "\uFFFD"), r.Content
		}
		err = o.json(rec)
	default:
		if o.q.timestamps && !o.midLine[r.Stream] {
			if _, err := fmt.Fprint(o.w, r.Time.Format(time.RFC3339Nano), " "); err != nil {
				return err
			}
		}
		o.midLine[r.Stream] = r.Partial
		if _, err = o.w.Write(r.Content); err == nil && !r.Partial {
			_, err = o.w.Write(newline)
		}
	}
	return err
}

func (o *output) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = o.w.Write(append(b, '\n'))
	return err
}

// end closes the answer: the task's exit when known, else an error met
// after the answer began.
func (o *output) end(exit *exitInfo, failure error) {
	_ = o.catchUp()
	switch {
	case o.q.format == FormatNDJSON && exit != nil:
		_ = o.json(map[string]any{"exit": exit})
	case o.q.format == FormatNDJSON && failure != nil:
		_ = o.json(map[string]any{"error": failure.Error()})
	case exit != nil:
		o.w.Header().Set(http.TrailerPrefix+TrailerExitCode, strconv.Itoa(exit.Code))
	case failure != nil:
		o.w.Header().Set(http.TrailerPrefix+TrailerError, failure.Error())
	}
	if f, ok := o.w.(http.Flusher); ok {
		f.Flush()
	}
}
