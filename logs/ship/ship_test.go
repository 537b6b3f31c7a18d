package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		name, template, prefix, ns, id, want string
	}{
		{"default layout", config.DefaultKeyTemplate, "", "default", "abc", "default/abc.log"},
		{"prefix", config.DefaultKeyTemplate, "logs/node-1/", "k8s.io", "abc", "logs/node-1/k8s.io/abc.log"},
		{"slash in id is a separator", config.DefaultKeyTemplate, "", "ns", "ci/job/42", "ns/ci/job/42.log"},
		{"dot-dot cannot climb", config.DefaultKeyTemplate, "", "ns", "../../etc/passwd", "ns/etc/passwd.log"},
		{"leading slash dropped", "/{namespace}/{id}", "", "ns", "/abs", "ns/abs"},
		{"empty segments dropped", config.DefaultKeyTemplate, "", "ns", "a//b", "ns/a/b.log"},
		{"control characters replaced", config.DefaultKeyTemplate, "", "ns", "a\nb\x00c", "ns/a_b_c.log"},
		{"non-ASCII kept", config.DefaultKeyTemplate, "", "ns", "tâche-é", "ns/tâche-é.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Key(tc.template, tc.prefix, tc.ns, tc.id); got != tc.want {
				t.Errorf("Key(%q, %q, %q, %q) = %q, want %q", tc.template, tc.prefix, tc.ns, tc.id, got, tc.want)
			}
		})
	}
}

// failingStore refuses every upload, as S3 does while it is unreachable.
type failingStore struct{ puts int }

func (f *failingStore) Put(context.Context, string, io.Reader, map[string]string, string) error {
	f.puts++
	return errors.New("connection refused")
}

func (f *failingStore) Get(context.Context, string) ([]byte, map[string]string, error) {
	return nil, nil, store.ErrNotFound
}

func (f *failingStore) List(context.Context, string, string, func([]string, bool) bool) error {
	return errors.New("connection refused")
}

func (f *failingStore) String() string { return "s3://down" }

func testLogs(t *testing.T, compression string) config.Logs {
	t.Helper()
	l := config.DefaultLogs()
	l.SpoolDir = filepath.Join(t.TempDir(), "spool")
	l.LocalDir = filepath.Join(t.TempDir(), "logs")
	l.S3.Compression = compression
	return l
}

// newLocalShipper is a shipper to local_dir, the store a unit test can read.
func newLocalShipper(t *testing.T, compression string) (*Shipper, config.Logs) {
	t.Helper()
	cfg := testLogs(t, compression)
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

// latestKey is the key of id's latest stored run.
func latestKey(t *testing.T, s *Shipper, id string) string {
	t.Helper()
	runs, err := s.Runs(context.Background(), "ns", id)
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs of %q: %v %v", id, runs, err)
	}
	return runs[len(runs)-1].Key
}

// stored reads id's latest object back, by stream, with its metadata.
func stored(t *testing.T, s *Shipper, id string) (map[spool.Stream]string, map[string]string) {
	t.Helper()
	body, meta, err := s.Store().Get(context.Background(), latestKey(t, s, id))
	if err != nil {
		t.Fatal(err)
	}
	streams := map[spool.Stream]string{}
	if err := spool.Decode(strings.NewReader(string(body)), func(r spool.Record) error {
		streams[r.Stream] += string(r.Bytes())
		return nil
	}); err != nil {
		t.Fatalf("stored log is not in the CRI format: %v\n%s", err, body)
	}
	return streams, meta
}

var (
	started = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	exited  = started.Add(12 * time.Second)
)

// writeEntry spools out and errOut for task id, finished unless live, and
// drops its lock as a shim does after a failed upload or when it dies.
func writeEntry(t *testing.T, spoolDir, id string, live bool, out, errOut string) string {
	t.Helper()
	e, err := spool.Open(spoolDir, spool.Meta{Namespace: "ns", ID: id, Node: "node-1", Started: started},
		spool.WithClock(func() time.Time { return started }))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(spool.Stdout, []byte(out)); err != nil {
		t.Fatal(err)
	}
	if err := e.Write(spool.Stderr, []byte(errOut)); err != nil {
		t.Fatal(err)
	}
	if !live {
		if _, err := e.Finish(spool.ExitInfo{Code: 3, Exited: exited, Usage: &usage.Layer{Usage: usage.Usage{InodesUsed: 57}}}); err != nil {
			t.Fatal(err)
		}
	}
	e.Release()
	return e.Dir()
}

