// Package batch is batch mode's object format and its writer on the node
// (logs.upload = "batch"): one object holds the finished logs of one
// node's tasks over logs.batch.interval, each an independent gzip member,
// then a trailer that lists them and a fixed-size footer that finds the
// trailer. docs/batch-format.md describes the bytes, for a reader with
// curl, dd and gunzip.
//
// The object's key starts with the time it was sealed (time-first, so one
// listing with StartAfter finds what is new) and ends with a short hash of
// each task's ID: a listing alone tells the compactor (logs/index) which
// IDs a batch holds, without reading it.
package batch

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/logs/spool"
)

// Version is the format this package writes and reads.
const Version = 1

// FooterSize is the size of the footer, the last bytes of every batch.
const FooterSize = 64

// footerMagic opens the footer.
const footerMagic = "brisk-batch"

// ErrCorrupt: a batch's footer or trailer does not read back as written
// (its CRC does not match, or it does not parse).
var ErrCorrupt = fmt.Errorf("corrupt batch: %w", errdefs.ErrDataLoss)

// castagnoli is CRC-32C, the checksum of the trailer.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one task's log in a batch, as the trailer lists it.
type Entry struct {
	// Offset and Length are the bytes of the log's gzip member in the
	// batch; both 0 when the log is stored as its own object (Object).
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
	// Object is the key of a log too large for a batch
	// (logs.batch.standalone_over), stored alone, gzip-compressed.
	Object string `json:"object,omitempty"`
	// Meta is the run's spool metadata, as the per-task object's headers
	// carry it: namespace, ID, run, exit code, times, byte counts, usage.
	// Complete is false when the run's shim died before its end.
	Meta spool.Meta `json:"meta"`
}

// Trailer lists a batch's logs.
type Trailer struct {
	Version int       `json:"version"`
	Node    string    `json:"node"`
	Sealed  time.Time `json:"sealed"`
	Entries []Entry   `json:"entries"`
}

// footer is where the trailer is: FooterSize bytes of ASCII,
// "brisk-batch 1 trailer=OFFSET+LENGTH crc32c=CRC", hex, padded with
// spaces, ending in a newline: `tail -c 64` shows it.
type footer struct {
	offset, length int64
	crc            uint32
}

func (f footer) bytes() []byte {
	s := fmt.Sprintf("%s %d trailer=%016x+%08x crc32c=%08x", footerMagic, Version, f.offset, f.length, f.crc)
	b := bytes.Repeat([]byte{' '}, FooterSize)
	copy(b, s)
	b[FooterSize-1] = '\n'
	return b
}

func parseFooter(b []byte) (footer, error) {
	var f footer
	var version int
	if len(b) != FooterSize || b[FooterSize-1] != '\n' {
		return f, fmt.Errorf("footer of %d bytes: %w", len(b), ErrCorrupt)
	}
	n, err := fmt.Sscanf(string(b[:FooterSize-1]), footerMagic+" %d trailer=%x+%x crc32c=%x", &version, &f.offset, &f.length, &f.crc)
	if err != nil || n != 4 {
		return f, fmt.Errorf("footer %q: %w", bytes.TrimRight(b, " \n"), ErrCorrupt)
	}
	if version != Version {
		return f, fmt.Errorf("footer %q: format version %d, this reads %d: %w", bytes.TrimRight(b, " \n"), version, Version, errdefs.ErrNotImplemented)
	}
	return f, nil
}

// memberExtra is the gzip header's extra field of each member (RFC 1952
// section 2.3.1.1, subfield "Bk"): which run the member is, so that a
// batch whose trailer is lost can be read member by member (Rebuild).
type memberExtra struct {
	Namespace string `json:"ns"`
	ID        string `json:"id"`
	Run       string `json:"run"`
}

// extraField is the gzip extra field holding x, or nil when it does not
// fit (an ID near the 64 KiB limit): Rebuild cannot name that member.
func extraField(x memberExtra) []byte {
	data, err := json.Marshal(x)
	if err != nil || len(data) > 65535-4 {
		return nil
	}
	b := []byte{'B', 'k', 0, 0}
	binary.LittleEndian.PutUint16(b[2:], uint16(len(data)))
	return append(b, data...)
}

func parseExtra(b []byte) (memberExtra, bool) {
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			break
		}
		if b[0] == 'B' && b[1] == 'k' {
			var x memberExtra
			return x, json.Unmarshal(b[4:4+n], &x) == nil
		}
		b = b[4+n:]
	}
	return memberExtra{}, false
}

// Builder assembles one batch in memory.
type Builder struct {
	buf     bytes.Buffer
	entries []Entry
}

// Len is the bytes of members so far.
func (b *Builder) Len() int { return b.buf.Len() }

