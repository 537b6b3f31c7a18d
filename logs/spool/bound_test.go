package spool

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// boundSlack is what an entry may hold past max_bytes: meta.json, the
// markers of dropped and lost output, and a record prefix or two where a
// share of max_bytes is smaller than one.
const boundSlack = 4 << 10

// entryBytes is what an entry takes on the spool: every file in its
// directory.
func entryBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestMaxBytesBoundsRecords checks that max_bytes bounds the bytes an entry
// takes on the spool, record prefixes included, for every shape of output,
// while the task runs and once it exited; and that the newest output is
// still kept.
func TestMaxBytesBoundsRecords(t *testing.T) {
	const maxBytes = 64 << 10
	random := rand.New(rand.NewPCG(1, 2))
	binary := make([]byte, 8<<20)
	for i := range binary {
		// Control bytes, NULs and a newline every 64 bytes or so, as
		// in a binary file cat'ed to stdout.
		binary[i] = byte(random.Uint32() % 64)
	}
	for _, tc := range []struct {
		name  string
		total int                // bytes the task writes
		chunk func(i int) []byte // the i-th read the shim gets
	}{
		// 41x max_bytes before: a one-byte line costs a 40-byte record.
		{name: "empty lines", total: 4 << 20, chunk: func(int) []byte { return bytes.Repeat([]byte{'\n'}, 64<<10) }},
		// One line of 100 MB, read 64 KiB at a time: every read is a
		// partial record larger than a quarter of max_bytes.
		{name: "one 100 MB line", total: 100 << 20, chunk: func(int) []byte { return bytes.Repeat([]byte{'x'}, 64<<10) }},
		{name: "binary", total: len(binary), chunk: func(i int) []byte { return binary[i*(64<<10)%len(binary):][:64<<10] }},
		// A task flushing one byte at a time: one partial record each.
		{name: "tiny writes", total: 256 << 10, chunk: func(i int) []byte { return []byte{byte('a' + i%26)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "id"}, WithMaxBytes(maxBytes))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Release()
			var last []byte
			peak := int64(0)
			for i, written := 0, 0; written < tc.total; i++ {
				c := tc.chunk(i)
				if err := e.Write(Stdout, c); err != nil {
					t.Fatal(err)
				}
				written += len(c)
				last = c
				if i%64 == 0 {
					peak = max(peak, entryBytes(t, e.Dir()))
				}
			}
			peak = max(peak, entryBytes(t, e.Dir()))
			if peak > maxBytes+boundSlack {
				t.Errorf("entry took %d bytes on the spool while the task ran: %.1fx max_bytes %d", peak, float64(peak)/maxBytes, maxBytes)
			}
			m, err := e.Finish(ExitInfo{Exited: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if n := entryBytes(t, e.Dir()); n > maxBytes+boundSlack {
				t.Errorf("finished entry takes %d bytes on the spool: %.1fx max_bytes %d", n, float64(n)/maxBytes, maxBytes)
			}
			if m.Truncated == 0 {
				t.Errorf("nothing counted as truncated")
			}
			got := decodeKept(t, e.Dir())[Stdout]
			if newest := last[max(0, len(last)-256):]; !bytes.HasSuffix(got, newest) {
				t.Errorf("the newest output is not kept")
			}
			if kept := int64(len(got)); kept+m.Truncated != m.StdoutBytes {
				t.Errorf("kept %d + truncated %d != %d written", kept, m.Truncated, m.StdoutBytes)
			}
		})
	}
}

// BenchmarkWritePastMaxBytes is the spool's cost per byte of output past
// max_bytes (16Mi, the default), read 128 KiB at a time as the shim does.
func BenchmarkWritePastMaxBytes(b *testing.B) {
	for _, tc := range []struct {
		name  string
		chunk []byte
	}{
		{"empty lines", bytes.Repeat([]byte{'\n'}, 128<<10)},
		{"log lines", bytes.Repeat([]byte("throughput test line throughput test line throughput test line throughput test line\n"), 128<<10/85)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e, err := Open(b.TempDir(), Meta{Namespace: "ns", ID: "id"}, WithMaxBytes(16<<20))
			if err != nil {
				b.Fatal(err)
			}
			defer e.Release()
			b.SetBytes(int64(len(tc.chunk)))
			for i := 0; i < b.N; i++ {
				if err := e.Write(Stdout, tc.chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReadTailStopsAtTheEndMark: a reused segment holds an earlier round's
// records past its end mark, and a shim killed mid-write leaves the mark
// where it was; a dead shim's tail is what lies before it.
func TestReadTailStopsAtTheEndMark(t *testing.T) {
	rec := func(s string) string { return "2026-11-27T10:00:00Z stdout F " + s + "\n" }
	for _, tc := range []struct {
		name       string
		old, newer string // segment contents; newer written last
		want       string
	}{
		{"reused segment", rec("a"), rec("b") + "\x00" + rec("stale-1") + rec("stale-2"), rec("a") + rec("b")},
		{"emptied, not written yet", rec("a"), "\x00" + rec("stale"), rec("a")},
		{"killed mid-write: the mark not moved", rec("a"), rec("b") + "\x00" + "late records written before the mark moved\n" + "\x00" + rec("stale"), rec("a") + rec("b")},
		// The mark is the first byte of a block of the reader's scan.
		{"mark at a block's start", rec("a"), rec(strings.Repeat("x", 32<<10-len(rec("")))) + "\x00" + rec("stale"), rec("a") + rec(strings.Repeat("x", 32<<10-len(rec(""))))},
		{"no mark: written whole", rec("a"), rec("b") + rec("c"), rec("a") + rec("b") + rec("c")},
		{"a record cut short", rec("a"), rec("b") + "2026-11-27T10:00:00Z std", rec("a") + rec("b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, data := range []string{tc.old, tc.newer} {
				path := filepath.Join(dir, TailFiles[i])
				if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
				at := time.Now().Add(time.Duration(i-1) * time.Second)
				if err := os.Chtimes(path, at, at); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readTail(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("ReadTail = %q, want %q", got, tc.want)
			}
		})
	}
}
