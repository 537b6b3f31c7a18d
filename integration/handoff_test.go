package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/spool"
)

// shipHealth is how brisk-logd on socket ships: its GET /v1/status.
func shipHealth(socket string) (logd.ShipHealth, error) {
	resp, err := harness.UnixClient(socket).Get("http://logd/v1/status")
	if err != nil {
		return logd.ShipHealth{}, err
	}
	defer resp.Body.Close()
	var st logd.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return logd.ShipHealth{}, err
	}
	if st.Shipping == nil {
		return logd.ShipHealth{}, fmt.Errorf("brisk-logd on %s does not ship", socket)
	}
	return *st.Shipping, nil
}

// shipping is how the stack's brisk-logd ships.
func (s *shimStack) shipping(t *testing.T) logd.ShipHealth {
	t.Helper()
	h, err := shipHealth(s.logd.Socket)
	if err != nil {
		t.Fatalf("brisk-logd status: %v", err)
	}
	return h
}

// pending is the stack's spool entries waiting to ship.
func (s *shimStack) pending(t *testing.T) int {
	t.Helper()
	dirs, err := spool.Pending(s.cfg.SpoolDir)
	if err != nil {
		t.Fatal(err)
	}
	return len(dirs)
}

// Issue 15: the shim writes, the node ships. Every finished log goes to
// brisk-logd over its socket, which ships it byte for byte with its
// metadata; the shim uploads nothing itself.
func TestLogdShipsWhatShimsHandOver(t *testing.T) {
	s := newShimStack(t, config.CompressionGzip)
	before := s.shipping(t).Shipped
	want := s.payloads["/payload/0.out"]
	out, _, err := s.run(s.image, "handed-over", "sh", "-c", "cat /payload/0.out; cat /payload/0.err >&2; exit 5")
	if err != nil && !strings.Contains(err.Error(), "exit status 5") {
		t.Fatalf("ctr run: %v", err)
	}
	if out != string(want) {
		t.Fatalf("ctr run printed %d bytes, want %d", len(out), len(want))
	}
	streams, meta := s.waitObject(t, "handed-over", 30*time.Second)
	if !bytes.Equal(streams[spool.Stdout], want) || !bytes.Equal(streams[spool.Stderr], s.payloads["/payload/0.err"]) {
		t.Errorf("shipped log differs: %d/%d bytes", len(streams[spool.Stdout]), len(streams[spool.Stderr]))
	}
	for k, v := range map[string]string{"brisk-exit-code": "5", "brisk-complete": "true", "brisk-stdout-bytes": strconv.Itoa(len(want))} {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, meta[k], v, meta)
		}
	}
	if meta["brisk-cpu-ns"] == "" || meta["brisk-cgroup"] == "" {
		t.Errorf("the task's resource summary did not travel with its log: %v", meta)
	}
	if h := s.shipping(t); h.Shipped <= before {
		t.Errorf("brisk-logd shipped %d logs, %d before the task: the log did not go through brisk-logd", h.Shipped, before)
	}
	if !harness.WaitFor(10*time.Second, func() bool { return s.pending(t) == 0 }) {
		t.Errorf("%d entries still in the spool after shipping", s.pending(t))
	}
}

// brisk-logd SIGKILLed between a hand-off and the upload, then started
// again: the log ships, once.
func TestLogdKilledBetweenHandOffAndUpload(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	s.minio.Stop()
	if _, _, err := s.run(s.image, "killed-between", "echo", "survives a dead brisk-logd"); err != nil {
		t.Fatal(err)
	}
	// brisk-logd took the hand-off and tried: S3 was down.
	if !harness.WaitFor(30*time.Second, func() bool { return s.shipping(t).ConsecutiveFailures > 0 }) {
		t.Fatalf("brisk-logd did not try to ship the handed-over log: %+v", s.shipping(t))
	}
	if err := s.logd.Proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.logd.Proc.Wait(10 * time.Second)
	if n := s.pending(t); n != 1 {
		t.Fatalf("%d entries in the spool after brisk-logd died; want the one it had not shipped", n)
	}
	s.minio.Start()
	s.env.Restart(s.logd.Proc)
	s.env.WaitLogd(s.logd)
	var outs []string
	if !harness.WaitFor(60*time.Second, func() bool { outs, _ = s.storedRuns(t, "killed-between"); return len(outs) == 1 && s.pending(t) == 0 }) {
		t.Fatalf("after brisk-logd's restart: stored runs %q, %d pending; want one run, none pending", outs, s.pending(t))
	}
	if outs[0] != "survives a dead brisk-logd\n" {
		t.Errorf("stored %q", outs[0])
	}
}

