package integration

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
)

func (s *shimStack) briskctl(args ...string) (string, string, error) {
	return s.env.Run(append([]string{filepath.Join(s.env.BriskBin, "briskctl"), "--config", s.cfgPath}, args...)...)
}

func TestBriskctlAndRuntimeParity(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)

	t.Run("logs -f shows lines while the task runs and ends when it exits", func(t *testing.T) {
		s.ctd.MustCtr("run", "-d", "--runtime", runtimeBrisk, s.image, "ticker",
			"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick-$i; sleep 0.3; done; echo bye >&2")
		start := time.Now()
		cmd := exec.Command(filepath.Join(s.env.BriskBin, "briskctl"), "--config", s.cfgPath, "logs", "-f", "-n", s.ctd.Namespace, "ticker")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var lines []string
		var firstAt time.Duration
		for sc.Scan() {
			if len(lines) == 0 {
				firstAt = time.Since(start)
			}
			lines = append(lines, sc.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("briskctl logs -f: %v", err)
		}
		took := time.Since(start)
		if len(lines) != 10 || lines[0] != "tick-1" || lines[9] != "tick-10" {
			t.Fatalf("followed %d lines: %v", len(lines), lines)
		}
		if firstAt > 2*time.Second || took < 2*time.Second {
			t.Fatalf("first line after %v, ended after %v: not live", firstAt, took)
		}
		s.waitObject(t, "ticker", 20*time.Second)
		after, _, err := s.briskctl("logs", "-n", s.ctd.Namespace, "ticker")
		if err != nil || after != strings.Join(lines, "\n")+"\n" {
			t.Fatalf("logs from S3 differ from the live ones: %v %q", err, after)
		}
		stamped, _, _ := s.briskctl("logs", "-n", s.ctd.Namespace, "--timestamps", "--stream", "stdout", "ticker")
		first := strings.SplitN(stamped, "\n", 2)[0]
		if ts, rest, _ := strings.Cut(first, " "); rest != "tick-1" {
			t.Fatalf("timestamped line %q", first)
		} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Fatalf("timestamp %q: %v", ts, err)
		}
		_, _, _ = s.ctd.Ctr("tasks", "delete", "ticker")
		_, _, _ = s.ctd.Ctr("containers", "delete", "ticker")
		if _, stderr, err := s.briskctl("logs", "-n", s.ctd.Namespace, "no-such-task"); err == nil || !strings.Contains(stderr, "no-such-task") {
			t.Fatalf("missing task: %v %q", err, stderr)
		}
	})

	t.Run("bucket init sets a 1-day expiry", func(t *testing.T) {
		if out, _, err := s.briskctl("bucket", "init"); err != nil || !strings.Contains(out, "expire after 1 day") {
			t.Fatalf("bucket init: %v %q", err, out)
		}
		lc, err := s.store.Client().GetBucketLifecycleConfiguration(context.Background(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
		if err != nil || len(lc.Rules) != 1 || aws.ToInt32(lc.Rules[0].Expiration.Days) != 1 {
			t.Fatalf("lifecycle %+v %v", lc, err)
		}
	})

	t.Run("flush ships what S3 refused", func(t *testing.T) {
		// briskctl flush is the shipper under test, as on a node whose
		// brisk-logd is down: the stack's brisk-logd would ship the log
		// itself once S3 is back, before flush (CI saw "0 shipped").
		s.logd.Proc.Kill()
		defer func() {
			s.env.Restart(s.logd.Proc)
			s.env.WaitLogd(s.logd)
		}()
		s.minio.Stop()
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "flushme", "echo", "pending")
		time.Sleep(4 * time.Second)
		out, _, err := s.briskctl("flush")
		if err == nil || !strings.Contains(out, "failed") {
			t.Fatalf("flush with S3 down should report failure: %v %q", err, out)
		}
		s.minio.Start()
		out, _, err = s.briskctl("flush")
		if err != nil || !strings.Contains(out, "1 shipped") {
			t.Fatalf("flush: %v %q", err, out)
		}
		streams, _ := s.waitObject(t, "flushme", 5*time.Second)
		if string(streams["stdout"]) != "pending\n" {
			t.Fatalf("flushed object %q", streams["stdout"])
		}
	})

	t.Run("usage event on /brisk/task/usage", func(t *testing.T) {
		ev := exec.Command(filepath.Join(s.env.ToolsBin, "ctr"), "--address", s.ctd.Address, "events")
		var buf strings.Builder
		ev.Stdout = &buf
		if err := ev.Start(); err != nil {
			t.Fatal(err)
		}
		defer ev.Process.Kill()
		time.Sleep(300 * time.Millisecond)
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "usage-ev", "sh", "-c", "for i in 1 2 3 4 5; do echo x > /f$i; done")
		if !harness.WaitFor(10*time.Second, func() bool { return strings.Contains(buf.String(), "/brisk/task/usage") }) {
			t.Fatalf("no /brisk/task/usage event:\n%s", buf.String())
		}
		line := ""
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "/brisk/task/usage") && strings.Contains(l, "usage-ev") {
				line = l
			}
		}
		if !strings.Contains(line, "brisk.io/inodes_used") || !strings.Contains(line, "brisk.io/upperdir") {
			t.Fatalf("usage event does not show the figures: %q", line)
		}
		_, meta := s.waitObject(t, "usage-ev", 10*time.Second)
		if n, _ := strconv.Atoi(meta["brisk-inodes-used"]); n < 5 {
			t.Fatalf("inodes used %q after writing 5 files", meta["brisk-inodes-used"])
		}
	})

	t.Run("exec, kill, pause and resume as under runc", func(t *testing.T) {
		for _, rt := range []string{runtimeBrisk, "io.containerd.runc.v2"} {
			id := "parity-" + strings.ReplaceAll(strings.TrimPrefix(rt, "io.containerd."), ".", "-")
			// PID 1 has no default signal handlers: trap TERM as a real
			// workload would.
			s.ctd.MustCtr("run", "-d", "--runtime", rt, s.image, id, "sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done")
			out := s.ctd.MustCtr("tasks", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec-out; exit 0")
			if out != "exec-out\n" {
				t.Errorf("%s exec output %q", rt, out)
			}
			if _, _, err := s.ctd.Ctr("tasks", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 7"); err == nil {
				t.Errorf("%s: exec exit 7 reported success", rt)
			}
			s.ctd.MustCtr("tasks", "pause", id)
			if st := s.ctd.MustCtr("tasks", "ls"); !strings.Contains(lineOf(st, id), "PAUSED") {
				t.Errorf("%s: not paused: %s", rt, lineOf(st, id))
			}
			s.ctd.MustCtr("tasks", "resume", id)
			if st := s.ctd.MustCtr("tasks", "ls"); !strings.Contains(lineOf(st, id), "RUNNING") {
				t.Errorf("%s: not running after resume: %s", rt, lineOf(st, id))
			}
			s.ctd.MustCtr("tasks", "kill", "-s", "SIGTERM", id)
			if !harness.WaitFor(10*time.Second, func() bool { return strings.Contains(lineOf(s.ctd.MustCtr("tasks", "ls"), id), "STOPPED") }) {
				t.Errorf("%s: SIGTERM did not stop the task", rt)
			}
			s.ctd.MustCtr("tasks", "delete", id)
			s.ctd.MustCtr("containers", "delete", id)
		}
		_, meta := s.waitObject(t, "parity-brisk-v2", 10*time.Second)
		if meta["brisk-exit-code"] != "143" {
			t.Errorf("SIGTERM exit recorded as %q, want 143", meta["brisk-exit-code"])
		}
	})
}

func lineOf(out, id string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, id+" ") {
			return l
		}
	}
	return ""
}
