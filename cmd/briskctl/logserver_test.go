package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

const (
	defaultToken = "tok-default-0123456789"
	otherToken   = "tok-other-0123456789ab"
)

// logNode is one node for briskctl logs: a spool and a local store
// (local_dir), briskctl's config on the node, and a real brisk-logd
// serving both, with a "laptop" config whose spool and store are empty.
type logNode struct {
	t         *testing.T
	dir       string
	logs      config.Logs
	shipper   *ship.Shipper
	srv       *logd.Server
	http      *httptest.Server // nil when the test serves srv itself
	onNode    string           // briskctl's config on the node
	laptop    string           // a config naming no spool or store of the node
	tokenFile string           // the default namespace's token, mode 0600
}

func newLogNode(t *testing.T, mutate func(*config.Logs)) *logNode {
	t.Helper()
	dir := t.TempDir()
	n := &logNode{t: t, dir: dir}
	tokens := n.write("tokens", defaultToken+" default\n"+otherToken+" other\n", 0o600)
	n.tokenFile = n.write("token", defaultToken+"\n", 0o600)
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.LocalDir = filepath.Join(dir, "store")
	cfg.API.TokensFile = tokens
	cfg.API.NodeName = "n1"
	cfg.API.Socket = ""
	cfg.API.PeerTimeout = config.Duration(300 * time.Millisecond)
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n.logs = cfg
	var err error
	if n.shipper, err = ship.New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if n.srv, err = logd.New(context.Background(), cfg, n.shipper); err != nil {
		t.Fatal(err)
	}
	n.onNode = n.write("node.toml", fmt.Sprintf("[logs]\nspool_dir = %q\nlocal_dir = %q\n", cfg.SpoolDir, cfg.LocalDir), 0o644)
	n.laptop = n.write("laptop.toml", fmt.Sprintf("[logs]\nspool_dir = %q\nlocal_dir = %q\n", filepath.Join(dir, "laptop", "spool"), filepath.Join(dir, "laptop", "store")), 0o644)
	return n
}

// serve serves the API on an httptest server, as over TCP.
func (n *logNode) serve() *logNode {
	n.http = httptest.NewServer(n.srv.Handler())
	n.t.Cleanup(n.http.Close)
	return n
}

func (n *logNode) write(name, content string, mode os.FileMode) string {
	n.t.Helper()
	path := filepath.Join(n.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		n.t.Fatal(err)
	}
	return path
}

// open starts a run of (ns, id) in the node's spool.
func (n *logNode) open(ns, id string, opts ...spool.Opt) *spool.Entry {
	n.t.Helper()
	e, err := spool.Open(n.logs.SpoolDir, spool.Meta{Namespace: ns, ID: id, Run: spool.NewRun(time.Now(), ""), Node: "n1", Started: time.Now()}, opts...)
	if err != nil {
		n.t.Fatal(err)
	}
	return e
}

func (n *logNode) finish(e *spool.Entry, code int) {
	n.t.Helper()
	if _, err := e.Finish(spool.ExitInfo{Code: code, Exited: time.Now()}); err != nil {
		n.t.Fatal(err)
	}
	e.Release()
}

func (n *logNode) ship(e *spool.Entry) {
	n.t.Helper()
	if o := n.shipper.ShipEntry(context.Background(), e.Dir()); o.Status != ship.Shipped {
		n.t.Fatalf("ship %s: %+v", e.Dir(), o)
	}
}

// remote is briskctl logs on the laptop, through the node's server.
func (n *logNode) remote(args ...string) (string, string, error) {
	return runLogs(nil, n.laptop, append([]string{"--server", n.http.URL, "--token-file", n.tokenFile}, args...)...)
}

// local is briskctl logs on the node, without a server.
func (n *logNode) local(args ...string) (string, string, error) {
	return runLogs(nil, n.onNode, args...)
}

// syncBuffer is an output briskctl writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits for out to hold want, failing the test after a while.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q; it is %q", want, s.String())
		}
	}
}

// runLogs runs briskctl --config cfg logs args in this process, stdout
// going to stdout when given.
func runLogs(stdout *syncBuffer, cfg string, args ...string) (string, string, error) {
	var out, errOut syncBuffer
	if stdout == nil {
		stdout = &out
	}
	app := &cli.App{Name: "briskctl", Writer: stdout, ErrWriter: &errOut,
		Flags:    []cli.Flag{&cli.StringFlag{Name: "config"}},
		Commands: []*cli.Command{logsCommand}}
	err := app.Run(append([]string{"briskctl", "--config", cfg, "logs"}, args...))
	return stdout.String(), errOut.String(), err
}

