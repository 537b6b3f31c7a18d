package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// withConfig runs fn with the stack's brisk config edited by edit: shims
// started meanwhile and briskctl read the edited one.
func (s *shimStack) withConfig(t *testing.T, edit func(string) string, fn func()) {
	t.Helper()
	orig, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(string(orig))
	if edited == string(orig) {
		t.Fatal("the config edit changed nothing")
	}
	if err := os.WriteFile(s.cfgPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.WriteFile(s.cfgPath, orig, 0o644); err != nil {
			t.Error(err)
		}
	}()
	fn()
}

// untilUnowned waits until no shim holds the only spool entry of id (its
// shim gave up uploading) or the entry left the spool; it returns the
// entries left.
func (s *shimStack) untilUnowned(t *testing.T, id string) []spool.RunRef {
	t.Helper()
	var runs []spool.RunRef
	if !harness.WaitFor(60*time.Second, func() bool {
		runs, _ = spool.Runs(s.cfg.SpoolDir, s.ctd.Namespace, id)
		if len(runs) != 1 {
			return true
		}
		c, err := spool.Lock(runs[0].Dir)
		if err == nil {
			c.Release()
		}
		return !errors.Is(err, spool.ErrLocked)
	}) {
		t.Fatalf("the shim of %s still holds its entry after 60s", id)
	}
	return runs
}

