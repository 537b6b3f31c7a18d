package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// slowLink is a loopback TCP proxy to target that passes each connection's
// upload (client to server) at rate bytes a second at most: a slow link
// before the store, whose answers come back at full speed.
func slowLink(t *testing.T, target string, rate int) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(2)
			go func() {
				defer wg.Done()
				defer u.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := u.Write(buf[:n]); werr != nil {
							return
						}
						time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return l.Addr().String()
}

// logs.s3.request_timeout bounds each request of an upload, not the whole:
// through a link that passes 6 MiB/s a connection, a 60 MiB log (twelve
// 5 MiB parts, five at a time: three rounds of at least 0.83 s) reaches
// MinIO with request_timeout = 2s. A deadline over the whole upload fails
// it on every attempt, and the log is retried for ever.
func TestLargeLogOverSlowLink(t *testing.T) {
	env := harness.New(t)
	m := env.StartMinIO()
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := config.DefaultLogs()
	cfg.SpoolDir = env.Path("spool")
	cfg.S3.Bucket, cfg.S3.PathStyle, cfg.S3.Region = bucket, true, m.Region
	cfg.S3.Endpoint = m.Endpoint
	direct, err := store.ConnectS3(context.Background(), cfg.S3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	cfg.S3.Endpoint = "http://" + slowLink(t, strings.TrimPrefix(m.Endpoint, "http://"), 6<<20)
	cfg.S3.RequestTimeout = config.Duration(2 * time.Second)
	shipper, err := ship.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}

	e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "default", ID: "large"}, spool.WithMaxBytes(1<<30))
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("0123456789abcdef", 255) + "\n")
	var want bytes.Buffer
	for want.Len() < 60<<20 {
		fmt.Fprintf(&want, "%08d ", want.Len())
		want.Write(line)
	}
	for b := want.Bytes(); len(b) > 0; {
		n := min(len(b), 64<<10)
		if err := e.Write(spool.Stdout, b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	run := e.Meta().Run
	if _, err := e.Finish(spool.ExitInfo{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = shipper.Ship(context.Background(), e.Claim())
	e.Release()
	if err != nil {
		t.Fatalf("shipping a 60 MiB log over a link of 6 MiB/s a connection with request_timeout = 2s: %v (after %v, permanent %t)",
			err, time.Since(start), store.IsPermanent(err))
	}
	t.Logf("shipped in %v", time.Since(start))
	body, _, err := direct.Get(context.Background(), shipper.KeyFor("default", "large", run))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := spool.Decode(bytes.NewReader(body), func(r spool.Record) error { _, err := got.Write(r.Bytes()); return err }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("stored log holds %d bytes of output, differs from the %d written", got.Len(), want.Len())
	}
}
