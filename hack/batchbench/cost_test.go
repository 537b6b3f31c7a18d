package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestClassOf(t *testing.T) {
	for _, tc := range []struct{ op, want string }{
		{"PutObject", classPut},
		{"putobject", classPut},
		{"CopyObject", classPut},
		{"ListObjectsV2", classPut},
		{"NewMultipartUpload", classPut},
		{"CreateMultipartUpload", classPut},
		{"PutObjectPart", classPut},
		{"UploadPart", classPut},
		{"CompleteMultipartUpload", classPut},
		{"PostPolicyBucket", classPut},
		{"GetObject", classGet},
		{"HeadObject", classGet},
		{"SelectObjectContent", classGet},
		{"DeleteObject", classFree},
		{"AbortMultipartUpload", classFree},
	} {
		if got := classOf(tc.op); got != tc.want {
			t.Errorf("classOf(%q) = %q, want %q", tc.op, got, tc.want)
		}
	}
}

func TestDollarsPerDay(t *testing.T) {
	for _, tc := range []struct {
		name    string
		perTask map[string]float64
		rate    float64
		want    float64
	}{
		// The figure: one PUT per task at 300 tasks/s.
		{"one PUT a task", map[string]float64{"PutObject": 1}, 300, 129.6},
		{"GETs at the lower price", map[string]float64{"GetObject": 1}, 300, 10.368},
		{"deletes are free", map[string]float64{"DeleteObject": 5}, 300, 0},
		{"mixed", map[string]float64{"PutObject": 0.03, "ListObjectsV2": 0.01, "GetObject": 0.05}, 300, 0.04*25.92e6*0.005/1000 + 0.05*25.92e6*0.0004/1000},
	} {
		if got := dollarsPerDay(tc.perTask, tc.rate); !near(got, tc.want) {
			t.Errorf("%s: $%v/day, want $%v", tc.name, got, tc.want)
		}
	}
}

func TestStorageDollarsPerDay(t *testing.T) {
	// 48 kB a task, 300 tasks/s: 1,244 GB kept a day, at $0.023 per
	// GB-month.
	got := storageDollarsPerDay(48000, 300)
	want := 48000 * 300 * 86400 / 1e9 * 0.023 / (365.0 / 12)
	if !near(got, want) || got < 0.9 || got > 1 {
		t.Errorf("$%v/day, want $%v", got, want)
	}
}

func TestSub(t *testing.T) {
	got := sub(map[string]float64{"a": 5, "b": 2, "c": 1}, map[string]float64{"a": 3, "b": 2, "d": 1})
	want := map[string]float64{"a": 2, "c": 1, "d": -1}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}

