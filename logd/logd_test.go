package logd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

const testToken = "tok-default-0123456789"

// node is one brisk-logd's server on a temporary spool, with the local
// store (local_dir) as its object store.
type node struct {
	t       *testing.T
	cfg     config.Logs
	shipper *ship.Shipper
	srv     *Server
	http    *httptest.Server
}

// writeTokens writes the tests' tokens file at path.
// getWithToken GETs url with testToken: the status, the body, and the
// answer's Brisk-Source.
func getWithToken(t *testing.T, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Brisk-Source")
}

func writeTokens(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("# test tokens\n"+testToken+" default\ntok-other-0123456789ab other,third\ntok-all-0123456789abcd *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newNode(t *testing.T, name string, mutate func(*config.Logs)) *node {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	writeTokens(t, tokens)
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.LocalDir = filepath.Join(dir, "store")
	cfg.API.TokensFile = tokens
	cfg.API.NodeName = name
	cfg.API.Socket = ""
	cfg.API.PeerTimeout = config.Duration(300 * time.Millisecond)
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cfg: cfg}
	var err error
	if n.shipper, err = ship.New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if n.srv, err = New(context.Background(), cfg, n.shipper); err != nil {
		t.Fatal(err)
	}
	n.http = httptest.NewServer(n.srv.Handler())
	t.Cleanup(n.http.Close)
	return n
}

// open starts a task's spool entry on n.
func (n *node) open(ns, id string, opts ...spool.Opt) *spool.Entry {
	n.t.Helper()
	e, err := spool.Open(n.cfg.SpoolDir, spool.Meta{Namespace: ns, ID: id, Run: spool.NewRun(time.Now(), "abcd1234"), Node: n.srv.Node(), Started: time.Now()}, opts...)
	if err != nil {
		n.t.Fatal(err)
	}
	return e
}

func (n *node) get(path, token string) *http.Response {
	n.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.http.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stored is the object e's log shipped as.
func (n *node) stored(ns, id, run string) string {
	n.t.Helper()
	b, _, err := n.shipper.Store().Get(context.Background(), n.shipper.KeyFor(ns, id, run))
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

func TestAuthAnswers(t *testing.T) {
	n := newNode(t, "n1", nil)
	e := n.open("default", "task-1")
	_ = e.Write(spool.Stdout, []byte("secret line\n"))
	for _, tc := range []struct {
		name, path, token string
		status            int
		body              string
	}{
		{"no token", "/v1/logs/default/task-1", "", 401, "no token"},
		{"unknown token", "/v1/logs/default/task-1", "tok-unknown-0123456789", 401, "unknown token"},
		{"token for another namespace", "/v1/logs/default/task-1", "tok-other-0123456789ab", 403, `may not read namespace "default"`},
		{"the namespace's token", "/v1/logs/default/task-1", testToken, 200, "secret line\n"},
		{"a token for all", "/v1/logs/default/task-1", "tok-all-0123456789abcd", 200, "secret line\n"},
		{"no such task names where it looked", "/v1/logs/default/nope", testToken, 404, "not in the spool of n1, not in " + n.cfg.LocalDir},
		{"a path out of the spool", "/v1/logs/default/..%2F..%2Fetc%2Fpasswd", testToken, 404, "no task"},
		{"a namespace out of the spool", "/v1/logs/..%2F..%2Fetc/passwd", testToken, 400, "namespace"},
		{"a dot namespace", "/v1/logs/.trash/x", "tok-all-0123456789abcd", 400, "namespace"},
		{"a bad parameter is named", "/v1/logs/default/task-1?tail=-3", testToken, 400, `tail="-3"`},
		{"tasks of another namespace", "/v1/tasks?namespace=default", "tok-other-0123456789ab", 403, "may not read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.get(tc.path, tc.token)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("GET %s: %d %q; want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
	t.Run("tasks lists only the token's namespaces", func(t *testing.T) {
		o := n.open("other", "task-2")
		defer o.Release()
		var list TaskList
		if err := json.Unmarshal([]byte(readAll(t, n.get("/v1/tasks", "tok-other-0123456789ab"))), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Tasks) != 1 || list.Tasks[0].ID != "task-2" || list.Node != "n1" {
			t.Errorf("tasks for a token of other: %+v; want task-2 alone", list)
		}
	})
	e.Release()
}

func TestNoTokensFileClosesTCP(t *testing.T) {
	n := newNode(t, "n1", func(c *config.Logs) { c.API.TokensFile = "" })
	resp := n.get("/v1/tasks", "anything-at-all-here")
	if body := readAll(t, resp); resp.StatusCode != 401 || !strings.Contains(body, "tokens_file") {
		t.Errorf("no tokens file: %d %q; want 401 naming logs.api.tokens_file", resp.StatusCode, body)
	}
}

// follow reads a followed answer line by line, sending each to lines.
func follow(t *testing.T, n *node, path string) (<-chan string, <-chan http.Header) {
	resp := n.get(path, testToken)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, readAll(t, resp))
	}
	lines := make(chan string, 1<<16)
	trailer := make(chan http.Header, 1)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if l != "" {
				lines <- l
			}
			if err != nil {
				trailer <- resp.Trailer
				return
			}
		}
	}()
	return lines, trailer
}