func quarantineReasons(t *testing.T, spoolDir string) []string {
	t.Helper()
	q, err := spool.Quarantined(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range q {
		reasons = append(reasons, filepath.Base(e.Dir)+": "+e.Reason)
	}
	return reasons
}

// Issue 17, items 3 and 5: which failures are permanent, putting
// quarantined logs back, metadata any string survives, and logs read back
// byte for byte by every briskctl logs command.
func TestShippedLogsRoundTrip(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ns := s.ctd.Namespace

	// In the first two, briskctl flush is the one shipper, as on a node
	// whose brisk-logd is down: the stack's brisk-logd, with the good
	// endpoint, would ship the logs first (CI saw it: "0 pending").
	s.logd.Proc.Kill()
	t.Run("an S3 endpoint failing with EINVAL leaves the log pending, and it ships once the endpoint is fixed", func(t *testing.T) {
		// connect(2) to a link-local address without a zone: EINVAL, the
		// errno the local store's rules call permanent.
		linkLocal := func(c string) string {
			return strings.Replace(c, "http://127.0.0.1:", "http://[fe80::1]:", 1)
		}
		s.withConfig(t, linkLocal, func() {
			s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "linklocal", "echo", "kept")
			runs := s.untilUnowned(t, "linklocal")
			if q := quarantineReasons(t, s.cfg.SpoolDir); len(q) > 0 || len(runs) != 1 {
				t.Fatalf("after the task's exit, with http://[fe80::1]: %d pending, quarantined %q; want the log pending, nothing quarantined", len(runs), q)
			}
			out, _, err := s.briskctl("flush")
			if err == nil || !strings.Contains(out, "1 failed, 0 quarantined") || !strings.Contains(out, "invalid argument") {
				t.Fatalf("flush while the endpoint fails with EINVAL: %v\n%s", err, out)
			}
			t.Logf("briskctl flush with the link-local endpoint:\n%s", out)
		})
		out, _, err := s.briskctl("flush")
		if err != nil || !strings.Contains(out, "1 shipped") {
			t.Fatalf("flush after the endpoint is fixed: %v\n%s", err, out)
		}
		if streams, _ := s.waitObject(t, "linklocal", 10*time.Second); string(streams[spool.Stdout]) != "kept\n" {
			t.Errorf("stored %q", streams[spool.Stdout])
		}
	})

	t.Run("flush --requeue ships a quarantined log once its cause is fixed", func(t *testing.T) {
		s.minio.Stop()
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "requeued", "echo", "back")
		runs := s.untilUnowned(t, "requeued")
		if len(runs) != 1 {
			s.minio.Start()
			t.Fatalf("spool holds %d entries of requeued; want the one S3 refused", len(runs))
		}
		// meta.json damaged (a disk error, a hand edit): quarantined.
		metaPath := filepath.Join(runs[0].Dir, spool.MetaFile)
		good, err := os.ReadFile(metaPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(metaPath, []byte(`{"namespace": "`), 0o600); err != nil {
			t.Fatal(err)
		}
		s.minio.Start()
		out, _, err := s.briskctl("flush")
		if err == nil || !strings.Contains(out, "1 quarantined") {
			t.Fatalf("flush with a damaged meta.json: %v\n%s", err, out)
		}
		q, err := spool.Quarantined(s.cfg.SpoolDir)
		if err != nil || len(q) != 1 {
			t.Fatalf("quarantined %+v %v", q, err)
		}
		// Requeued with the cause still there: quarantined again.
		out, _, err = s.briskctl("flush", "--requeue")
		if err == nil || !strings.Contains(out, "requeued ") || !strings.Contains(out, "1 quarantined") {
			t.Fatalf("flush --requeue with the cause left: %v\n%s", err, out)
		}
		q, _ = spool.Quarantined(s.cfg.SpoolDir)
		if len(q) != 1 {
			t.Fatalf("quarantined %+v", q)
		}
		// The operator restores meta.json.
		if err := os.WriteFile(filepath.Join(q[0].Dir, spool.MetaFile), good, 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, err = s.briskctl("flush", "--requeue")
		if err != nil || !regexp.MustCompile(`(?m)^requeued +\S+requeued@`).MatchString(out) || !strings.Contains(out, "1 shipped") || !strings.Contains(out, "0 quarantined") {
			t.Fatalf("flush --requeue after the fix: %v\n%s", err, out)
		}
		t.Logf("briskctl flush --requeue:\n%s", out)
		if streams, _ := s.waitObject(t, "requeued", 10*time.Second); string(streams[spool.Stdout]) != "back\n" {
			t.Errorf("stored %q", streams[spool.Stdout])
		}
		if q := quarantineReasons(t, s.cfg.SpoolDir); len(q) > 0 {
			t.Errorf("still quarantined: %q", q)
		}
		if help, _, _ := s.briskctl("flush", "--help"); !strings.Contains(help, "--requeue") {
			t.Errorf("flush --help does not document --requeue:\n%s", help)
		}
	})

	s.env.Restart(s.logd.Proc)
	s.env.WaitLogd(s.logd)

	t.Run("a pod UID annotation with a newline ships, and logs --metadata decodes it", func(t *testing.T) {
		uid := "0a1b2c3d-0000\n4000-8000-000000000077"
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--annotation", "io.kubernetes.cri.sandbox-uid="+uid,
			s.image, "podnl", "echo", "podded")
		streams, meta := s.waitObject(t, "podnl", 20*time.Second)
		if string(streams[spool.Stdout]) != "podded\n" || ship.DecodeMetaValue(meta["brisk-pod"]) != uid {
			t.Fatalf("stored %q with brisk-pod %q", streams[spool.Stdout], meta["brisk-pod"])
		}
		out, stderr, err := s.briskctl("logs", "-n", ns, "--metadata", "podnl")
		if want := fmt.Sprintf("brisk-pod: %q\n", uid); err != nil || !strings.Contains(out, want) || stderr != "" {
			t.Fatalf("logs --metadata: %v, stderr %q; want the line %q in:\n%s", err, stderr, want, out)
		}
	})

	t.Run("every logs command reads a log over 5 MiB back byte for byte on both streams", func(t *testing.T) {
		const n = 30 // about 6.9 MB a stream: a multipart object
		var wantOut, wantErr []byte
		for i := 0; i < n; i++ {
			wantOut = append(wantOut, s.payloads[fmt.Sprintf("/payload/%d.out", i)]...)
			wantErr = append(wantErr, s.payloads[fmt.Sprintf("/payload/%d.err", i)]...)
		}
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "bigboth", "sh", "-c",
			fmt.Sprintf(`i=0; while [ $i -lt %d ]; do cat /payload/$i.out; cat /payload/$i.err >&2; i=$((i+1)); done`, n))
		streams, _ := s.waitObject(t, "bigboth", 60*time.Second)
		if string(streams[spool.Stdout]) != string(wantOut) || string(streams[spool.Stderr]) != string(wantErr) {
			t.Fatalf("stored %d+%d bytes; want the task's %d+%d", len(streams[spool.Stdout]), len(streams[spool.Stderr]), len(wantOut), len(wantErr))
		}
		key, err := s.latestKey("bigboth")
		if err != nil {
			t.Fatal(err)
		}
		run := strings.TrimSuffix(key[strings.LastIndex(key, "@")+1:], ".log")
		for _, tc := range []struct {
			name       string
			args       []string
			stderrHead string // briskctl's own words before the task's stderr
		}{
			{"latest", nil, ""},
			{"--run 1", []string{"--run", "1"}, ""},
			{"--all-runs", []string{"--all-runs"}, "==> run 1 of 1: " + run + " (stored) <==\n"},
			{"-f after exit", []string{"-f"}, ""},
		} {
			out, stderr, err := s.briskctl(append(append([]string{"logs", "-n", ns}, tc.args...), "bigboth")...)
			if err != nil {
				t.Errorf("logs %s: %v", tc.name, err)
				continue
			}
			if out != string(wantOut) {
				t.Errorf("logs %s: stdout is %d bytes, differs from the task's %d", tc.name, len(out), len(wantOut))
			}
			if stderr != tc.stderrHead+string(wantErr) {
				t.Errorf("logs %s: stderr is %d bytes, differs from the task's %d after %q; it starts %q", tc.name, len(stderr), len(wantErr), tc.stderrHead, head(stderr))
			}
		}
		out, stderr, err := s.briskctl("logs", "-n", ns, "--metadata", "bigboth")
		if err != nil || stderr != "" || !strings.Contains(out, fmt.Sprintf("brisk-stdout-bytes: %d ", len(wantOut))) {
			t.Errorf("logs --metadata: %v, stderr %q, stdout:\n%s", err, stderr, out)
		}
	})
}

func head(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < 200 {
		return s[:i+1]
	}
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
