package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A run never truncates, appends to or is refused by an earlier run of the
// same ID, whether that one still holds its lock or died with tail segments.
func TestRunsNeverShareAnEntry(t *testing.T) {
	spool := t.TempDir()
	first, err := Open(spool, Meta{Namespace: "ns", ID: "t1"}, WithMaxBytes(4000))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if err := first.Write(Stdout, fmt.Appendf(nil, "run1 %04d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The first run is still uploading (its lock held) when the second
	// starts.
	second, err := Open(spool, Meta{Namespace: "ns", ID: "t1"}, WithMaxBytes(4000))
	if err != nil {
		t.Fatalf("second run refused while the first holds its entry: %v", err)
	}
	first.Release() // the first shim dies with its tail on disk
	if err := second.Write(Stdout, []byte("run2\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Finish(ExitInfo{}); err != nil {
		t.Fatal(err)
	}
	second.Release()
	if first.Dir() == second.Dir() || FifoDir(first.Dir()) == FifoDir(second.Dir()) {
		t.Fatalf("both runs in %s, FIFOs in %s", first.Dir(), FifoDir(first.Dir()))
	}
	if got := decodeFile(t, second.Dir())[Stdout]; string(got) != "run2\n" {
		t.Errorf("second run's log holds %q; want only its own output", got)
	}
	if got := decodeFile(t, first.Dir())[Stdout]; !bytes.HasPrefix(got, []byte("run1 0000\n")) {
		t.Errorf("first run's log lost its head: %.40q", got)
	}
	if tail, err := readTail(t, first.Dir()); err != nil || !bytes.Contains(tail, []byte("run1 0499")) {
		t.Errorf("first run's tail segments: %v, %d bytes", err, len(tail))
	}
	runs, err := Runs(spool, "ns", "t1")
	if err != nil || len(runs) != 2 || runs[0].Run == runs[1].Run {
		t.Fatalf("Runs = %+v, %v", runs, err)
	}
}

func TestNewRunNamesThePod(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 40, 14, 123456789, time.UTC)
	a, b := NewRun(at, "9F3C2A10-7B4E-4D1A-9C3B-2E8F00A1B2C3"), NewRun(at, "")
	if a != "20261127T104014.123456Z-9f3c2a10" || !IsRun(a) || !IsRun(b) || a == b {
		t.Errorf("NewRun = %q, %q", a, b)
	}
	if NewRun(at, "") == b {
		t.Errorf("two runs in the same microsecond share a name")
	}
}

func TestValidateIDBoundsTheName(t *testing.T) {
	long := strings.Repeat("x", 240)
	if _, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: long}); err == nil || !strings.Contains(err.Error(), "limit of 200") {
		t.Fatalf("Open of a 240-byte ID: %v; want it refused with the limit", err)
	}
	// Escaping counts: 70 slashes are 210 bytes in the entry's name.
	if err := ValidateID(strings.Repeat("/", 70)); err == nil {
		t.Errorf("ID of 70 slashes accepted")
	}
	if err := ValidateID(strings.Repeat("y", MaxIDLength)); err != nil {
		t.Errorf("ID at the limit: %v", err)
	}
}

// A lock taken on an entry its owner removes meanwhile is never a lock on a
// live entry, and taking it never recreates anything.
func TestLockAfterRemovalIsGone(t *testing.T) {
	spool := t.TempDir()
	e, err := Open(spool, Meta{Namespace: "ns", ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(ExitInfo{}); err != nil {
		t.Fatal(err)
	}
	dir := e.Dir()
	// A retrier opens the directory, then the owner removes the entry and
	// lets go, then the retrier's flock succeeds: on a tombstone.
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := e.Claim().Remove(); err != nil {
		t.Fatal(err)
	}
	e.Release()
	if _, err := Lock(dir); !errors.Is(err, ErrGone) {
		t.Fatalf("Lock after removal: %v, want ErrGone", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("entry recreated by a lock: %v", err)
	}
	if err := Sweep(spool); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"ns", trashDir, newDir} {
		if names, _ := os.ReadDir(filepath.Join(spool, d)); len(names) != 0 {
			t.Errorf("%s left with %d names after removal and sweep", d, len(names))
		}
	}
}

// A create that fails (abort) leaves nothing to ship.
func TestDiscardLeavesNothing(t *testing.T) {
	spool := t.TempDir()
	e, err := Open(spool, Meta{Namespace: "ns", ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Discard(); err != nil {
		t.Fatal(err)
	}
	if dirs, err := Pending(spool); err != nil || len(dirs) != 0 {
		t.Fatalf("pending after discard: %v %v", dirs, err)
	}
}