// Count is the logs added so far.
func (b *Builder) Count() int { return len(b.entries) }

// Entries are the logs added so far.
func (b *Builder) Entries() []Entry { return b.entries }

// Compress gzips log as one member naming m's run: what Add appends, or
// what a log too large for a batch is stored as on its own.
func Compress(m spool.Meta, log io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	zw.Extra = extraField(memberExtra{Namespace: m.Namespace, ID: m.ID, Run: m.Run})
	zw.ModTime = m.Started
	if _, err := io.Copy(zw, log); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Add appends a compressed member (Compress) for m's run.
func (b *Builder) Add(m spool.Meta, member []byte) {
	b.entries = append(b.entries, Entry{Offset: int64(b.buf.Len()), Length: int64(len(member)), Meta: m})
	b.buf.Write(member)
}

// AddObject lists m's run, stored alone as key.
func (b *Builder) AddObject(m spool.Meta, key string) {
	b.entries = append(b.entries, Entry{Object: key, Meta: m})
}

// Seal returns the whole batch, trailer and footer appended, and the
// trailer's CRC, which tells this batch from any other.
func (b *Builder) Seal(node string, sealed time.Time) ([]byte, uint32, error) {
	t := Trailer{Version: Version, Node: node, Sealed: sealed.UTC(), Entries: b.entries}
	tb, err := json.Marshal(t)
	if err != nil {
		return nil, 0, err
	}
	tb = append(tb, '\n')
	out := make([]byte, 0, b.buf.Len()+len(tb)+FooterSize)
	out = append(out, b.buf.Bytes()...)
	f := footer{offset: int64(len(out)), length: int64(len(tb)), crc: crc32.Checksum(tb, castagnoli)}
	out = append(out, tb...)
	out = append(out, f.bytes()...)
	return out, f.crc, nil
}

// ParseTail reads the trailer from the last bytes of a batch of size
// size. When tail does not hold the whole trailer, need says which bytes
// to read (offset, length) and the trailer is nil.
func ParseTail(tail []byte, size int64) (t *Trailer, crc uint32, needOff, needLen int64, err error) {
	if len(tail) < FooterSize {
		return nil, 0, 0, 0, fmt.Errorf("batch of %d bytes, shorter than its footer: %w", size, ErrCorrupt)
	}
	f, err := parseFooter(tail[len(tail)-FooterSize:])
	if err != nil {
		return nil, 0, 0, 0, err
	}
	tailStart := size - int64(len(tail))
	if f.offset+f.length != size-FooterSize || f.offset < 0 {
		return nil, 0, 0, 0, fmt.Errorf("footer says the trailer is at %d+%d in a batch of %d bytes: %w", f.offset, f.length, size, ErrCorrupt)
	}
	if f.offset < tailStart {
		return nil, f.crc, f.offset, f.length, nil
	}
	t, err = parseTrailer(tail[f.offset-tailStart:f.offset-tailStart+f.length], f.crc)
	return t, f.crc, 0, 0, err
}

// ParseTrailer checks a trailer read on its own (ParseTail's need)
// against the footer's CRC and decodes it.
func ParseTrailer(b []byte, crc uint32) (*Trailer, error) { return parseTrailer(b, crc) }

func parseTrailer(b []byte, crc uint32) (*Trailer, error) {
	if got := crc32.Checksum(b, castagnoli); got != crc {
		return nil, fmt.Errorf("trailer CRC-32C %08x, footer says %08x: %w", got, crc, ErrCorrupt)
	}
	var t Trailer
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("trailer: %v: %w", err, ErrCorrupt)
	}
	return &t, nil
}

// Rebuild lists a batch's members from the members themselves, when its
// trailer is lost: each gzip member names its run in its header. It
// stops at the first byte that is not a member (the trailer, or damage).
// Runs' metadata beyond their names is not in the members: Meta holds the
// namespace, ID and run only.
func Rebuild(batch []byte) []Entry {
	var entries []Entry
	r := bytes.NewReader(batch)
	for {
		off := int64(len(batch)) - int64(r.Len())
		zr, err := gzip.NewReader(r)
		if err != nil {
			return entries
		}
		zr.Multistream(false)
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return entries
		}
		end := int64(len(batch)) - int64(r.Len())
		// gzip.Reader reads ahead through a bufio.Reader unless its
		// source is an io.ByteReader, which bytes.Reader is: end is
		// exact.
		if x, ok := parseExtra(zr.Header.Extra); ok {
			entries = append(entries, Entry{Offset: off, Length: end - off, Meta: spool.Meta{Namespace: x.Namespace, ID: x.ID, Run: x.Run}})
		}
	}
}

// Decompress gunzips one member (or a standalone object).
func Decompress(member []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(member))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}
