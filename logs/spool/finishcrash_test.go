package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// snapshot is an entry's files as a crash would leave them, with their
// mtimes, which order the tail segments.
type snapshot map[string]file

type file struct {
	data []byte
	mod  time.Time
}

func takeSnapshot(t *testing.T, dir string) snapshot {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s[n.Name()] = file{b, fi.ModTime()}
	}
	return s
}

func (s snapshot) bytes() (n int64) {
	for _, f := range s {
		n += int64(len(f.data))
	}
	return n
}

// restore writes the snapshot as an entry of its own.
func (s snapshot) restore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, f := range s {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, time.Time{}, f.mod); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// shippedStdout is the stdout of the entry in dir as a retrier ships it.
func shippedStdout(t *testing.T, dir string) []byte {
	t.Helper()
	m, err := ReadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLog(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []byte
	if err := Decode(l, func(r Record) error {
		if r.Stream == Stdout {
			out = append(out, r.Bytes()...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrashDuringFinish stops Finish after each of its steps on the disk,
// as a shim killed there would, and ships what it left: every tail segment
// once, none lost (the stdout shipped is the finished log's, byte for
// byte), and the entry within max_bytes at every step, although Finish
// frees each segment as it copies it.
func TestCrashDuringFinish(t *testing.T) {
	const maxBytes = 64 << 10
	e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "chatty"}, WithMaxBytes(maxBytes))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	// Past the head and two rotations, up to a newer segment nearly full:
	// the moment the copy of a segment costs the most.
	last := 0
	for i := 0; ; i++ {
		if err := e.Write(Stdout, fmt.Appendf(nil, "line %05d\n", i)); err != nil {
			t.Fatal(err)
		}
		last = i
		if tf := e.tailf; i > 5000 && tf != nil && tf.seg[tf.active].size+2*e.recordSize([]byte("line 00000")) > maxBytes/6 {
			break
		}
	}
	steps := []snapshot{takeSnapshot(t, e.Dir())} // died before Finish
	e.finishStep = func() { steps = append(steps, takeSnapshot(t, e.Dir())) }
	if _, err := e.Finish(ExitInfo{Exited: time.Now()}); err != nil {
		t.Fatal(err)
	}
	want := decodeFile(t, e.Dir())[Stdout]
	lastLine := fmt.Appendf(nil, "line %05d\n", last)
	if !bytes.HasPrefix(want, []byte("line 00000\n")) || !bytes.HasSuffix(want, lastLine) {
		t.Fatalf("finished log lacks its head or its tail")
	}
	if len(steps) < 6 {
		t.Fatalf("Finish took %d steps; want the note, progress and each segment's copy and release", len(steps)-1)
	}
	for i, s := range steps {
		if n := s.bytes(); n > maxBytes+boundSlack {
			t.Errorf("step %d: the entry takes %d bytes, %.2fx max_bytes", i, n, float64(n)/maxBytes)
		}
		if got := shippedStdout(t, s.restore(t)); !bytes.Equal(got, want) {
			t.Errorf("step %d: shipped stdout differs from the finished log's (%d bytes, want %d; last line once: %v)",
				i, len(got), len(want), bytes.Count(got, lastLine) == 1)
		}
		// A write cut short by the crash: the log holds a part of a
		// segment's copy past what meta.json recorded.
		var m Meta
		dir := s.restore(t)
		if m, err = ReadMeta(dir); err != nil {
			t.Fatal(err)
		}
		if size := int64(len(s[LogFile].data)); m.TailFrom > 0 && size > m.TailFrom+7 {
			if err := os.Truncate(filepath.Join(dir, LogFile), size-7); err != nil {
				t.Fatal(err)
			}
			if got := shippedStdout(t, dir); !bytes.Equal(got, want) {
				t.Errorf("step %d, torn copy: shipped stdout differs from the finished log's", i)
			}
		}
	}
}