func collect(lines <-chan string) string {
	var b strings.Builder
	for l := range lines {
		b.WriteString(l)
	}
	return b.String()
}

func TestFollowSeesEveryRecordOnceAcrossTheEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBytes int64
		ship     bool // shipped (entry removed) while followed
	}{
		{"exit", 1 << 20, false},
		{"exit past max_bytes: head, note, tail", 4 << 10, false},
		{"shipped while followed", 1 << 20, true},
		{"shipped while followed, past max_bytes", 4 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "n1", nil)
			e := n.open("default", "t", spool.WithMaxBytes(tc.maxBytes))
			run := e.Meta().Run
			_ = e.Write(spool.Stdout, []byte("first\n"))
			lines, trailer := follow(t, n, "/v1/logs/default/t?follow=1&format=cri")
			if l := <-lines; !strings.HasSuffix(l, " stdout F first\n") {
				t.Fatalf("first followed record %q", l)
			}
			for i := 0; i < 400; i++ {
				_ = e.Write(spool.Stream([]string{"stdout", "stderr"}[i%2]), []byte(fmt.Sprintf("line %d of the task, some padding to fill the spool\n", i)))
				if i%50 == 0 {
					time.Sleep(2 * spool.FollowPoll)
				}
			}
			if _, err := e.Finish(spool.ExitInfo{Code: 3, Exited: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if tc.ship {
				if err := n.shipper.Ship(context.Background(), e.Claim()); err != nil {
					t.Fatal(err)
				}
			}
			e.Release()
			if !tc.ship {
				o := n.shipper.ShipEntry(context.Background(), e.Dir())
				if o.Status != ship.Shipped {
					t.Fatalf("ship: %+v", o)
				}
			}
			got := collect(lines)
			want := n.stored("default", "t", run)
			// The first line was read above.
			if got = "" + firstLine(want) + got; got != want {
				t.Errorf("followed text differs from the stored object:\n got %d bytes\nwant %d bytes\n%s", len(got), len(want), firstDiff(got, want))
			}
			tr := <-trailer
			if !tc.ship && tr.Get(TrailerExitCode) != "3" {
				t.Errorf("trailer %v; want exit code 3", tr)
			}
		})
	}
}

func firstLine(s string) string { return s[:strings.IndexByte(s, '\n')+1] }

func firstDiff(a, b string) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d: %q vs %q", i, a[max(0, i-40):min(len(a), i+40)], b[max(0, i-40):min(len(b), i+40)])
		}
	}
	return "one is a prefix of the other"
}

