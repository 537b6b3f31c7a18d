package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/testutil/testpki"
	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/spool"
)

// ticker is a task that prints a line on stdout and one on stderr every
// 100 ms for about 3 s, then exits 3.
var ticker = []string{"sh", "-c", `for i in $(seq 1 30); do echo "out $i"; echo "err $i" >&2; sleep 0.1; done; exit 3`}

// logdNodes are three brisk-logd on this machine: a serves the spool the
// shims write; b and c stand for other nodes, with spools of their own.
type logdNodes struct {
	a, b, c *harness.Logd
}

func startLogdNodes(t *testing.T, s *shimStack, opts ...harness.LogdOpt) logdNodes {
	other := s.otherNode("b")
	third := s.otherNode("c")
	var n logdNodes
	n.a = s.logd
	n.c = s.env.StartLogd("c", third, nil, append(opts, harness.WithAPI(fmt.Sprintf("peers = [%q]", n.a.URL)))...)
	n.b = s.env.StartLogd("b", other, nil, append(opts, harness.WithAPI(fmt.Sprintf("peers = [%q, %q]", n.a.URL, n.c.URL)))...)
	return n
}

// otherNode is the stack's [logs] sections for a node named name: a spool
// and a socket of its own, the same store.
func (s *shimStack) otherNode(name string) string {
	toml := strings.Replace(s.logsTOML, s.cfg.SpoolDir, s.env.Path("spool-"+name), 1)
	return strings.Replace(toml, s.logd.Socket, s.env.Path("logd-"+name+".sock"), 1)
}

// runLive starts cmd as a detached task (no client I/O) whose log ID is
// id, waits for its spool entry and returns it; the task goes when the
// test ends.
func (s *shimStack) runLive(t *testing.T, id string, cmd ...string) spool.RunRef {
	t.Helper()
	s.ctd.MustCtr(append([]string{"run", "-d", "--null-io", "--runtime", runtimeBrisk, "--label", "brisk.io/task-id=" + id, s.image, id}, cmd...)...)
	t.Cleanup(func() {
		_, _, _ = s.ctd.Ctr("tasks", "delete", "-f", id)
		_, _, _ = s.ctd.Ctr("containers", "delete", id)
	})
	var runs []spool.RunRef
	if !harness.WaitFor(20*time.Second, func() bool { runs, _ = spool.Runs(s.cfg.SpoolDir, s.ctd.Namespace, id); return len(runs) == 1 }) {
		t.Fatalf("the spool entry of %s did not appear", id)
	}
	return runs[0]
}

// followed is one follow of a task's log through the API.
type followed struct {
	status   int
	header   http.Header
	lines    []string
	arrivals []time.Time
	trailer  http.Header
	err      error
}

func followLog(client *http.Client, url, token string) followed {
	var f followed
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		f.err = err
		return f
	}
	defer resp.Body.Close()
	f.status, f.header = resp.StatusCode, resp.Header
	br := bufio.NewReader(resp.Body)
	for {
		l, err := br.ReadString('\n')
		if l != "" {
			f.lines = append(f.lines, l)
			f.arrivals = append(f.arrivals, time.Now())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			f.err = err
			return f
		}
	}
	f.trailer = resp.Trailer
	return f
}

func (f followed) text() string { return strings.Join(f.lines, "") }

