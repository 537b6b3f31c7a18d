package integration

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/store"
)

// MinIO, a real S3 API, answers batch mode's conditional writes and
// ranged reads as the store interface promises: a second If-None-Match
// PUT is ErrExists, an If-Match PUT of a stale ETag ErrConflict, a
// suffix range the object's end with its size; and the probe passes.
// Every request is counted by operation and purpose.
func TestBatchStoreOnMinIO(t *testing.T) {
	env := harness.New(t)
	m := env.StartMinIO()
	for _, kv := range m.Env() {
		k, v, _ := cut(kv)
		t.Setenv(k, v)
	}
	c := config.DefaultLogs().S3
	c.Bucket, c.Endpoint, c.PathStyle, c.Region = "batch", m.Endpoint, true, m.Region
	requests := store.NewRequestCounter()
	st, err := store.ConnectS3(context.Background(), c, store.WithRequests(requests))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("batch")}); err != nil {
		t.Fatal(err)
	}
	if err := batch.Probe(ctx, st, "", "node-a", "MinIO"); err != nil {
		t.Fatalf("probe of MinIO: %v", err)
	}
	if n := testutil.ToFloat64(requests.WithLabelValues("PutObject", store.PurposeProbe)); n != 4 {
		t.Errorf("probe PUTs counted: %v, want 4", n)
	}
	etag, err := st.Create(ctx, "k", []byte("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, "k", []byte("other")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if _, err := st.Replace(ctx, "k", []byte("x"), `"0123"`); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replace with a stale ETag: %v, want ErrConflict", err)
	}
	if _, err := st.Replace(ctx, "absent", []byte("x"), etag); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replace of an absent key: %v, want ErrConflict", err)
	}
	o, err := st.ReadRange(ctx, "k", -4, 0)
	if err != nil || string(o.Body) != "6789" || o.Size != 10 || o.ETag != etag {
		t.Fatalf("suffix read: %q size %d etag %s (want %s), %v", o.Body, o.Size, o.ETag, etag, err)
	}
	o, err = st.ReadRange(ctx, "k", 2, 3)
	if err != nil || string(o.Body) != "234" {
		t.Fatalf("range read: %q, %v", o.Body, err)
	}
	if _, err := st.Replace(ctx, "k", []byte("new"), etag); err != nil {
		t.Fatalf("replace with the current ETag: %v", err)
	}
}

func cut(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}
