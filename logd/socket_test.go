package logd

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
}

func TestUnixSocketIsRootsAlone(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "logd.sock")
	n := newNode(t, "n1", func(c *config.Logs) { c.API.Socket = sock; c.API.Listen = "" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Serve(ctx) }()
	c := unixClient(sock)
	var resp *http.Response
	for i := 0; i < 100; i++ {
		var err error
		if resp, err = c.Get("http://logd/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp == nil {
		t.Fatalf("the socket does not answer")
	}
	resp.Body.Close()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600: only root reaches it", fi.Mode(), err)
	}
	e := n.open("secret-ns", "t")
	_ = e.Write(spool.Stdout, []byte("root reads this\n"))
	defer e.Release()
	resp, err = c.Get("http://logd/v1/logs/secret-ns/t")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "root reads this\n" {
		t.Errorf("over the socket, no token: %d %q", resp.StatusCode, body)
	}
	// A second daemon on the same socket is refused, not stealing it.
	second := newNode(t, "n2", func(c *config.Logs) { c.API.Socket = sock; c.API.Listen = "" })
	if err := second.srv.Serve(ctx); err == nil || !strings.Contains(err.Error(), "another brisk-logd serves it") {
		t.Errorf("second daemon on the socket: %v", err)
	}
	cancel()
	<-errc
}
