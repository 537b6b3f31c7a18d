package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/testutil/testpki"
)

// testCA is a certificate authority made for one test.
// serveReal runs n's server as brisk-logd does (Serve: its TLS, its unix
// socket) until the test ends, and waits until probe answers.
func (n *logNode) serveReal(t *testing.T, probe func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); probe() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("brisk-logd never answered: %v", probe())
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestLogsOverTLS reads a log from a brisk-logd serving TLS with a
// certificate of the cluster's own CA: --ca-file (or briskctl.ca_file)
// trusts it; without it, or with another CA, briskctl refuses the server.
func TestLogsOverTLS(t *testing.T) {
	ca, stranger := testpki.NewCA(t, "brisk test CA"), testpki.NewCA(t, "another CA")
	addr := freeAddr(t)
	_, certFile, keyFile := ca.Files(t, t.TempDir(), "brisk-logd")
	n := newLogNode(t, func(c *config.Logs) {
		c.API.Listen = addr
		c.API.TLSCert, c.API.TLSKey = certFile, keyFile
	})
	caFile := n.write("ca.pem", string(ca.PEM), 0o644)
	strangerFile := n.write("stranger.pem", string(stranger.PEM), 0o644)
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	n.serveReal(t, func() error {
		resp, err := probe.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	e := n.open("default", "t")
	printSome(t, e, "tls")
	n.finish(e, 0)
	want, _, err := n.local("t")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + addr
	out, stderr, err := runLogs(nil, n.laptop, "--server", server, "--token-file", n.tokenFile, "--ca-file", caFile, "-f", "t")
	if err != nil || out != want {
		t.Errorf("over TLS with --ca-file: %v, stderr %q; stdout %s", err, stderr, firstDifference(out, want))
	}
	withCA := n.write("laptop-tls.toml", "[logs]\nspool_dir = \""+filepath.Join(n.dir, "laptop", "spool")+"\"\n[briskctl]\nserver = \""+server+"\"\ntoken_file = \""+n.tokenFile+"\"\nca_file = \""+caFile+"\"\n", 0o644)
	if out, _, err := runLogs(nil, withCA, "t"); err != nil || out != want {
		t.Errorf("over TLS with briskctl.ca_file: %v", err)
	}
	for _, args := range [][]string{
		{"--server", server, "--token-file", n.tokenFile, "t"},
		{"--server", server, "--token-file", n.tokenFile, "--ca-file", strangerFile, "t"},
	} {
		if _, _, err := runLogs(nil, n.laptop, args...); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("%q: %v; want the server's certificate refused", args, err)
		}
	}
	if _, _, err := runLogs(nil, n.laptop, "--server", server, "--ca-file", n.tokenFile, "t"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file that holds no certificate: %v", err)
	}
}

// TestLogsOverTheUnixSocket reads through the node's own socket, which
// needs no token.
func TestLogsOverTheUnixSocket(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "logd.sock")
	n := newLogNode(t, func(c *config.Logs) {
		c.API.Socket = socket
		c.API.Listen = ""
	})
	probe := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	n.serveReal(t, func() error {
		resp, err := probe.Get("http://logd/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	e := n.open("default", "t")
	printSome(t, e, "socket")
	n.finish(e, 2)
	want, _, err := n.local("--timestamps", "t")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runLogs(nil, n.laptop, "--server", "unix://"+socket, "-f", "--timestamps", "t")
	if err != nil || out != want {
		t.Errorf("over the unix socket: %v, stderr %q; stdout %s", err, stderr, firstDifference(out, want))
	}
}
