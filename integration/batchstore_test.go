package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
	requests := store.NewRequestCounter()
	st := batchBucket(t, store.WithRequests(requests))
	ctx := context.Background()
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

// batchBucket starts MinIO with a bucket "batch", and is a store of it,
// the test given MinIO's credentials as brisk-logd would be.
func batchBucket(t *testing.T, opts ...store.S3Opt) *store.S3 {
	t.Helper()
	m := harness.New(t).StartMinIO()
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c := config.DefaultLogs().S3
	c.Bucket, c.Endpoint, c.PathStyle, c.Region = "batch", m.Endpoint, true, m.Region
	st, err := store.ConnectS3(context.Background(), c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("batch")}); err != nil {
		t.Fatal(err)
	}
	return st
}

// MinIO stores a full batch under its key, however many logs it holds
// and however long the node's name: it refuses a key with a part between
// two "/" over 255 bytes (XMinioInvalidObjectName), which a key holding
// more than about 22 ID hashes in one part is.
func TestBatchKeyOnMinIO(t *testing.T) {
	st := batchBucket(t)
	ctx := context.Background()
	for _, node := range []string{"node-a", strings.Repeat("n", 63)} {
		for _, n := range []int{1, 30, 64, batch.MaxHashes("logs/", node)} {
			hs := make([]string, n)
			for i := range hs {
				hs[i] = batch.IDHash("ns", fmt.Sprint(i))
			}
			key := batch.BatchKey("logs/", node, time.Now(), hs)
			if _, err := st.Create(ctx, key, []byte("a batch")); err != nil {
				t.Errorf("node %q, %d logs: store the batch: %v", node, n, err)
				continue
			}
			var found bool
			if err := st.List(ctx, "logs/"+batch.Dir, "", func(keys []string, _ bool) bool {
				found = found || slices.Contains(keys, key)
				return true
			}); err != nil || !found {
				t.Errorf("node %q, %d logs: batch not listed (%v)", node, n, err)
			}
			if k, ok := batch.ParseKey("logs/", key); !ok || len(k.Hashes) != n {
				t.Errorf("node %q, %d logs: key %q parses as %+v, %v", node, n, key, k, ok)
			}
		}
	}
}