func TestLogdFollowsThroughAPeer(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ns := s.ctd.Namespace
	n := startLogdNodes(t, s)
	token := harness.LogdTokenFor(ns)

	id := "ticker-1"
	started := time.Now()
	s.runLive(t, id, ticker...)
	// Through b, which does not hold it: b asks its peers and passes a's
	// stream on, live.
	f := followLog(http.DefaultClient, n.b.URL+"/v1/logs/"+ns+"/"+id+"?follow=1&format=cri", token)
	if f.err != nil || f.status != 200 {
		t.Fatalf("follow through b: %d %v %q", f.status, f.err, f.text())
	}
	exited := time.Now()
	t.Run("lines arrive while the task runs", func(t *testing.T) {
		if len(f.arrivals) < 60 {
			t.Fatalf("followed %d records; want 60", len(f.arrivals))
		}
		// The task prints for 3 s: a live follow gets its records
		// spread over that time, not all at its end.
		spread := f.arrivals[len(f.arrivals)-1].Sub(f.arrivals[0])
		if spread < 1500*time.Millisecond {
			t.Errorf("records arrived within %v of each other (task ran %v): not followed live", spread, exited.Sub(started))
		}
		if f.header.Get("Brisk-Source") != logd.SourcePeer || f.header.Get("Brisk-Node") != n.a.Name {
			t.Errorf("answer headers %v; want source peer, node a", f.header)
		}
	})
	t.Run("the follow ends with the exit code", func(t *testing.T) {
		if got := f.trailer.Get(logd.TrailerExitCode); got != "3" {
			t.Errorf("trailer %v; want %s 3", f.trailer, logd.TrailerExitCode)
		}
	})
	object, _, err := s.rawObject(id, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the followed text equals the stored object", func(t *testing.T) {
		if f.text() != string(object) {
			t.Errorf("followed %d bytes, object holds %d:\nfollowed %q\nobject   %q", len(f.text()), len(object), f.text(), object)
		}
	})
	t.Run("a reader after the entry is gone gets the same bytes", func(t *testing.T) {
		if !harness.WaitFor(30*time.Second, func() bool { runs, _ := spool.Runs(s.cfg.SpoolDir, ns, id); return len(runs) == 0 }) {
			t.Fatal("the entry stays in the spool")
		}
		for _, via := range []*harness.Logd{n.a, n.b, n.c} {
			g := followLog(http.DefaultClient, via.URL+"/v1/logs/"+ns+"/"+id+"?follow=1&format=cri", token)
			if g.status != 200 || g.text() != string(object) || g.trailer.Get(logd.TrailerExitCode) != "3" {
				t.Errorf("through %s after shipping: %d %v, %d bytes (object %d), trailer %v", via.Name, g.status, g.err, len(g.text()), len(object), g.trailer)
			}
		}
		// ndjson, as the page reads it, ends with the exit.
		g := followLog(http.DefaultClient, n.c.URL+"/v1/logs/"+ns+"/"+id+"?format=ndjson", token)
		if len(g.lines) != 61 || !strings.Contains(g.lines[60], `"exit":{"code":3`) {
			t.Errorf("ndjson through c: %d lines, last %q", len(g.lines), g.lines[len(g.lines)-1])
		}
	})
	t.Run("a peer down fails no lookup", func(t *testing.T) {
		n.c.Proc.Kill()
		id2 := "ticker-2"
		s.runLive(t, id2, ticker...)
		g := followLog(http.DefaultClient, n.b.URL+"/v1/logs/"+ns+"/"+id2+"?follow=1&format=cri", token)
		if g.status != 200 || len(g.lines) != 60 || g.trailer.Get(logd.TrailerExitCode) != "3" {
			t.Errorf("follow through b with c down: %d %v, %d records, trailer %v", g.status, g.err, len(g.lines), g.trailer)
		}
		resp, err := http.DefaultClient.Do(bearer(t, n.b.URL+"/v1/logs/"+ns+"/never-ran", token))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(resp.Header.Get("Brisk-Unreachable-Peers"), strings.TrimPrefix(n.c.URL, "http://")) || !strings.Contains(string(body), "s3://") {
			t.Errorf("lookup of an unknown ID with c down: %d %q, unreachable %q; want 404 naming the store, c unreachable", resp.StatusCode, body, resp.Header.Get("Brisk-Unreachable-Peers"))
		}
	})
	t.Run("no token 401, another namespace's token 403", func(t *testing.T) {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", 401}, {"not-a-token-of-this-cluster", 401}, {harness.LogdTokenFor("other"), 403}, {token, 200}} {
			resp, err := http.DefaultClient.Do(bearer(t, n.b.URL+"/v1/logs/"+ns+"/"+id, tc.token))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("token %q: %d; want %d", tc.token, resp.StatusCode, tc.want)
			}
		}
	})
}

func bearer(t *testing.T, url, token string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func TestLogdOverMutualTLS(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ns := s.ctd.Namespace
	ca := testpki.NewCA(t, "brisk test CA")
	caFile, certFile, keyFile := ca.Files(t, s.env.Path("pki"), "brisk-logd")
	tlsAPI := harness.WithAPI(fmt.Sprintf("tls_cert = %q\ntls_key = %q\nclient_ca = %q", certFile, keyFile, caFile))
	// a serves the shims' spool beside the stack's own brisk-logd.
	a := s.env.StartLogd("a", strings.Replace(s.logsTOML, s.logd.Socket, s.env.Path("logd-a.sock"), 1), []string{ns}, tlsAPI)
	b := s.env.StartLogd("b", s.otherNode("b"), []string{ns}, tlsAPI, harness.WithAPI(fmt.Sprintf("peers = [%q]", a.URL)))
	if !strings.HasPrefix(b.URL, "https://") {
		t.Fatalf("b serves %s", b.URL)
	}
	id := "tls-ticker"
	s.runLive(t, id, ticker...)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, ForceAttemptHTTP2: true}}
	f := followLog(client, b.URL+"/v1/logs/"+ns+"/"+id+"?follow=1&format=cri", harness.LogdTokenFor(ns))
	if f.err != nil || f.status != 200 || len(f.lines) != 60 || f.trailer.Get(logd.TrailerExitCode) != "3" || f.header.Get("Brisk-Source") != logd.SourcePeer {
		t.Fatalf("follow over TLS through b (peers over mutual TLS): %d %v, %d records, trailer %v, headers %v", f.status, f.err, len(f.lines), f.trailer, f.header)
	}
	t.Run("plain HTTP is refused", func(t *testing.T) {
		if resp, err := http.Get("http://" + strings.TrimPrefix(b.URL, "https://") + "/healthz"); err == nil && resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200 on the TLS port")
		}
	})
	t.Run("a peer's hop needs a peer's certificate", func(t *testing.T) {
		resp, err := client.Do(bearer(t, a.URL+"/v1/tasks?namespace="+ns+"&id="+id+"&local=1", harness.LogdTokenFor(ns)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("local=1 without a client certificate: %d; want 403", resp.StatusCode)
		}
	})
}