func TestShip(t *testing.T) {
	for _, tc := range []struct {
		name         string
		live         bool
		compression  string
		out, errOut  string
		wantOut      string
		wantComplete string
		wantExited   bool
	}{
		{"finished task", false, config.CompressionNone, "line 1\nline 2\n", "oops\n", "line 1\nline 2\n", "true", true},
		{"finished task, gzip", false, config.CompressionGzip, "line 1\nline 2\n", "oops\n", "line 1\nline 2\n", "true", true},
		{"finished task, output without final newline", false, config.CompressionNone, "partial", "", "partial", "true", true},
		// The shim died: what it spooled whole ships, marked incomplete.
		{"shim died", true, config.CompressionNone, "line 1\nline 2\n", "oops\n", "line 1\nline 2\n", "false", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, cfg := newLocalShipper(t, tc.compression)
			dir := writeEntry(t, cfg.SpoolDir, "task-1", tc.live, tc.out, tc.errOut)

			res := s.ShipPending(ctx)
			if res.Count(Shipped) != 1 || len(res.Entries) != 1 {
				t.Fatalf("ShipPending = %+v, want the one entry shipped", res)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("spool entry %s still there after shipping (stat: %v)", dir, err)
			}
			streams, meta := stored(t, s, "task-1")
			if streams[spool.Stdout] != tc.wantOut {
				t.Errorf("stdout = %q, want %q", streams[spool.Stdout], tc.wantOut)
			}
			if !tc.live && streams[spool.Stderr] != tc.errOut {
				t.Errorf("stderr = %q, want %q", streams[spool.Stderr], tc.errOut)
			}
			for k, want := range map[string]string{
				"brisk-task-id":   "task-1",
				"brisk-namespace": "ns",
				"brisk-node":      "node-1",
				"brisk-complete":  tc.wantComplete,
				"brisk-started":   started.Format(time.RFC3339),
			} {
				if meta[k] != want {
					t.Errorf("metadata %s = %q, want %q (all: %v)", k, meta[k], want, meta)
				}
			}
			if got, want := meta["brisk-exited"] != "", tc.wantExited; got != want {
				t.Errorf("metadata brisk-exited = %q, want it set: %v", meta["brisk-exited"], want)
			}
			if !tc.live && (meta["brisk-exit-code"] != "3" || meta["brisk-inodes-used"] != "57") {
				t.Errorf("exit code and usage not carried: %v", meta)
			}
		})
	}
}

