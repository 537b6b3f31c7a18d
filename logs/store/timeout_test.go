package store_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// logs.s3.request_timeout bounds each request, not a whole upload: on a
// link that takes at least 0.4 s per 5 MiB part, a 30 MiB log (six parts,
// one at a time as a gzip stream is sent) ships with request_timeout = 2s,
// where a deadline over the whole upload failed every attempt.
func TestRequestTimeoutBoundsEachRequestNotTheUpload(t *testing.T) {
	f := storetest.New(t)
	f.Slow = 20 * time.Millisecond // per 256 KiB: 0.4 s per 5 MiB part
	c := f.Config()
	c.RequestTimeout = config.Duration(2 * time.Second)
	st := f.Store(c)
	log := bytes.Repeat([]byte("0123456789abcdef"), 30<<20/16)
	// Not a section reader: the upload manager sends it one part at a
	// time, as it does the gzip stream.
	body := io.MultiReader(bytes.NewReader(log))
	start := time.Now()
	if err := st.Put(context.Background(), "ns/big@r.log", body, nil, ""); err != nil {
		t.Fatalf("30 MiB over a link of ~12 MiB/s with request_timeout = 2s: %v (after %v)", err, time.Since(start))
	}
	o, ok := f.Object("ns/big@r.log")
	if !ok || !bytes.Equal(o.Body, log) {
		t.Fatalf("stored %d bytes, want the %d of the log", len(o.Body), len(log))
	}
	t.Logf("uploaded in %v", time.Since(start))

	// A request that never ends is still cut at request_timeout.
	f.Slow = time.Hour
	done := make(chan error, 1)
	go func() { done <- st.Put(context.Background(), "ns/stuck@r.log", bytes.NewReader([]byte("x")), nil, "") }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a request that never ends succeeded")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a request that never ends still runs after 60s with request_timeout = 2s")
	}
}
