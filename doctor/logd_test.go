package doctor

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// serveLogd answers GET /healthz on a unix socket with status and body, as
// brisk-logd does with 200 "ok".
func serveLogd(t *testing.T, status int, body string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "logd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || req.URL.Path != "/healthz" {
			http.NotFound(w, req)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// staleSocket is a socket file whose daemon is gone (killed with SIGKILL).
func staleSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "logd.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	return sock
}

// spoolWith is a spool holding one entry per id; done ones have exited and
// wait to be shipped.
func spoolWith(t *testing.T, live, done int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	for i := range live + done {
		e, err := spool.Open(dir, spool.Meta{Namespace: "default", ID: "task-" + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Write(spool.Stdout, []byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		if i >= live {
			if _, err := e.Finish(spool.ExitInfo{Exited: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(e.Release)
	}
	return dir
}

func TestLogdCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sock       string
		spool      string
		want       Status
		has, fixes string
	}{
		{name: "answers", sock: serveLogd(t, http.StatusOK, "ok\n"), spool: spoolWith(t, 1, 1), want: Pass, has: "brisk-logd answers on"},
		{name: "nobody, nothing pending", sock: filepath.Join(t.TempDir(), "none.sock"), spool: spoolWith(t, 0, 0), want: Warn, has: "no brisk-logd answers on", fixes: "systemctl enable --now brisk-logd"},
		{name: "nobody, a task running", sock: filepath.Join(t.TempDir(), "none.sock"), spool: spoolWith(t, 1, 0), want: Warn, has: "no brisk-logd answers on"},
		{name: "nobody, logs pending", sock: filepath.Join(t.TempDir(), "none.sock"), spool: spoolWith(t, 1, 2), want: Fail,
			has: "2 finished logs are pending in", fixes: "briskctl flush"},
		{name: "a stale socket, logs pending", sock: staleSocket(t), spool: spoolWith(t, 0, 1), want: Fail, has: "logs wait; briskctl flush ships them"},
		{name: "something else on the socket", sock: serveLogd(t, http.StatusServiceUnavailable, "draining"), spool: spoolWith(t, 0, 1), want: Fail, has: `503 Service Unavailable "draining"`},
		{name: "no socket configured", sock: "", spool: spoolWith(t, 0, 1), want: Info, has: "logs.api.socket is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := logdResults(context.Background(), tc.sock, tc.spool)
			if len(rs) != 1 || rs[0].Status != tc.want || !strings.Contains(rs[0].Found, tc.has) || !strings.Contains(rs[0].Fix, tc.fixes) ||
				(tc.want != Pass && rs[0].Fix == "") {
				t.Fatalf("%+v, want %s with %q, fix with %q", rs, tc.want, tc.has, tc.fixes)
			}
			if tc.sock != "" && !strings.Contains(rs[0].Found, tc.sock) {
				t.Errorf("the finding does not name the socket %s: %s", tc.sock, rs[0].Found)
			}
		})
	}
}

// TestLogdCheckAsksTheConfiguredSocket: the check asks brisk-logd where
// [logs.api] socket says it listens.
func TestLogdCheckAsksTheConfiguredSocket(t *testing.T) {
	cfg := config.Default()
	cfg.Logs.API.Socket = serveLogd(t, http.StatusOK, "ok\n")
	cfg.Logs.SpoolDir = spoolWith(t, 0, 1)
	rs := logdCheck.Run(context.Background(), NewNode("/brisk.toml", cfg, nil))
	if len(rs) != 1 || rs[0].Status != Pass || !strings.Contains(rs[0].Found, cfg.Logs.API.Socket) {
		t.Fatalf("%+v, want PASS naming %s", rs, cfg.Logs.API.Socket)
	}
	cfg.Logs.API.Socket = filepath.Join(t.TempDir(), "none.sock")
	rs = logdCheck.Run(context.Background(), NewNode("/brisk.toml", cfg, nil))
	if len(rs) != 1 || rs[0].Status != Fail || !strings.Contains(rs[0].Found, "logs wait; briskctl flush ships them") {
		t.Fatalf("%+v, want FAIL: a finished log waits and no brisk-logd answers", rs)
	}
}

// serveLogdStatus answers /healthz with "ok" and /v1/status with status.
func serveLogdStatus(t *testing.T, status string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "logd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/healthz":
			w.Write([]byte("ok\n"))
		case "/v1/status":
			w.Write([]byte(status))
		default:
			http.NotFound(w, req)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// A brisk-logd that runs but cannot ship is a FAIL that says why.
func TestLogdThatCannotShipFails(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         Status
		has, fixes   string
	}{
		{"ships", `{"node":"n","shipping":{"store":"s3://logs","shipped":12,"consecutive_failures":0}}`, Pass, "ships to s3://logs (12 shipped", ""},
		{"no credentials", `{"node":"n","shipping":{"store":"s3://logs","consecutive_failures":3,"last_error":"failed to retrieve credentials: no EC2 IMDS role found","last_error_kind":"credentials"}}`,
			Fail, "brisk-logd cannot ship to s3://logs: 3 failed attempts in a row since it started; last (credentials): failed to retrieve credentials", "/etc/brisk/s3.env"},
		{"refused", `{"node":"n","shipping":{"store":"s3://logs","consecutive_failures":1,"last_shipped":"2026-12-07T10:00:00Z","last_error":"InvalidAccessKeyId","last_error_kind":"access"}}`,
			Fail, "since its last success at 2026-12-07T10:00:00Z", "refuses brisk-logd's credentials"},
		{"no bucket", `{"node":"n","shipping":{"store":"s3://logs","consecutive_failures":1,"last_error":"NoSuchBucket","last_error_kind":"bucket"}}`, Fail, "NoSuchBucket", "briskctl bucket init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := logdResults(context.Background(), serveLogdStatus(t, tc.status), t.TempDir())
			if len(rs) != 1 || rs[0].Status != tc.want || !strings.Contains(rs[0].Found, tc.has) || !strings.Contains(rs[0].Fix, tc.fixes) {
				t.Errorf("got %+v; want %v with %q, fix with %q", rs, tc.want, tc.has, tc.fixes)
			}
		})
	}
}
