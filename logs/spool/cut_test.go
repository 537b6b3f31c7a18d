package spool_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/spool/spooltest"
)

// counter is output no run of which repeats: six-digit numbers end to end,
// a newline every lineLen bytes (none when 0).
func counter(n, lineLen, from int) []byte {
	out := make([]byte, 0, n)
	for k := from; len(out) < n; k++ {
		for _, c := range fmt.Appendf(nil, "%06d", k%1000000) {
			if lineLen > 0 && len(out)%(lineLen+1) == lineLen {
				out = append(out, '\n')
			}
			if len(out) < n {
				out = append(out, c)
			}
		}
	}
	return out
}

// write is one Write of a task's output.
type write struct {
	stream spool.Stream
	p      []byte
}

// chunked cuts out into writes of size bytes on stream.
func chunked(stream spool.Stream, out []byte, size int) []write {
	var ws []write
	for len(out) > 0 {
		n := min(size, len(out))
		ws = append(ws, write{stream, out[:n]})
		out = out[n:]
	}
	return ws
}

// interleave alternates the writes of a and b.
func interleave(a, b []write) []write {
	var ws []write
	for len(a) > 0 || len(b) > 0 {
		if len(a) > 0 {
			ws, a = append(ws, a[0]), a[1:]
		}
		if len(b) > 0 {
			ws, b = append(ws, b[0]), b[1:]
		}
	}
	return ws
}

// clock moves a millisecond a reading and, when stepped, is stepped back an
// hour at its 300th reading.
func clock(stepped bool) func() time.Time {
	t := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	n := 0
	return func() time.Time {
		n++
		t = t.Add(time.Millisecond)
		if n == 300 && stepped {
			t = t.Add(-time.Hour)
		}
		return t
	}
}

