package store_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// The SDK's own log lines never reach stderr: reading back a multipart
// object (its checksum is a composite one the SDK skips, and says so) or
// an object from a store that keeps no checksum leaves stderr as it was.
// Under briskctl logs, stderr is the task's.
func TestSDKLogsStayOffStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w // the SDK's default logger takes os.Stderr when a client is built
	defer func() { os.Stderr = stderr }()

	f := storetest.New(t)
	st := f.Store(f.Config())
	f.Put("ns/multipart@r.log", []byte("2026-12-07T15:00:00.000000000Z stdout F hi\n"))
	f.GetHeaders = map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA==-2", "X-Amz-Checksum-Type": "COMPOSITE"}
	if _, _, err := st.Get(context.Background(), "ns/multipart@r.log"); err != nil {
		t.Fatal(err)
	}
	f.GetHeaders = nil
	if _, _, err := st.Get(context.Background(), "ns/multipart@r.log"); err != nil {
		t.Fatal(err)
	}
	os.Stderr = stderr
	w.Close()
	var got bytes.Buffer
	_, _ = io.Copy(&got, r)
	if got.Len() > 0 {
		t.Errorf("the S3 client wrote to stderr:\n%s", strings.TrimSpace(got.String()))
	}
}