// printSome writes what a task might: both streams, partial lines, long
// and empty lines, text that is not ASCII.
func printSome(t *testing.T, e *spool.Entry, tag string) {
	t.Helper()
	for _, w := range []struct {
		s    spool.Stream
		text string
	}{
		{spool.Stdout, tag + " hello\n"},
		{spool.Stderr, tag + " warning: café ✓ <b>\"quoted\"</b>\t\\\n"},
		{spool.Stdout, "a line written in "},
		{spool.Stderr, "two parts on stderr, "},
		{spool.Stdout, "three parts\n\n"},
		{spool.Stderr, "ends here\n"},
		{spool.Stdout, strings.Repeat("long ", 20000) + "\n"},
		{spool.Stderr, "bytes that are not UTF-8: \xff\xfe\xc3 and a NUL \x00 end here\n"},
		{spool.Stdout, tag + " last, no newline"},
	} {
		if err := e.Write(w.s, []byte(w.text)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogsOverServerPrintsAsOnTheNode compares briskctl logs through
// brisk-logd, from a machine with neither spool nor store, with briskctl
// logs on the node: the same stdout and stderr, byte for byte, for a
// live run, a finished one, a stored one, one run of several, a pod's
// container, with and without --timestamps and --stream.
func TestLogsOverServerPrintsAsOnTheNode(t *testing.T) {
	n := newLogNode(t, nil).serve()
	live := n.open("default", "live")
	printSome(t, live, "live")
	defer live.Release()
	done := n.open("default", "done")
	printSome(t, done, "done")
	n.finish(done, 3)
	stored := n.open("default", "stored")
	printSome(t, stored, "stored")
	n.finish(stored, 0)
	n.ship(stored)
	first := n.open("default", "twice")
	printSome(t, first, "first")
	n.finish(first, 1)
	n.ship(first)
	second := n.open("default", "twice")
	printSome(t, second, "second")
	n.finish(second, 0)
	pod := n.open("default", "pod-1/build")
	printSome(t, pod, "pod")
	n.finish(pod, 0)

	for _, args := range [][]string{
		{"live"},
		{"--timestamps", "live"},
		{"--stream", "stderr", "--timestamps", "live"},
		{"done"},
		{"-f", "done"},
		{"-f", "--timestamps", "--stream", "stdout", "done"},
		{"stored"},
		{"-f", "--timestamps", "stored"},
		{"--run", "1", "twice"},
		{"-f", "--run", "2", "--timestamps", "twice"},
		{"-f", "pod-1/build"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			wantOut, wantErr, err := n.local(args...)
			if err != nil || wantOut+wantErr == "" {
				t.Fatalf("on the node: %v, stdout %q stderr %q", err, wantOut, wantErr)
			}
			gotOut, gotErr, err := n.remote(args...)
			if err != nil {
				t.Fatalf("--server: %v (stderr %q)", err, gotErr)
			}
			if gotOut != wantOut {
				t.Errorf("--server stdout differs from the node's: %s", firstDifference(gotOut, wantOut))
			}
			if gotErr != wantErr {
				t.Errorf("--server stderr %q; on the node %q", gotErr, wantErr)
			}
		})
	}
}

func firstDifference(a, b string) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("at byte %d: %q vs %q", i, a[max(0, i-40):min(len(a), i+40)], b[max(0, i-40):min(len(b), i+40)])
		}
	}
	return fmt.Sprintf("%d bytes vs %d, one a prefix of the other", len(a), len(b))
}

