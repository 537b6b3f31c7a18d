package store

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
)

// An endpoint that accepts and never answers holds no call beyond
// logs.s3.request_timeout, so no entry's lock is held for ever.
func TestEveryS3CallHasADeadline(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	c := config.DefaultLogs().S3
	c.Bucket, c.Endpoint, c.PathStyle = "b", srv.URL, true
	c.RequestTimeout = config.Duration(time.Second)
	st := NewS3(c)
	for name, call := range map[string]func(context.Context) error{
		"put": func(ctx context.Context) error { return st.Put(ctx, "k", strings.NewReader("x"), nil, "") },
		"get": func(ctx context.Context) error { _, _, err := st.Get(ctx, "k"); return err },
		"list": func(ctx context.Context) error {
			return st.List(ctx, "k", "", func([]string, bool) bool { return true })
		},
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- call(context.Background()) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("a call to an endpoint that never answers succeeded")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no answer after 30s with request_timeout = 1s: the call has no deadline")
			}
		})
	}
}
