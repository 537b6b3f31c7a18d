package spool

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

func decodeFile(t *testing.T, dir string) map[Stream][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[Stream][]byte{}
	if err := Decode(f, func(r Record) error { out[r.Stream] = append(out[r.Stream], r.Bytes()...); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeKept is decodeFile's output without the empty records that close a
// line where a note of a cut follows.
func decodeKept(t *testing.T, dir string) map[Stream][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[Stream][]byte{}
	open := map[Stream]bool{}
	var closers []Stream
	if err := Decode(f, func(r Record) error {
		switch {
		case r.Stream == Stderr && bytes.HasPrefix(r.Content, []byte("[brisk: ")):
			closers = nil
		case !r.Partial && len(r.Content) == 0 && open[r.Stream]:
			closers = append(closers, r.Stream)
		default:
			for _, s := range closers {
				out[s] = append(out[s], '\n')
			}
			closers = nil
			out[r.Stream] = append(out[r.Stream], r.Bytes()...)
		}
		open[r.Stream] = r.Partial
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripIsByteExact(t *testing.T) {
	random := make([]byte, 256<<10)
	rand.Read(random)
	for _, tc := range []struct {
		name   string
		chunks [][]byte
	}{
		{"lines", [][]byte{[]byte("a\nbb\n"), []byte("ccc\n")}},
		{"no trailing newline", [][]byte{[]byte("a\nb"), []byte("c")}},
		{"empty lines", [][]byte{[]byte("\n\n\n")}},
		{"binary", [][]byte{random[:100<<10], random[100<<10:]}},
		{"chunk splits a line", [][]byte{[]byte("hel"), []byte("lo\nwor"), []byte("ld\n")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "id"}, WithMaxBytes(1<<30))
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i, c := range tc.chunks {
				want = append(want, c...)
				if err := e.Write(Stdout, c); err != nil {
					t.Fatal(err)
				}
				if err := e.Write(Stderr, []byte{byte('0' + i)}); err != nil {
					t.Fatal(err)
				}
			}
			m, err := e.Finish(ExitInfo{Code: 3, Exited: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			got := decodeFile(t, e.Dir())
			if !bytes.Equal(got[Stdout], want) {
				t.Fatalf("stdout differs: got %d bytes, want %d", len(got[Stdout]), len(want))
			}
			if m.StdoutBytes != int64(len(want)) || m.State != StateDone || !m.Complete || m.ExitCode != 3 {
				t.Fatalf("meta %+v", m)
			}
			onDisk, err := ReadMeta(e.Dir())
			if err != nil || onDisk.State != StateDone {
				t.Fatalf("meta on disk %+v %v", onDisk, err)
			}
		})
	}
}

func TestTruncationKeepsHeadAndTail(t *testing.T) {
	for _, tc := range []struct {
		name     string
		perWrite int // lines per Write call
		bigFirst bool
	}{
		{name: "a line per write", perWrite: 1},
		{name: "64 lines per write", perWrite: 64},
		{name: "one write", perWrite: 1000},
		// A record too big for the head, then short ones that would fit:
		// they must not jump ahead of it.
		{name: "big record first", perWrite: 7, bigFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "id"}, WithMaxBytes(1000))
			if err != nil {
				t.Fatal(err)
			}
			var all, chunk []byte
			if tc.bigFirst {
				all = append(bytes.Repeat([]byte("x"), 480), '\n')
				if err := e.Write(Stdout, bytes.Repeat([]byte("y"), 300)); err != nil {
					t.Fatal(err)
				}
				all = append(bytes.Repeat([]byte("y"), 300), all...)
				if err := e.Write(Stdout, all[300:]); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 1000; i++ {
				line := []byte{byte('a' + i%26), byte('a' + i/26%26), '\n'}
				all = append(all, line...)
				chunk = append(chunk, line...)
				if (i+1)%tc.perWrite == 0 || i == 999 {
					if err := e.Write(Stdout, chunk); err != nil {
						t.Fatal(err)
					}
					chunk = chunk[:0]
				}
			}
			m, err := e.Finish(ExitInfo{})
			if err != nil {
				t.Fatal(err)
			}
			got := decodeKept(t, e.Dir())[Stdout]
			if !bytes.HasPrefix(got, all[:9]) {
				t.Errorf("head lost: %q", got[:9])
			}
			if !bytes.HasSuffix(got, []byte("jm\nkm\nlm\n")) { // the last three lines written
				t.Errorf("tail lost: %q", got[len(got)-9:])
			}
			// What is kept is a head and a tail of what was written, in order.
			k := 0
			for k < len(got) && got[k] == all[k] {
				k++
			}
			if !bytes.HasSuffix(all, got[k:]) {
				t.Errorf("kept output is not head+tail of the written output")
			}
			if kept := int64(len(got)); kept+m.Truncated != int64(len(all)) || kept > 1000 {
				t.Errorf("kept %d + truncated %d != %d written", kept, m.Truncated, len(all))
			}
			if !bytes.Contains(decodeFile(t, e.Dir())[Stderr], []byte("bytes dropped")) {
				t.Errorf("no truncation marker")
			}
		})
	}
}

func TestLockTellsLiveFromOrphaned(t *testing.T) {
	spool := t.TempDir()
	e, err := Open(spool, Meta{Namespace: "ns", ID: "a/../b c"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(e.Dir()); err != ErrLocked {
		t.Fatalf("second lock while the owner lives: %v", err)
	}
	e.Release()
	l, err := Lock(e.Dir())
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l.Release()
	dirs, _ := Pending(spool)
	if len(dirs) != 1 || filepath.Dir(filepath.Dir(dirs[0])) != spool {
		t.Fatalf("pending %v", dirs)
	}
	id, run, ok := parseEntryName(filepath.Base(dirs[0]))
	if !ok || id != "a/../b c" || run != e.Meta().Run {
		t.Fatalf("entry name does not round trip: %q %q %v", id, run, ok)
	}
}

func TestFollowEndsWhenFinished(t *testing.T) {
	e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "f"})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	done := make(chan error)
	go func() {
		res, err := FollowLog(context.Background(), e.Dir(), 0, func(line []byte) error {
			if line == nil {
				return nil // caught up
			}
			r, err := ParseRecord(line[:len(line)-1])
			got.Write(r.Bytes())
			return err
		})
		if err == nil && res.End != Finished {
			err = fmt.Errorf("follow ended with %v, want finished", res.End)
		}
		done <- err
	}()
	for i := 0; i < 5; i++ {
		e.Write(Stdout, []byte("line\n"))
		time.Sleep(30 * time.Millisecond)
	}
	e.Finish(ExitInfo{})
	select {
	case err := <-done:
		if err != nil || got.String() != "line\nline\nline\nline\nline\n" {
			t.Fatalf("follow: %v %q", err, got.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after Finish")
	}
}

func TestEscapeName(t *testing.T) {
	for _, s := range []string{"", ".", "..", "a/b", "/abs", "ü ñ", "ok-name_1.2", "%41"} {
		esc := EscapeName(s)
		if esc == "." || esc == ".." || bytes.ContainsAny([]byte(esc), "/ ") {
			t.Errorf("EscapeName(%q) = %q is not a safe name", s, esc)
		}
		back, err := UnescapeName(esc)
		if err != nil || back != s {
			t.Errorf("round trip of %q: %q %v", s, back, err)
		}
	}
}

// A full spool_dir must neither block the task nor let the shipped log claim
// to be whole: lost output is counted, the file keeps whole records, and the
// entry still finishes once there is room again.
func TestFullSpoolCountsLostBytes(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("brisk-test-spool", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	// Another entry's log holds most of the room until it is shipped.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := Open(dir, Meta{Namespace: "ns", ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	line := append(bytes.Repeat([]byte("x"), 999), '\n')
	var written, failed int64
	for range 64 {
		if err := e.Write(Stdout, line); err != nil {
			failed += int64(len(line))
		}
		written += int64(len(line))
	}
	if failed == 0 {
		t.Fatal("64 KiB of output fitted in a spool with 24 KiB free")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	m, err := e.Finish(ExitInfo{Code: 0, Exited: time.Now()})
	if err != nil {
		t.Fatalf("Finish after the spool had room again: %v", err)
	}
	if m.Complete || m.Lost != failed || m.StdoutBytes != written || !strings.Contains(m.LostReason, "no space left") {
		t.Errorf("meta = %+v; want incomplete, %d bytes lost to ENOSPC of %d written", m, failed, written)
	}
	got := decodeFile(t, e.Dir())
	if int64(len(got[Stdout])) != written-failed {
		t.Errorf("spooled stdout holds %d bytes, want %d (whole records only)", len(got[Stdout]), written-failed)
	}
	// Markers stand where output is missing and add up to the loss.
	var marked int64
	for _, m := range regexp.MustCompile(`\[brisk: (\d+) bytes of output lost here: the spool could not take them: [^]]*no space left`).FindAllSubmatch(got[Stderr], -1) {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		marked += n
	}
	if marked != failed {
		t.Errorf("loss markers add up to %d, want %d: %q", marked, failed, got[Stderr])
	}
	if back, err := ReadMeta(e.Dir()); err != nil || back.Lost != failed || back.Complete {
		t.Errorf("meta.json = %+v, %v", back, err)
	}
}

func TestTailLivesInSegmentFiles(t *testing.T) {
	for _, finish := range []bool{false, true} {
		t.Run(fmt.Sprintf("finished=%v", finish), func(t *testing.T) {
			e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "id"}, WithMaxBytes(4000))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Release()
			for i := range 2000 {
				if err := e.Write(Stdout, fmt.Appendf(nil, "line %04d\n", i)); err != nil {
					t.Fatal(err)
				}
			}
			if !finish {
				// The shim dies here: the newest output is on disk.
				tail, err := readTail(t, e.Dir())
				if err != nil {
					t.Fatal(err)
				}
				var lines []string
				if err := Decode(bytes.NewReader(tail), func(r Record) error {
					lines = append(lines, string(r.Bytes()))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(lines) == 0 || lines[len(lines)-1] != "line 1999\n" || len(lines)*10 > 2000 {
					t.Fatalf("dead shim's tail: %d lines ending %q; want at most max_bytes/2 ending with the last line", len(lines), lines[len(lines)-1:])
				}
				for i := 1; i < len(lines); i++ {
					if lines[i] <= lines[i-1] {
						t.Fatalf("tail out of order at %d: %q after %q", i, lines[i], lines[i-1])
					}
				}
				return
			}
			if _, err := e.Finish(ExitInfo{}); err != nil {
				t.Fatal(err)
			}
			for _, name := range TailFiles {
				if _, err := os.Stat(filepath.Join(e.Dir(), name)); !os.IsNotExist(err) {
					t.Errorf("%s left after Finish: %v", name, err)
				}
			}
			if got := decodeFile(t, e.Dir())[Stdout]; !bytes.HasSuffix(got, []byte("line 1999\n")) || !bytes.HasPrefix(got, []byte("line 0000\n")) {
				t.Errorf("finished log lacks its head or tail")
			}
		})
	}
}

// readTail reads the tail segments a dead shim left, older first, as a
// retrier ships them.
func readTail(t *testing.T, dir string) ([]byte, error) {
	t.Helper()
	l := &LogReader{}
	defer l.Close()
	newer := "" // none recorded: an earlier version's entry
	if m, err := ReadMeta(dir); err == nil && m.Tail != nil {
		newer = m.Tail.Newer
	}
	parts, err := l.openTail(dir, nil, newer)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(concat(parts))
}
