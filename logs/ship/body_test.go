package ship

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// TestShipMemoryDoesNotGrowWithLog ships a 64 MiB log and checks that the
// upload allocates a small constant, not the log (and its gzip copy): the
// body streams from the spool file.
func TestShipMemoryDoesNotGrowWithLog(t *testing.T) {
	const logBytes = 64 << 20
	const allowed = 4 << 20 // gzip's state, copy buffers, metadata
	for _, tc := range []struct {
		compression string
		live        bool // the shim died: whole records only
	}{
		{config.CompressionNone, false},
		{config.CompressionGzip, false},
		{config.CompressionGzip, true},
		{config.CompressionNone, true},
	} {
		t.Run(fmt.Sprintf("%s live=%v", tc.compression, tc.live), func(t *testing.T) {
			s, cfg := newLocalShipper(t, tc.compression)
			e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "big"}, spool.WithMaxBytes(1<<30))
			if err != nil {
				t.Fatal(err)
			}
			chunk := bytes.Repeat([]byte("a line of a big build log, one of very many\n"), 64<<10/45)
			var last string
			for n := 0; n < logBytes; n += len(chunk) {
				last = fmt.Sprintf("stdout F line %d\n", n)
				if err := e.Write(spool.Stdout, fmt.Appendf(chunk[:len(chunk):len(chunk)], "line %d\n", n)); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.live {
				if _, err := e.Finish(spool.ExitInfo{Exited: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			if n := shipAllocates(t, s, e); n > allowed {
				t.Errorf("shipping a %d MiB log allocated %d MiB", logBytes>>20, n>>20)
			}
			if _, err := os.Stat(e.Dir()); !os.IsNotExist(err) {
				t.Errorf("entry left after shipping: %v", err)
			}
			got, _, err := s.Store().Get(context.Background(), s.KeyFor("ns", "big", e.Meta().Run))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(got, []byte(last)) {
				t.Errorf("stored log ends %q", got[len(got)-100:])
			}
		})
	}
}

// fakeS3 answers the calls an upload makes (PutObject and the multipart
// ones) and discards the bodies, counting their bytes.
func fakeS3(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPost && q.Has("uploadId"):
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>`)
		case r.Method == http.MethodPut:
			w.Header().Set("ETag", `"e"`)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &received
}

// TestS3UploadDoesNotBufferTheLog ships a 16 MiB log through S3Store to a
// fake endpoint: PutObject or the upload manager must read the spool file in
// place (uncompressed) or hold one part of the gzip stream, not the log.
func TestS3UploadDoesNotBufferTheLog(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	for _, tc := range []struct {
		compression string
		allowed     uint64
	}{
		{config.CompressionNone, 3 << 20},
		// The gzip stream's size is known at its end only: the upload
		// manager buffers a part of it (here the whole compressed log).
		{config.CompressionGzip, 8 << 20},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			srv, received := fakeS3(t)
			cfg := testLogs(t, tc.compression)
			cfg.S3.Bucket, cfg.S3.Endpoint, cfg.S3.PathStyle = "bucket", srv.URL, true
			s, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.Store().(*store.S3).Client() // the SDK's own setup is not the upload's
			e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "big"}, spool.WithMaxBytes(1<<30))
			if err != nil {
				t.Fatal(err)
			}
			random := make([]byte, 48<<10) // compresses little
			for i := range random {
				random[i] = byte('a' + (i*7919+i/13)%26)
			}
			for n := 0; n < 16<<20; n += len(random) {
				if err := e.Write(spool.Stdout, random); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.Finish(spool.ExitInfo{}); err != nil {
				t.Fatal(err)
			}
			if n := shipAllocates(t, s, e); n > tc.allowed {
				t.Errorf("uploading a 16 MiB log allocated %d MiB", n>>20)
			}
			if received.Load() == 0 {
				t.Errorf("nothing uploaded")
			}
		})
	}
}

// shipAllocates ships e as its owner does and returns the bytes that
// allocated.
func shipAllocates(t *testing.T, s *Shipper, e *spool.Entry) uint64 {
	t.Helper()
	defer e.Release()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.Ship(context.Background(), e.Claim()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
