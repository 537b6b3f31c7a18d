package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

func meta(ns, id, run string) spool.Meta {
	return spool.Meta{Namespace: ns, ID: id, Run: run, State: spool.StateDone, ExitCode: 3, Complete: true}
}

// sealOf builds a batch of logs (id -> log).
func sealOf(t *testing.T, logs map[string]string) ([]byte, uint32) {
	t.Helper()
	var b Builder
	for id, l := range logs {
		m, err := Compress(meta("ns", id, "r1"), strings.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		b.Add(meta("ns", id, "r1"), m)
	}
	body, crc, err := b.Seal("node-a", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return body, crc
}

// A batch reads back: its footer finds its trailer in one suffix read,
// each member is a gzip stream of its log alone, and a trailer larger
// than the suffix read takes a second read.
func TestBatchRoundTrip(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	logs := map[string]string{"a": "2026-12-07T00:00:00Z stdout F hello\n", "b/with/slash": strings.Repeat("x", 100000) + "\n", "ü-ß": ""}
	body, crc := sealOf(t, logs)
	f.Put("batch/k.batch", body)
	if got := string(body[len(body)-FooterSize:]); !strings.HasPrefix(got, "brisk-batch 1 trailer=") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("footer %q", got)
	}
	ctx := context.Background()
	before := f.Requests.Load()
	tr, err := ReadTrailer(ctx, st, "batch/k.batch")
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Requests.Load() - before; n != 1 {
		t.Errorf("trailer read in %d requests, want 1", n)
	}
	if len(tr.Entries) != 3 || tr.Node != "node-a" {
		t.Fatalf("trailer %+v", tr)
	}
	for _, e := range tr.Entries {
		got, err := ReadLog(ctx, st, "batch/k.batch", e)
		if err != nil || string(got) != logs[e.Meta.ID] {
			t.Errorf("log of %q: %d bytes, %v; want %d bytes", e.Meta.ID, len(got), err, len(logs[e.Meta.ID]))
		}
		if e.Meta.ExitCode != 3 || !e.Meta.Complete {
			t.Errorf("metadata of %q: %+v", e.Meta.ID, e.Meta)
		}
	}
	_ = crc

	// 2,000 logs: a trailer over TailRead.
	big := map[string]string{}
	for i := range 2000 {
		big[strings.Repeat("i", 40)+string(rune('a'+i%26))+strings.Repeat("z", i%7)+time.Duration(i).String()] = "x\n"
	}
	body, _ = sealOf(t, big)
	f.Put("batch/big.batch", body)
	before = f.Requests.Load()
	if tr, err = ReadTrailer(ctx, st, "batch/big.batch"); err != nil || len(tr.Entries) != 2000 {
		t.Fatalf("big trailer: %v", err)
	}
	if n := f.Requests.Load() - before; n != 2 {
		t.Errorf("big trailer read in %d requests, want 2", n)
	}
}

// A corrupted trailer is caught by its CRC, and the runs are still found
// from the members' own headers.
func TestCorruptTrailerIsRebuilt(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	logs := map[string]string{"a": "one\n", "b": "two\n", "c": "three\n"}
	body, _ := sealOf(t, logs)
	i := bytes.LastIndex(body, []byte(`"id":"b"`))
	body[i+6] = 'X' // "id":"X": the trailer no longer names b
	f.Put("batch/k.batch", body)
	ctx := context.Background()
	if _, err := ReadTrailer(ctx, st, "batch/k.batch"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("reading a corrupted trailer: %v; want ErrCorrupt naming the CRC", err)
	}
	found, rebuilt, err := Find(ctx, st, "batch/k.batch", "ns", "b")
	if err != nil || !rebuilt || len(found) != 1 {
		t.Fatalf("Find after corruption: %+v rebuilt=%v %v; want b, rebuilt", found, rebuilt, err)
	}
	if got, err := ReadLog(ctx, st, "batch/k.batch", found[0]); err != nil || string(got) != "two\n" {
		t.Fatalf("rebuilt log of b: %q %v", got, err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 7, 21, 3, 4, 567e6, time.UTC)
	hs := []string{IDHash("ns", "a"), IDHash("ns", "b")}
	k := BatchKey("logs/", "Node_A.example", now, hs)
	if !strings.HasPrefix(k, "logs/batch/20261207/21/0304.567_node-a.example_") {
		t.Fatalf("key %q", k)
	}
	got, ok := ParseKey("logs/", k)
	if !ok || !got.Sealed.Equal(now) || got.Node != "node-a.example" || len(got.Hashes) != 2 || got.Hashes[1] != hs[1] {
		t.Fatalf("ParseKey(%q) = %+v, %v", k, got, ok)
	}
	if _, ok := ParseKey("logs/", "logs/batch-large/x.gz"); ok {
		t.Error("a large log's key parsed as a batch")
	}
	if n := MaxHashes("logs/", "node-a"); n < 64 {
		t.Errorf("MaxHashes = %d, want at least 64", n)
	}
	// A full batch's key: no path segment longer than MinIO takes, and
	// read back whole.
	node := strings.Repeat("n", 63)
	var many []string
	for i := range MaxHashes("logs/", node) {
		many = append(many, IDHash("ns", fmt.Sprint(i)))
	}
	full := BatchKey("logs/", node, now, many)
	for _, seg := range strings.Split(full, "/") {
		if len(seg) > MaxSegmentLen {
			t.Errorf("key %q has a segment of %d bytes", full, len(seg))
		}
	}
	if len(full) > MaxKeyLen || len(many) < 64 {
		t.Errorf("key of %d bytes for %d hashes", len(full), len(many))
	}
	if got, ok := ParseKey("logs/", full); !ok || !slices.Equal(got.Hashes, many) || got.Node != node {
		t.Errorf("ParseKey of a full batch's key: %v, %d hashes", ok, len(got.Hashes))
	}
	if j := journalName("logs/", full); len(j) > 100 || !strings.HasPrefix(j, "20261207_21_0304.567_"+node+"_") {
		t.Errorf("journal name %q", j)
	}
	if TimePrefix("logs/", now.Add(-time.Second)) >= k || TimePrefix("logs/", now.Add(time.Second)) <= k {
		t.Error("keys do not sort by time")
	}
}

// A store that ignores If-None-Match and If-Match is found out, and named.
func TestProbeRefusesAStoreWithoutConditionalWrites(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ignore, reject bool
	}{{"honours them", false, false}, {"ignores them", true, false}, {"answers 501", false, true}} {
		ignore := tc.ignore || tc.reject
		f := storetest.New(t)
		f.IgnoreConditions, f.RejectConditions = tc.ignore, tc.reject
		err := Probe(context.Background(), f.Store(f.Config()), "p/", "n", "s3://b at "+f.Config().Endpoint)
		if ignore != errors.Is(err, ErrNoConditionalWrites) {
			t.Fatalf("probe of a store that %s: %v", tc.name, err)
		}
		if ignore && !strings.Contains(err.Error(), f.Config().Endpoint) {
			t.Errorf("the refusal does not name the store: %v", err)
		}
		if keys := f.Keys(); len(keys) != 0 {
			t.Errorf("probe left %v", keys)
		}
	}
	f := storetest.New(t)
	f.Down.Store(true)
	if err := Probe(context.Background(), f.Store(f.Config()), "p/", "n", "s3://b"); err == nil || errors.Is(err, ErrNoConditionalWrites) {
		t.Fatalf("probe of a store that is down: %v; want its error, not a refusal", err)
	}
	_ = store.ErrExists
}