// TestLogsOverServerFollowsAcrossExit follows a running task through
// brisk-logd: lines arrive while it runs, and the follow ends at its exit
// (or once its entry shipped meanwhile) with what the node prints, and
// nothing more; a follow cut short is an error, not a quiet success.
func TestLogsOverServerFollowsAcrossExit(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(n *logNode, e *spool.Entry)
		want string // in the error; "" for success
	}{
		{name: "exit", end: func(n *logNode, e *spool.Entry) { n.finish(e, 4) }},
		{name: "exit, and the entry shipped", end: func(n *logNode, e *spool.Entry) { n.finish(e, 0); n.ship(e) }},
		{name: "the server goes away", want: "the stream ended before the task did",
			end: func(n *logNode, e *spool.Entry) { n.http.CloseClientConnections() }},
		{name: "the entry vanishes and the store has no object", want: "cannot be read from",
			end: func(n *logNode, e *spool.Entry) {
				if err := os.RemoveAll(e.Dir()); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newLogNode(t, nil).serve()
			e := n.open("default", "t")
			defer e.Release()
			if err := e.Write(spool.Stdout, []byte("first\n")); err != nil {
				t.Fatal(err)
			}
			var out syncBuffer
			type result struct {
				stderr string
				err    error
			}
			res := make(chan result, 1)
			go func() {
				_, stderr, err := runLogs(&out, n.laptop, "--server", n.http.URL, "--token-file", n.tokenFile, "-f", "t")
				res <- result{stderr, err}
			}()
			out.waitFor(t, "first\n")
			printSome(t, e, "then")
			out.waitFor(t, "then hello\n") // live, before the end
			tc.end(n, e)
			r := <-res
			if tc.want != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
					t.Fatalf("follow ended with %v; want an error saying %q", r.err, tc.want)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("follow: %v (stderr %q)", r.err, r.stderr)
			}
			wantOut, wantErr, err := n.local("t")
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != wantOut {
				t.Errorf("followed stdout differs from the node's: %s", firstDifference(out.String(), wantOut))
			}
			if r.stderr != wantErr {
				t.Errorf("followed stderr %q; on the node %q", r.stderr, wantErr)
			}
		})
	}
}

// TestLogsOverServerAnswers: the server's refusals are printed as
// "STATUS: reason" and fail the command; peers that did not answer are
// named on stderr; what cannot work over a server yet says so.
func TestLogsOverServerAnswers(t *testing.T) {
	n := newLogNode(t, func(c *config.Logs) {
		c.API.Peers = []string{"http://127.0.0.1:1"} // nothing listens there
		c.API.MaxFollowers = 1
	}).serve()
	e := n.open("default", "t")
	defer e.Release()
	_ = e.Write(spool.Stdout, []byte("x\n"))
	held, err := http.NewRequest(http.MethodGet, n.http.URL+"/v1/logs/default/t?follow=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	held.Header.Set("Authorization", "Bearer "+defaultToken)
	follower, err := http.DefaultClient.Do(held)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Body.Close()

	unknown := n.write("unknown-token", "tok-unknown-0123456789\n", 0o600)
	other := n.write("other-token", otherToken, 0o600)
	for _, tc := range []struct {
		name       string
		args       []string
		err        string // the error briskctl exits with
		stderr     string // in stderr
		notInError string
	}{
		{name: "no token", args: []string{"--server", n.http.URL, "t"},
			err: "401 Unauthorized: no token: send Authorization: Bearer TOKEN (give --token-file"},
		{name: "unknown token", args: []string{"--server", n.http.URL, "--token-file", unknown, "t"},
			err: "401 Unauthorized: unknown token", notInError: "give --token-file"},
		{name: "token for another namespace", args: []string{"--server", n.http.URL, "--token-file", other, "t"},
			err: `403 Forbidden: this token may not read namespace "default"`},
		{name: "no such task, a peer down", args: []string{"--server", n.http.URL, "--token-file", n.tokenFile, "nope"},
			err: `404 Not Found: no task "nope" in namespace "default": not in the spool of n1`, stderr: "briskctl: warning: nodes that did not answer: "},
		{name: "followers capped", args: []string{"--server", n.http.URL, "--token-file", n.tokenFile, "-f", "t"},
			err: "503 Service Unavailable: this node serves 1 followers already (logs.api.max_followers)"},
		{name: "--all-runs", args: []string{"--server", n.http.URL, "--token-file", n.tokenFile, "--all-runs", "t"},
			err: "--all-runs: not over --server"},
		{name: "--metadata", args: []string{"--server", n.http.URL, "--token-file", n.tokenFile, "--metadata", "t"},
			err: "--metadata: not over --server"},
		{name: "a server that is no URL", args: []string{"--server", "logs.example:7717", "t"},
			err: `--server "logs.example:7717": want https://HOST:PORT`},
		{name: "a CA for an http server", args: []string{"--server", n.http.URL, "--ca-file", n.tokenFile, "t"},
			err: `--ca-file "` + n.tokenFile + `": is for an https server`},
		{name: "a tokens_file line as the token", args: []string{"--server", n.http.URL, "--token-file", n.logs.API.TokensFile, "t"},
			err: "holds more than one word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runLogs(nil, n.laptop, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v; want one with %q", err, tc.err)
			}
			if tc.notInError != "" && strings.Contains(err.Error(), tc.notInError) {
				t.Errorf("error %q says %q", err, tc.notInError)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q; want %q in it", stderr, tc.stderr)
			}
		})
	}
}

