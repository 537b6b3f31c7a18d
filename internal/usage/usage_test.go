package usage

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// TestFieldsAreTheJSONNames: the names the metadata and the event derive
// from Fields are the ones the spool stores, so there is one spelling.
func TestFieldsAreTheJSONNames(t *testing.T) {
	l := Layer{Upperdir: "/u", Usage: Usage{InodesUsed: 1, InodesLimit: 2, BytesUsed: 3, BytesLimit: 4}}
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	fields := l.Fields()
	if len(fields) != 4 {
		t.Fatalf("%d fields, want the 4 figures", len(fields))
	}
	for _, f := range fields {
		if v, ok := stored[f.Name].(float64); !ok || int64(v) != f.Value {
			t.Errorf("field %s = %d, stored as %v", f.Name, f.Value, stored[f.Name])
		}
	}
}

// TestLayerJSON: spool entries written before Usage was its own type read
// back whole, and new ones are written the same way.
func TestLayerJSON(t *testing.T) {
	const stored = `{"upperdir":"/u","exclusive":true,"inodes_used":1,"inodes_limit":2,"bytes_used":3,"bytes_limit":4}`
	want := Layer{Upperdir: "/u", Exclusive: true, Usage: Usage{InodesUsed: 1, InodesLimit: 2, BytesUsed: 3, BytesLimit: 4}}
	var got Layer
	if err := json.Unmarshal([]byte(stored), &got); err != nil || got != want {
		t.Errorf("read %s: %+v, %v; want %+v", stored, got, err, want)
	}
	if data, err := json.Marshal(want); err != nil || string(data) != stored {
		t.Errorf("wrote %s, %v; want %s", data, err, stored)
	}
}

// TestTmpfs: a tmpfs reads with its limits; where there is none, or
// nothing, the answer is not found rather than the filesystem below.
func TestTmpfs(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "tmpfs")
	plain := filepath.Join(dir, "plain")
	testutil.Must(t, os.Mkdir(mnt, 0o755))
	testutil.Must(t, os.Mkdir(plain, 0o755))
	testutil.Must(t, unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m,nr_inodes=100"))
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	testutil.Must(t, os.WriteFile(filepath.Join(mnt, "f"), make([]byte, 64<<10), 0o644))

	u, err := Tmpfs(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if u.BytesLimit != 1<<20 || u.InodesLimit != 100 || u.BytesUsed < 64<<10 || u.InodesUsed < 2 {
		t.Errorf("tmpfs size=1m,nr_inodes=100 with a 64 KiB file: %+v", u)
	}
	// The temp dir may sit on a tmpfs itself: then no plain dir is at hand.
	if _, tmpfs, _ := Statfs(plain); !tmpfs {
		if _, err := Tmpfs(plain); !errdefs.IsNotFound(err) {
			t.Errorf("plain directory: %v, want not found", err)
		}
	}
	if _, err := Tmpfs(filepath.Join(dir, "missing")); !errdefs.IsNotFound(err) {
		t.Errorf("missing directory: %v, want not found", err)
	}
}

// TestMeasure: an upper whose parent is its own tmpfs is read in O(1) with
// limits; any other is walked, without limits.
func TestMeasure(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	own := filepath.Join(dir, "own")
	testutil.Must(t, os.Mkdir(own, 0o755))
	testutil.Must(t, unix.Mount("tmpfs", own, "tmpfs", 0, "size=1m,nr_inodes=100"))
	t.Cleanup(func() { _ = unix.Unmount(own, unix.MNT_DETACH) })
	walked := filepath.Join(dir, "walked")
	for _, up := range []string{own, walked} {
		testutil.Must(t, os.MkdirAll(filepath.Join(up, "fs"), 0o755))
		testutil.Must(t, os.WriteFile(filepath.Join(up, "fs", "f"), make([]byte, 8<<10), 0o644))
	}

	for _, tc := range []struct {
		name      string
		upper     string
		exclusive bool
		limit     int64
	}{
		{"own tmpfs", own, true, 1 << 20},
		{"walked", walked, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Measure(ctx, filepath.Join(tc.upper, "fs"))
			if err != nil {
				t.Fatal(err)
			}
			if l.Exclusive != tc.exclusive || l.BytesLimit != tc.limit || l.BytesUsed < 8<<10 || l.InodesUsed < 2 || l.Upperdir != filepath.Join(tc.upper, "fs") {
				t.Errorf("%+v, want exclusive %v, byte limit %d, 8 KiB and 2 inodes at least", l, tc.exclusive, tc.limit)
			}
		})
	}
}