func TestShipDropsRecordCutByDeadShim(t *testing.T) {
	ctx := context.Background()
	s, cfg := newLocalShipper(t, config.CompressionNone)
	dir := writeEntry(t, cfg.SpoolDir, "task-1", true, "whole\n", "")
	// The shim died in the middle of appending a record.
	f, err := os.OpenFile(filepath.Join(dir, spool.LogFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("2026-11-26T06:00:01Z stdout F half a rec"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if res := s.ShipPending(ctx); res.Count(Shipped) != 1 {
		t.Fatalf("ShipPending = %+v", res)
	}
	body, _, err := s.Store().Get(ctx, latestKey(t, s, "task-1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "half a rec") || !strings.HasSuffix(string(body), "whole\n") {
		t.Errorf("stored log = %q, want the whole records only", body)
	}
}

func TestNothingLostWhileStoreIsDown(t *testing.T) {
	ctx := context.Background()
	cfg := testLogs(t, config.CompressionNone)
	down := &failingStore{}
	s := &Shipper{cfg: cfg, store: down}
	dir := writeEntry(t, cfg.SpoolDir, "task-1", false, "keep me\n", "")

	for range 3 {
		res := s.ShipPending(ctx)
		if len(res.Entries) != 1 || res.Entries[0].Status != Failed || res.Entries[0].Dir != dir ||
			!strings.Contains(res.Entries[0].Err.Error(), "connection refused") || !strings.Contains(res.Entries[0].Err.Error(), "ns/task-1") {
			t.Fatalf("ShipPending with the store down = %+v, want the entry left with the store's error naming the task", res)
		}
	}
	if down.puts != 3 {
		t.Errorf("store saw %d uploads, want 3", down.puts)
	}
	if m, err := spool.ReadMeta(dir); err != nil || m.State != spool.StateDone {
		t.Fatalf("entry after failed uploads: %+v, %v; want it kept, done", m, err)
	}

	// The store is back: the next pass ships the entry.
	up, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := up.ShipPending(ctx); res.Count(Shipped) != 1 {
		t.Fatalf("ShipPending with the store back = %+v", res)
	}
	body, _, err := up.Store().Get(ctx, latestKey(t, up, "task-1"))
	if err != nil || !strings.HasSuffix(string(body), "keep me\n") {
		t.Errorf("stored log = %q, %v", body, err)
	}
}

func TestShipPendingLeavesOwnedEntries(t *testing.T) {
	ctx := context.Background()
	s, cfg := newLocalShipper(t, config.CompressionNone)
	// A running shim holds its entry's lock.
	e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "running"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	res := s.ShipPending(ctx)
	if len(res.Entries) != 1 || res.Entries[0] != (Outcome{Dir: e.Dir(), Status: Owned}) || res.Retryable() {
		t.Fatalf("ShipPending = %+v, want the running task's entry left to its shim", res)
	}
	if _, err := os.Stat(filepath.Join(e.Dir(), spool.LogFile)); err != nil {
		t.Errorf("running task's log: %v", err)
	}
}

func TestIDsUnder(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, prefix, template, parent string
	}{
		{"default layout", "", config.DefaultKeyTemplate, "job-9"},
		{"prefix and custom template", "node-1/", "{prefix}logs/{namespace}/{id}", "job-9/"},
		{"parent that sanitises", "", config.DefaultKeyTemplate, "ci/../job-9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testLogs(t, config.CompressionNone)
			cfg.S3.Prefix, cfg.S3.Key = tc.prefix, tc.template
			s, err := New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			parent := strings.TrimSuffix(tc.parent, "/")
			for _, id := range []string{parent + "/main", parent + "/side/restart-1", parent + "x/other", "other"} {
				writeEntry(t, cfg.SpoolDir, id, false, "x\n", "")
			}
			if res := s.ShipPending(ctx); res.Count(Shipped) != len(res.Entries) {
				t.Fatalf("ShipPending = %+v", res)
			}
			live, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: parent + "/live"})
			if err != nil {
				t.Fatal(err)
			}
			defer live.Release()

			ids, err := s.IDsUnder(ctx, "ns", tc.parent, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{parent + "/live", parent + "/main", parent + "/side/restart-1"}
			if strings.Join(ids, ",") != strings.Join(want, ",") {
				t.Fatalf("IDsUnder(%q) = %q, want %q", tc.parent, ids, want)
			}
			// Every ID found looks its log up.
			for _, id := range ids[1:] {
				if _, _, err := s.Store().Get(ctx, latestKey(t, s, id)); err != nil {
					t.Errorf("lookup of %q: %v", id, err)
				}
			}
			if ids, _ := s.IDsUnder(ctx, "ns", tc.parent, 2); len(ids) != 2 {
				t.Errorf("IDsUnder with max 2 = %q", ids)
			}
		})
	}
}

func TestMetadataOfLossyLog(t *testing.T) {
	md := Metadata(spool.Meta{ID: "t", State: spool.StateDone, Complete: false, Lost: 4096})
	if md["brisk-lost-bytes"] != "4096" || md["brisk-complete"] != "false" {
		t.Errorf("metadata of a log the spool could not take whole: %v", md)
	}
	if md := Metadata(spool.Meta{ID: "t", State: spool.StateDone, Complete: true}); md["brisk-lost-bytes"] != "" {
		t.Errorf("brisk-lost-bytes set on a whole log: %v", md)
	}
}

func TestShipDeadShimKeepsHeadAndTail(t *testing.T) {
	ctx := context.Background()
	s, cfg := newLocalShipper(t, config.CompressionNone)
	e := chattyEntry(t, cfg.SpoolDir)
	e.Release() // the shim died without Finish
	if res := s.ShipPending(ctx); res.Count(Shipped) != 1 {
		t.Fatalf("ShipPending = %+v", res)
	}
	streams, meta := stored(t, s, "chatty")
	if !strings.HasPrefix(streams[spool.Stdout], "line 0000\n") || !strings.HasSuffix(streams[spool.Stdout], "line 1999\n") ||
		!strings.Contains(streams[spool.Stderr], "the shim died") || meta["brisk-complete"] != "false" {
		t.Errorf("dead shim's chatty log: %d bytes of stdout, stderr %q, metadata %v; want its head and newest tail, marked",
			len(streams[spool.Stdout]), streams[spool.Stderr], meta)
	}
}

// chattyEntry is the live entry of task "chatty", which wrote 2000 lines
// "line NNNN" past a max_bytes of 4000: a head, a drop and a tail.
func chattyEntry(t *testing.T, spoolDir string) *spool.Entry {
	t.Helper()
	e, err := spool.Open(spoolDir, spool.Meta{Namespace: "ns", ID: "chatty"}, spool.WithMaxBytes(4000))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := e.Write(spool.Stdout, fmt.Appendf(nil, "line %04d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}