// TestLogsServerFromConfig: [briskctl] names the server and the token
// once; flags override it, and --server "" reads this machine's spool.
func TestLogsServerFromConfig(t *testing.T) {
	n := newLogNode(t, nil).serve()
	e := n.open("default", "t")
	_ = e.Write(spool.Stdout, []byte("from the node\n"))
	n.finish(e, 0)
	withServer := n.write("laptop-server.toml", fmt.Sprintf("[logs]\nspool_dir = %q\nlocal_dir = %q\n[briskctl]\nserver = %q\ntoken_file = %q\n",
		filepath.Join(n.dir, "laptop", "spool"), filepath.Join(n.dir, "laptop", "store"), n.http.URL, n.tokenFile), 0o644)
	deadServer := n.write("laptop-dead.toml", fmt.Sprintf("[logs]\nspool_dir = %q\nlocal_dir = %q\n[briskctl]\nserver = \"http://127.0.0.1:1\"\ntoken_file = %q\n",
		filepath.Join(n.dir, "laptop", "spool"), filepath.Join(n.dir, "laptop", "store"), n.tokenFile), 0o644)
	if out, stderr, err := runLogs(nil, withServer, "-f", "t"); err != nil || out != "from the node\n" {
		t.Errorf("server from the config: %v, stdout %q, stderr %q", err, out, stderr)
	}
	if out, stderr, err := runLogs(nil, deadServer, "--server", n.http.URL, "t"); err != nil || out != "from the node\n" {
		t.Errorf("--server over the config's: %v, stdout %q, stderr %q", err, out, stderr)
	}
	if _, _, err := runLogs(nil, withServer, "--server", "", "t"); err == nil || !strings.Contains(err.Error(), "not live in "+filepath.Join(n.dir, "laptop", "spool")) {
		t.Errorf(`--server "" reads the laptop's own spool and store: %v`, err)
	}
	if _, _, err := runLogs(nil, deadServer, "t"); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("the config's server down: %v; want an error naming it", err)
	}
}

// TestLogsTokenFileReadableByOthers warns, and still reads the log.
func TestLogsTokenFileReadableByOthers(t *testing.T) {
	n := newLogNode(t, nil).serve()
	e := n.open("default", "t")
	_ = e.Write(spool.Stdout, []byte("x\n"))
	n.finish(e, 0)
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o400, false}, {0o640, true}, {0o644, true}} {
		if err := os.Chmod(n.tokenFile, tc.mode); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := n.remote("t")
		if err != nil || out != "x\n" {
			t.Fatalf("mode %#o: %v %q", tc.mode, err, out)
		}
		if warned := strings.Contains(stderr, "can be read by others") && strings.Contains(stderr, "chmod 600"); warned != tc.warn {
			t.Errorf("token file mode %#o: stderr %q; want a warning: %v", tc.mode, stderr, tc.warn)
		}
	}
}

// TestLogsFlagsAfterTheID: the flags may follow the task ID, as in
// `briskctl logs -f ID --server URL --token-file FILE`.
func TestLogsFlagsAfterTheID(t *testing.T) {
	n := newLogNode(t, nil).serve()
	e := n.open("default", "t")
	printSome(t, e, "after")
	n.finish(e, 0)
	want, wantErr, err := n.local("--timestamps", "--stream", "stdout", "t")
	if err != nil {
		t.Fatal(err)
	}
	got, gotErr, err := runLogs(nil, n.laptop, "-f", "t", "--server", n.http.URL, "--token-file="+n.tokenFile, "--timestamps", "--stream", "stdout")
	if err != nil || got != want || gotErr != wantErr {
		t.Errorf("flags after the ID: %v, stderr %q; stdout %s", err, gotErr, firstDifference(got, want))
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"t", "--sever", n.http.URL}, "flag provided but not defined: --sever"},
		{[]string{"t", "--server"}, "flag needs an argument: --server"},
		{[]string{"t", "--run", "two"}, `invalid value "two" for flag --run`},
		{[]string{"t", "u", "--server", n.http.URL}, "usage: briskctl logs"},
	} {
		if _, _, err := runLogs(nil, n.laptop, tc.args...); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v; want an error with %q", tc.args, err, tc.err)
		}
	}
}
