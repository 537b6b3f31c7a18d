package doctor

import (
	"context"
	"strings"
	"testing"
	"time"
)

// requests is a "requests" section over window, with "op/purpose" counts.
func requests(window time.Duration, tasks uint64, ops map[string]uint64) logdRequests {
	to := time.Date(2026, 12, 7, 11, 0, 30, 0, time.UTC)
	r := logdRequests{From: to.Add(-window), To: to, Tasks: tasks}
	for k, n := range ops {
		op, purpose, _ := strings.Cut(k, "/")
		r.ByOp = append(r.ByOp, logdOpRequests{Op: op, Purpose: purpose, Requests: n})
		r.Requests += n
	}
	return r
}

func TestCostLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    logdRequests
		want string
	}{
		{"batch mode, an hour", requests(59*time.Minute+30*time.Second, 58400, map[string]uint64{
			"PutObject/batch": 1200, "PutObject/index": 360, "PutObject/lease": 80, "ListObjectsV2/list": 120, "GetObject/index": 60}),
			// 1,760 at $0.005/1,000 and 60 at $0.0004/1,000 in 59.5 minutes.
			"0.031 S3 requests per task over the last hour (1,820 requests, 58,400 tasks); about $0.21/day at this rate (list prices)"},
		{"per-task upload, 10 minutes after the start", requests(10*time.Minute, 3000, map[string]uint64{
			"PutObject/task": 3000, "GetObject/read": 40, "ListObjectsV2/list": 20}),
			"1.020 S3 requests per task since brisk-logd started 10 minutes ago (3,060 requests, 3,000 tasks); about $2.18/day at this rate (list prices)"},
		{"per-task upload at 300 tasks/s", requests(time.Hour, 1080000, map[string]uint64{"PutObject/task": 1080000}),
			"1.000 S3 requests per task over the last hour (1,080,000 requests, 1,080,000 tasks); about $129.60/day at this rate (list prices)"},
		{"a few requests for many tasks", requests(time.Hour, 1000, map[string]uint64{"PutObject/batch": 5}),
			"0.005 S3 requests per task over the last hour (5 requests, 1,000 tasks); about $0.0006/day at this rate (list prices)"},
		{"no task: the compactor's lease alone", requests(time.Hour, 0, map[string]uint64{"PutObject/lease": 360, "GetObject/lease": 360}),
			"no task shipped over the last hour, and 720 S3 requests; about $0.047/day at this rate (list prices)"},
		{"the probe's delete is free", requests(time.Minute, 0, map[string]uint64{"DeleteObject/probe": 1}),
			"no task shipped since brisk-logd started a minute ago, and 1 S3 request; about $0.00/day at this rate (list prices)"},
		{"nothing yet", requests(42*time.Second, 0, nil), "no S3 request and no task shipped since brisk-logd started 42 seconds ago"},
		{"nothing, just started", requests(300*time.Millisecond, 0, nil), "no S3 request and no task shipped since brisk-logd started just now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := costResult(tc.r)
			if got.Check != "logd/cost" || got.Status != Info || got.Found != tc.want {
				t.Errorf("got %s %s %q\nwant INFO logd/cost %q", got.Status, got.Check, got.Found, tc.want)
			}
		})
	}
}

func TestRequestPrices(t *testing.T) {
	for op, want := range map[string]float64{
		"PutObject": 0.005, "CopyObject": 0.005, "UploadPart": 0.005, "CreateMultipartUpload": 0.005,
		"CompleteMultipartUpload": 0.005, "ListObjectsV2": 0.005, "PutBucketLifecycleConfiguration": 0.005,
		"GetObject": 0.0004, "HeadObject": 0.0004, "HeadBucket": 0.0004, "GetBucketLifecycleConfiguration": 0.0004,
		"DeleteObject": 0, "AbortMultipartUpload": 0,
	} {
		if got := requestPrice(op) * 1000; got < want-1e-12 || got > want+1e-12 {
			t.Errorf("%s: $%g per 1,000, want $%g", op, got, want)
		}
	}
}

// brisk-logd's status with requests gives the cost line after the
// shipping finding; without (an older brisk-logd), none.
func TestLogdCostFinding(t *testing.T) {
	status := `{"node":"n","shipping":{"store":"s3://logs","shipped":12,"consecutive_failures":0},` +
		`"requests":{"from":"2026-12-07T10:00:00Z","to":"2026-12-07T11:00:00Z","tasks":12,"requests":3,` +
		`"by_op":[{"op":"PutObject","purpose":"batch","requests":2},{"op":"GetObject","purpose":"index","requests":1}]}}`
	rs := logdResults(context.Background(), serveLogdStatus(t, status), t.TempDir())
	want := "0.250 S3 requests per task over the last hour (3 requests, 12 tasks); about $0.00025/day at this rate (list prices)"
	if len(rs) != 2 || rs[0].Status != Pass || rs[1].Check != "logd/cost" || rs[1].Status != Info || rs[1].Found != want {
		t.Fatalf("%+v\nwant PASS, then INFO logd/cost %q", rs, want)
	}
	rs = logdResults(context.Background(), serveLogdStatus(t, `{"node":"n","shipping":{"store":"s3://logs","shipped":12}}`), t.TempDir())
	if len(rs) != 1 || rs[0].Status != Pass {
		t.Fatalf("%+v: want the shipping finding alone", rs)
	}
}