// brisk-logd stopped during a burst of 50: every task runs and exits as
// usual, their logs wait in the spool (doctor says so), and all 50 ship
// once it is back. With it down, briskctl flush ships what waits.
func TestLogdDownDuringABurst(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	s.logd.Proc.Kill()
	const burst = 50
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	slots := make(chan struct{}, 10)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			id := fmt.Sprintf("burst-%02d", i)
			out, _, err := s.run(s.image, id, "echo", id)
			if err != nil || out != id+"\n" {
				errs <- fmt.Errorf("%s: %v, %q", id, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.pending(t); n != burst {
		t.Fatalf("%d entries wait in the spool with brisk-logd down; want %d", n, burst)
	}
	t.Run("doctor says the logs wait", func(t *testing.T) {
		out, _, _ := s.briskctl("doctor", "--address", s.ctd.Address, "--timeout", "20s", "--sample", "200ms")
		if !regexp.MustCompile(`(?m)^FAIL\s+logd/running\s+.*no brisk-logd answers.*` + strconv.Itoa(burst) + ` finished logs are pending`).MatchString(out) {
			t.Errorf("doctor with brisk-logd down and %d logs waiting:\n%s", burst, out)
		}
	})
	s.env.Restart(s.logd.Proc)
	s.env.WaitLogd(s.logd)
	for i := range burst {
		id := fmt.Sprintf("burst-%02d", i)
		var outs []string
		if !harness.WaitFor(60*time.Second, func() bool { outs, _ = s.storedRuns(t, id); return len(outs) == 1 }) || outs[0] != id+"\n" {
			t.Errorf("%s after brisk-logd came back: stored %q", id, outs)
		}
	}
	if !harness.WaitFor(10*time.Second, func() bool { return s.pending(t) == 0 }) {
		t.Errorf("%d entries still pending", s.pending(t))
	}

	t.Run("briskctl flush ships what waits while brisk-logd is down", func(t *testing.T) {
		s.logd.Proc.Kill()
		defer func() { s.env.Restart(s.logd.Proc); s.env.WaitLogd(s.logd) }()
		if _, _, err := s.run(s.image, "flushed", "echo", "flushed by hand"); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := s.briskctl("flush")
		if err != nil || !strings.Contains(out, "1 shipped") {
			t.Fatalf("briskctl flush: %v\n%s%s", err, out, stderr)
		}
		if outs, _ := s.storedRuns(t, "flushed"); len(outs) != 1 || outs[0] != "flushed by hand\n" {
			t.Errorf("stored %q", outs)
		}
	})
}

// A shipper that cannot ship is loud: brisk-logd with credentials the
// store refuses says so in its status and metrics, and doctor FAILs naming
// why.
func TestLogdWithRefusedCredentialsIsLoud(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	s.logd.Proc.Kill()
	// On the shims' socket and spool; later entries of the environment win.
	bad := s.env.StartLogdEnv("refused", s.logsTOML, nil, []string{"AWS_ACCESS_KEY_ID=nobody", "AWS_SECRET_ACCESS_KEY=wrongwrongwrong"})
	if _, _, err := s.run(s.image, "refused", "echo", "refused"); err != nil {
		t.Fatal(err)
	}
	var h logd.ShipHealth
	if !harness.WaitFor(30*time.Second, func() bool {
		h, _ = shipHealth(bad.Socket)
		return h.ConsecutiveFailures > 0
	}) {
		t.Fatalf("brisk-logd with refused credentials reports %+v", h)
	}
	if h.LastErrorKind != store.FailAccess {
		t.Errorf("failure kind %q; want access (MinIO: InvalidAccessKeyId)", h.LastErrorKind)
	}
	resp, err := harness.UnixClient(bad.Socket).Get("http://logd/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`brisk_logd_ships_total\{kind="access",result="failed"\} [1-9]`).MatchString(body.String()) {
		t.Errorf("metrics lack the failed ships:\n%s", grepLines(body.String(), "brisk_logd"))
	}
	out, _, _ := s.briskctl("doctor", "--address", s.ctd.Address, "--timeout", "20s", "--sample", "200ms")
	if !regexp.MustCompile(`(?m)^FAIL\s+logd/running\s+brisk-logd cannot ship to s3://` + bucket + `: \d+ failed attempts in a row .*\(access\)`).MatchString(out) {
		t.Errorf("doctor with brisk-logd refused by S3:\n%s", out)
	}
}