// The seed's load from a simulated run of 10 nodes over 100 s: each
// node's batches scale with the nodes, the lease reads with the nodes
// that do not hold it, the listing with its pages, the compactor's
// writes not at all; the roll-ups are added by design.
func TestSeedModel(t *testing.T) {
	m := seedModel{simNodes: 10, seedNodes: 100, seedRate: 300, window: 100 * time.Second,
		lag: 3 * time.Minute, interval: 10 * time.Second, compactor: true}
	r := requestsBy{
		perNode:    map[string]float64{"PutObject": 100}, // a batch per node every 10 s
		candidates: map[string]float64{"GetObject": 90},  // 9 candidates, a read every 10 s
		listing:    map[string]float64{"ListObjectsV2": 10},
		compactor:  map[string]float64{"PutObject": 15},
	}
	got := m.perSecond(r)
	// 100 nodes: 10 batches/s; 99 candidates: 9.9 reads/s; 1,800 batches
	// listed every cycle, two pages: 0.2/s; 0.15 writes/s; roll-ups: 108
	// GETs and 119 PUTs an hour.
	want := map[string]float64{
		"PutObject":     10 + 0.15 + 119.0/3600,
		"GetObject":     9.9 + 108.0/3600,
		"ListObjectsV2": 0.2,
	}
	for op, v := range want {
		if !near(got[op], v) {
			t.Errorf("%s: %v/s, want %v", op, got[op], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%v, want %v", got, want)
	}
	if pt := total(m.perTask(r)); !near(pt, (10.15+119.0/3600+9.9+108.0/3600+0.2)/300) {
		t.Errorf("%v requests a task", pt)
	}

	// Per-task upload: every request is a task's, nothing else added.
	m.compactor = false
	got = m.perSecond(requestsBy{perNode: map[string]float64{"PutObject": 3000}})
	if len(got) != 1 || !near(got["PutObject"], 300) {
		t.Errorf("per-task upload: %v, want 300 PutObject/s", got)
	}
}

func TestListPages(t *testing.T) {
	for _, tc := range []struct{ keys, want float64 }{{0, 1}, {180, 1}, {1000, 1}, {1001, 2}, {1800, 2}, {18000, 18}} {
		if got := listPages(tc.keys); got != tc.want {
			t.Errorf("listPages(%v) = %v, want %v", tc.keys, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := make([]float64, 200)
	for i := range v {
		v[i] = float64(200 - i) // 200 … 1
	}
	for _, tc := range []struct{ p, want float64 }{{50, 100}, {99, 198}, {100, 200}, {0, 1}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of none = %v", got)
	}
}

// MinIO's metrics v3 per bucket, as this MinIO writes them: the bucket's
// counts by API, other buckets' left out.
func TestMinioRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/minio/metrics/v3/bucket/api/b1" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`# HELP minio_bucket_api_total Total number of requests for a bucket
# TYPE minio_bucket_api_total counter
minio_bucket_api_total{bucket="b1",name="GetObject",server="127.0.0.1:9000",type="s3"} 8
minio_bucket_api_total{bucket="b1",name="ListObjectsV2",server="127.0.0.1:9000",type="s3"} 1
minio_bucket_api_total{bucket="b1",name="PutObject",server="127.0.0.1:9000",type="s3"} 3
minio_bucket_api_total{bucket="b2",name="PutObject",server="127.0.0.1:9000",type="s3"} 99
# HELP minio_bucket_api_4xx_errors_total Total number of requests with 4xx errors for a bucket
# TYPE minio_bucket_api_4xx_errors_total counter
minio_bucket_api_4xx_errors_total{bucket="b1",name="GetObject",server="127.0.0.1:9000",type="s3"} 8
`))
	}))
	defer srv.Close()
	got, err := minioRequests(context.Background(), srv.URL, "b1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"GetObject": 8, "ListObjectsV2": 1, "PutObject": 3}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}

// A day into a bucket's life at the seed's load, a lookup reads 16
// minute objects, 8 ten-minute shards and 25 hour shards: each minute
// object holds the 600 batches of its minute and their 18,000 hashes; a
// batch of 30 random IDs is in 98% of the 8 shards and 38% of the 64.
func TestLookupBytes(t *testing.T) {
	m := seedModel{seedNodes: 100, interval: 10 * time.Second}
	s := indexShape{bLine: 350, hLine: 17, gzip: 0.5}
	gz, raw := m.lookupBytes(s, 30)
	want := map[string]float64{
		"1m":  16 * (600*350 + 18000*17),
		"10m": 8 * (6000*(1-math.Pow(7.0/8, 30))*350 + 6000*30.0/8*17),
		"1h":  25 * (36000*(1-math.Pow(63.0/64, 30))*350 + 36000*30.0/64*17),
	}
	for tier, w := range want {
		if !near(raw[tier], w) || !near(gz[tier], w/2) {
			t.Errorf("%s: %v raw, %v gzip; want %v, %v", tier, raw[tier], gz[tier], w, w/2)
		}
	}
	// About 150 MB to parse, most of it batch keys in hour shards.
	if total := sum(raw); total < 140e6 || total > 160e6 {
		t.Errorf("%v bytes a lookup", total)
	}
}

func sum(m map[string]float64) float64 { return total(m) }