// TestMaxBytesCutsStayValidCRI writes each shape of output past max_bytes
// and reads the log back as a CRI reader would: every line a record, times
// never going back, no line joined across a cut, every cut marked where it
// is with its count. Both the finished log and the log a retrier reads for
// a shim that died before Finish.
func TestMaxBytesCutsStayValidCRI(t *testing.T) {
	lines67 := counter(2000*67, 66, 0) // the example
	random := rand.New(rand.NewPCG(3, 4))
	binary := make([]byte, 200<<10)
	for i := range binary {
		binary[i] = byte(random.Uint32())
		if random.IntN(60) == 0 {
			binary[i] = '\n'
		}
	}
	for _, tc := range []struct {
		name   string
		max    int64
		writes []write
	}{
		{"issue example: 2000 lines of 67 bytes, a line a write", 6000, chunked(spool.Stdout, lines67, 67)},
		{"2000 lines of 67 bytes, 4 KiB a write", 6000, chunked(spool.Stdout, lines67, 4096)},
		{"lines of 67 bytes, 5 bytes a write", 6000, chunked(spool.Stdout, lines67[:40000], 5)},
		{"lines longer than a sixth of max_bytes", 6000, chunked(spool.Stdout, counter(200<<10, 4999, 0), 4096)},
		{"lines longer than a sixth of max_bytes, a line a write", 6000, chunked(spool.Stdout, counter(200<<10, 4999, 0), 5000)},
		{"one line, no newline, 1000 bytes a write", 6000, chunked(spool.Stdout, counter(200<<10, 0, 0), 1000)},
		{"one line, no newline, 64 KiB a write", 64 << 10, chunked(spool.Stdout, counter(1<<20, 0, 0), 64<<10)},
		{"binary", 16 << 10, chunked(spool.Stdout, binary, 3000)},
		{"tiny writes", 6000, chunked(spool.Stdout, counter(20000, 50, 0), 1)},
		{"tiny writes, no newline", 6000, chunked(spool.Stdout, counter(20000, 0, 0), 1)},
		{"both streams interleaved, partial lines", 6000, interleave(
			chunked(spool.Stdout, counter(100<<10, 100, 0), 70),
			chunked(spool.Stderr, counter(100<<10, 130, 500000), 90))},
		{"both streams, a long stderr line among stdout lines", 6000, interleave(
			chunked(spool.Stdout, counter(60<<10, 40, 0), 41),
			chunked(spool.Stderr, counter(60<<10, 0, 500000), 2000))},
		{"stdout open while stderr floods", 6000, append(append(
			[]write{{spool.Stdout, counter(7000, 0, 0)}},
			chunked(spool.Stderr, counter(40<<10, 300, 500000), 301)...),
			write{spool.Stderr, counter(3000, 0, 700000)}, write{spool.Stdout, counter(100, 0, 900000)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			written := map[spool.Stream][]byte{}
			for _, w := range tc.writes {
				written[w.stream] = append(written[w.stream], w.p...)
			}
			for _, run := range []struct{ finish, stepped bool }{{true, false}, {true, true}, {false, false}, {false, true}} {
				finish := run.finish
				e, err := spool.Open(t.TempDir(), spool.Meta{Namespace: "ns", ID: "id"}, spool.WithMaxBytes(tc.max), spool.WithClock(clock(run.stepped)))
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range tc.writes {
					if err := e.Write(w.stream, w.p); err != nil {
						t.Fatal(err)
					}
				}
				var log []byte
				var truncated int64
				if finish {
					m, err := e.Finish(spool.ExitInfo{})
					if err != nil {
						t.Fatal(err)
					}
					e.Release()
					if log, err = os.ReadFile(spool.LogPath(e.Dir())); err != nil {
						t.Fatal(err)
					}
					truncated = m.Truncated
				} else {
					e.Release() // the shim dies: a retrier reads the entry
					log = readDead(t, e.Dir())
				}
				cuts, err := spooltest.Check(log, written)
				if err != nil {
					t.Fatalf("finished=%v, clock stepped back=%v: %v", finish, run.stepped, err)
				}
				if cuts.Notes == 0 {
					t.Fatalf("finished=%v: no note of what max_bytes dropped", finish)
				}
				if finish && cuts.Dropped != truncated {
					t.Errorf("notes count %d bytes dropped, meta.json %d", cuts.Dropped, truncated)
				}
			}
		})
	}
}

// readDead is the log of the entry in dir as a retrier ships it.
func readDead(t *testing.T, dir string) []byte {
	t.Helper()
	m, err := spool.ReadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := spool.OpenLog(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := io.ReadAll(l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeadShimTailOrderIgnoresMtime: a retrier reads a dead shim's tail
// segments older first whatever their mtimes say, as a clock stepped back
// (or forward) while the task ran leaves them.
func TestDeadShimTailOrderIgnoresMtime(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name         string
		older, newer time.Time // mtimes of the segments
	}{
		{"clock stepped back an hour before the newer was written", now, now.Add(-time.Hour)},
		{"clock stepped back a second", now, now.Add(-time.Second)},
		{"both written in the same tick", now, now},
		{"as written", now.Add(-time.Second), now},
	} {
		// An odd and an even number of rotations: the newer segment is
		// each of the two files in turn.
		for _, lines := range []int{2000, 2350} {
			t.Run(fmt.Sprintf("%s/%d lines", tc.name, lines), func(t *testing.T) {
				e, err := spool.Open(t.TempDir(), spool.Meta{Namespace: "ns", ID: "id"}, spool.WithMaxBytes(4000))
				if err != nil {
					t.Fatal(err)
				}
				for i := range lines {
					if err := e.Write(spool.Stdout, fmt.Appendf(nil, "line %05d\n", i)); err != nil {
						t.Fatal(err)
					}
				}
				e.Release() // the shim dies
				last := fmt.Sprintf("line %05d\n", lines-1)
				for _, name := range spool.TailFiles {
					b, err := os.ReadFile(filepath.Join(e.Dir(), name))
					if err != nil {
						t.Fatal(err)
					}
					at := tc.older
					if i := bytes.Index(b, []byte(last)); i >= 0 && bytes.IndexByte(b[:i], 0) < 0 { // before its end mark
						at = tc.newer
					}
					if err := os.Chtimes(filepath.Join(e.Dir(), name), at, at); err != nil {
						t.Fatal(err)
					}
				}
				var out []string
				if err := spool.Decode(bytes.NewReader(readDead(t, e.Dir())), func(r spool.Record) error {
					if r.Stream == spool.Stdout {
						out = append(out, string(r.Bytes()))
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(out) == 0 || out[len(out)-1] != last {
					t.Fatalf("the shipped log does not end with %q", last)
				}
				for i := 1; i < len(out); i++ {
					if out[i] <= out[i-1] {
						t.Fatalf("tail out of order: %q after %q", out[i], out[i-1])
					}
				}
			})
		}
	}
}