func TestNDJSONEndsWithTheExit(t *testing.T) {
	n := newNode(t, "n1", nil)
	e := n.open("default", "t")
	_ = e.Write(spool.Stderr, []byte("<b>not html</b>\n"))
	lines, _ := follow(t, n, "/v1/logs/default/t?follow=1&format=ndjson")
	if _, err := e.Finish(spool.ExitInfo{Code: 7, Exited: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	var got []map[string]any
	for l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		got = append(got, v)
	}
	if len(got) != 2 || got[0]["stream"] != "stderr" || got[0]["log"] != "<b>not html</b>" {
		t.Fatalf("records %v", got)
	}
	if exit, _ := got[1]["exit"].(map[string]any); exit == nil || exit["code"] != 7.0 || exit["complete"] != true {
		t.Errorf("last object %v; want the exit, code 7, complete", got[1])
	}
}

func TestTailSinceStreamTimestamps(t *testing.T) {
	n := newNode(t, "n1", nil)
	e := n.open("default", "t")
	for i := 0; i < 10; i++ {
		_ = e.Write(spool.Stdout, []byte(fmt.Sprintf("out %d\n", i)))
		_ = e.Write(spool.Stderr, []byte(fmt.Sprintf("err %d\n", i)))
	}
	defer e.Release()
	for _, tc := range []struct{ query, want string }{
		{"", "out 0\nerr 0\nout 1\n"},
		{"?tail=2", "out 9\nerr 9\n"},
		{"?tail=3&stream=stderr", "err 7\nerr 8\nerr 9\n"},
		{"?stream=stderr&tail=2", "err 8\nerr 9\n"},
		{"?tail=0", ""},
		{"?since=2000-01-01T00:00:00Z&tail=1", "err 9\n"},
		{"?since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), ""},
	} {
		body := readAll(t, n.get("/v1/logs/default/t"+tc.query, testToken))
		if !strings.HasPrefix(body, tc.want) || (tc.want == "" && body != "") || (strings.Contains(tc.query, "tail") && body != tc.want) {
			t.Errorf("%s: %q; want %q", tc.query, body, tc.want)
		}
	}
	body := readAll(t, n.get("/v1/logs/default/t?timestamps=1&tail=1", testToken))
	if f := strings.Fields(body); len(f) != 3 || f[1] != "err" {
		t.Errorf("timestamps: %q", body)
	} else if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
		t.Errorf("timestamps: %q: %v", body, err)
	}
}

func TestFollowersAreCapped(t *testing.T) {
	n := newNode(t, "n1", func(c *config.Logs) { c.API.MaxFollowers = 1 })
	e := n.open("default", "t")
	defer e.Release()
	_ = e.Write(spool.Stdout, []byte("x\n"))
	first := n.get("/v1/logs/default/t?follow=1", testToken)
	defer first.Body.Close()
	second := n.get("/v1/logs/default/t?follow=1", testToken)
	if body := readAll(t, second); second.StatusCode != 503 || !strings.Contains(body, "max_followers") {
		t.Errorf("second follower: %d %q; want 503 naming logs.api.max_followers", second.StatusCode, body)
	}
	if resp := n.get("/v1/logs/default/t", testToken); resp.StatusCode != 200 {
		t.Errorf("a read that does not follow is not capped: %d", resp.StatusCode)
	}
}

func TestAnyNodeFindsAPeersTask(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) }))
	defer down.Close()
	a := newNode(t, "a", nil)
	b := newNode(t, "b", func(c *config.Logs) { c.API.Peers = []string{a.http.URL, down.URL} })
	e := a.open("default", "on-a")
	_ = e.Write(spool.Stdout, []byte("hello from a\n"))
	lines, trailer := follow(t, b, "/v1/logs/default/on-a?follow=1&format=cri")
	if l := <-lines; !strings.HasSuffix(l, "hello from a\n") {
		t.Fatalf("through the peer: %q", l)
	}
	_ = e.Write(spool.Stdout, []byte("and more\n"))
	if l := <-lines; !strings.HasSuffix(l, "and more\n") {
		t.Fatalf("through the peer, live: %q", l)
	}
	if _, err := e.Finish(spool.ExitInfo{Code: 0, Exited: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	for range lines {
	}
	if tr := <-trailer; tr.Get(TrailerExitCode) != "0" {
		t.Errorf("trailer through the peer: %v", tr)
	}
	resp := b.get("/v1/logs/default/nowhere", testToken)
	body := readAll(t, resp)
	if resp.StatusCode != 404 || !strings.Contains(body, "nor of its peers a") || !strings.Contains(resp.Header.Get("Brisk-Unreachable-Peers"), strings.TrimPrefix(down.URL, "http://")) {
		t.Errorf("lookup with a peer down: %d %q, unreachable %q; want 404 naming a and the peer down", resp.StatusCode, body, resp.Header.Get("Brisk-Unreachable-Peers"))
	}
	resp = b.get("/v1/logs/default/on-a", "tok-other-0123456789ab")
	if resp.StatusCode != 403 {
		t.Errorf("a token for another namespace through the peer: %d", resp.StatusCode)
	}
}
