package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// storedRuns returns the stdout of every stored run of id, oldest first,
// with each run's metadata.
func (s *shimStack) storedRuns(t *testing.T, id string) ([]string, []map[string]string) {
	t.Helper()
	shipper, err := ship.New(context.Background(), s.cfg, ship.WithStore(s.store))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := shipper.Runs(context.Background(), s.ctd.Namespace, id)
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	var metas []map[string]string
	for _, r := range runs {
		body, meta, err := s.store.Get(context.Background(), r.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue // still only in the spool
		}
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := spool.Decode(bytes.NewReader(body), func(r spool.Record) error {
			if r.Stream == spool.Stdout {
				out.Write(r.Bytes())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		outs, metas = append(outs, out.String()), append(metas, meta)
	}
	return outs, metas
}

func TestLogRunsUnderOneID(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ns := s.ctd.Namespace
	var sn *harness.Snapshotter // the spool's metrics, from the second subtest on

	t.Run("a run is not refused while an earlier run of its ID waits to ship", func(t *testing.T) {
		s.minio.Stop()
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--label", "brisk.io/task-id=busy", s.image, "busy-a", "echo", "run-1")
		live, err := spool.Runs(s.cfg.SpoolDir, ns, "busy")
		if err != nil || len(live) != 1 {
			t.Fatalf("spool holds %+v, %v; want the first run, waiting for S3", live, err)
		}
		out, stderr, err := s.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, "--label", "brisk.io/task-id=busy", s.image, "busy-b", "echo", "run-2")
		if err != nil || out != "run-2\n" {
			t.Fatalf("second run of busy while the first uploads: %v, %q, %q", err, out, stderr)
		}
		s.minio.Start()
		// brisk-logd ships both runs once S3 is back.
		var outs []string
		if !harness.WaitFor(60*time.Second, func() bool { outs, _ = s.storedRuns(t, "busy"); return len(outs) == 2 }) {
			t.Fatalf("stored runs of busy: %q; want both", outs)
		}
		if outs[0] != "run-1\n" || outs[1] != "run-2\n" {
			t.Errorf("stored runs of busy hold %q, want run-1 then run-2", outs)
		}
	})

	t.Run("two runs of one ID while S3 is down, both shims give up, then up: both stored", func(t *testing.T) {
		s.minio.Stop()
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--label", "brisk.io/task-id=t1", s.image, "t1-a", "echo", "run-1")
		out, stderr, err := s.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, "--label", "brisk.io/task-id=t1", s.image, "t1-b", "echo", "run-2")
		if err != nil || out != "run-2\n" {
			t.Fatalf("second run of t1 while the first uploads: %v, %q, %q", err, out, stderr)
		}
		time.Sleep(5 * time.Second) // both shims gave up and left their entries
		if runs, _ := spool.Runs(s.cfg.SpoolDir, ns, "t1"); len(runs) != 2 {
			t.Fatalf("spool holds %d runs of t1 after S3 refused both; want 2", len(runs))
		}
		s.minio.Start()
		// The node retrier (the stack's brisk-logd) ships both, no command run.
		sn = s.env.StartSnapshotter(s.logsTOML)
		var outs []string
		if !harness.WaitFor(60*time.Second, func() bool { outs, _ = s.storedRuns(t, "t1"); return len(outs) == 2 }) {
			t.Fatalf("stored runs of t1: %q; want both", outs)
		}
		if outs[0] != "run-1\n" || outs[1] != "run-2\n" {
			t.Errorf("stored runs of t1 hold %q, want run-1 then run-2", outs)
		}
	})

	t.Run("briskctl logs shows the latest run and says the earlier exist", func(t *testing.T) {
		out, stderr, err := s.briskctl("logs", "-n", ns, "t1")
		if err != nil || out != "run-2\n" || !strings.Contains(stderr, "2 runs") || !strings.Contains(stderr, "--run") {
			t.Errorf("logs t1: %v, stdout %q, stderr %q", err, out, stderr)
		}
		t.Logf("briskctl logs t1 says on stderr:\n%s", stderr)
		if out, _, err := s.briskctl("logs", "-n", ns, "--run", "1", "t1"); err != nil || out != "run-1\n" {
			t.Errorf("logs --run 1 t1: %v %q", err, out)
		}
		if out, stderr, err := s.briskctl("logs", "-n", ns, "--all-runs", "t1"); err != nil || out != "run-1\nrun-2\n" || strings.Count(stderr, "==> run") != 2 {
			t.Errorf("logs --all-runs t1: %v %q %q", err, out, stderr)
		}
		if _, stderr, err := s.briskctl("logs", "-n", ns, "--run", "3", "t1"); err == nil || !strings.Contains(stderr, "has 2 runs") {
			t.Errorf("logs --run 3 t1: %v %q", err, stderr)
		}
	})

	t.Run("one container ID run twice in a row: two runs, each its own log", func(t *testing.T) {
		for _, word := range []string{"first", "second"} {
			if out, stderr, err := s.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, s.image, "again", "echo", word); err != nil || out != word+"\n" {
				t.Fatalf("run %s of container again: %v %q %q", word, err, out, stderr)
			}
		}
		var outs []string
		if !harness.WaitFor(30*time.Second, func() bool { outs, _ = s.storedRuns(t, "again"); return len(outs) == 2 }) {
			t.Fatalf("stored runs of again: %q; want both", outs)
		}
		if outs[0] != "first\n" || outs[1] != "second\n" {
			t.Errorf("stored runs of again: %q", outs)
		}
	})

	t.Run("Job retry pods: one log ID, one object per pod", func(t *testing.T) {
		// What CRI passes for two pods of one Job: the same task-id,
		// container name and restart count, different pod UIDs.
		for i, uid := range []string{"0a1b2c3d-0000-4000-8000-000000000001", "9f8e7d6c-0000-4000-8000-000000000002"} {
			s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk,
				"--annotation", "brisk.io/task-id=job-7", "--annotation", "io.kubernetes.cri.container-name=main",
				"--annotation", "io.kubernetes.container.restartCount=0", "--annotation", "io.kubernetes.cri.sandbox-uid="+uid,
				s.image, "job-7-"+string(rune('a'+i)), "echo", "attempt-"+uid[:8])
		}
		var outs []string
		var metas []map[string]string
		if !harness.WaitFor(30*time.Second, func() bool { outs, metas = s.storedRuns(t, "job-7/main"); return len(outs) == 2 }) {
			t.Fatalf("stored runs of job-7/main: %q; want one per pod", outs)
		}
		got := []string{outs[0] + metas[0]["brisk-pod"], outs[1] + metas[1]["brisk-pod"]}
		sort.Strings(got)
		if got[0] != "attempt-0a1b2c3d\n0a1b2c3d-0000-4000-8000-000000000001" || got[1] != "attempt-9f8e7d6c\n9f8e7d6c-0000-4000-8000-000000000002" {
			t.Errorf("runs of job-7/main: %q", got)
		}
	})

	t.Run("an ID too long is refused at create, naming the annotation", func(t *testing.T) {
		long := strings.Repeat("x", 240)
		_, stderr, err := s.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, "--label", "brisk.io/task-id="+long, s.image, "too-long", "echo", "never")
		if err == nil || !strings.Contains(stderr, "brisk.io/task-id") || !strings.Contains(stderr, "limit of 200") || !strings.Contains(stderr, "invalid argument") {
			t.Errorf("240-byte task ID: %v, stderr %q; want it refused as an invalid argument naming brisk.io/task-id", err, stderr)
		}
		t.Logf("refused as: %s", strings.TrimSpace(stderr))
		_, _, _ = s.ctd.Ctr("containers", "delete", "too-long")
		if runs, _ := spool.Runs(s.cfg.SpoolDir, ns, long); len(runs) != 0 {
			t.Errorf("refused task left %d spool entries", len(runs))
		}
	})

	t.Run("an entry that can never ship is quarantined and listed by briskctl flush", func(t *testing.T) {
		// runc's state directory is per namespace, shared by test runs.
		poison := fmt.Sprintf("poison-%d", time.Now().UnixNano())
		s.ctd.MustCtr("run", "-d", "--runtime", runtimeBrisk, s.image, poison, "sh", "-c", "echo doomed; sleep 600")
		runs, err := spool.Runs(s.cfg.SpoolDir, ns, poison)
		if err != nil || len(runs) != 1 {
			t.Fatalf("spool runs of poison: %+v %v", runs, err)
		}
		// meta.json damaged (a disk error, an older version's entry)
		// while the shim holds the entry, then the shim dies.
		if err := os.WriteFile(filepath.Join(runs[0].Dir, spool.MetaFile), []byte(`{"namespace": "`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(shimPid(t, s.env, poison), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, _, _ = s.ctd.Ctr("tasks", "delete", "-f", poison)
			_, _, _ = s.ctd.Ctr("containers", "delete", poison)
		}()
		var out string
		// Whoever sees it first, the node retrier or flush, sets it aside.
		if !harness.WaitFor(30*time.Second, func() bool {
			out, _, err = s.briskctl("flush")
			return strings.Contains(out, "1 quarantined")
		}) {
			t.Fatalf("flush: %v\n%s", err, out)
		}
		re := regexp.MustCompile(`(?m)^quarantined +\S*` + poison + `@\S+: .*meta\.json.*$`)
		if err == nil || !re.MatchString(out) {
			t.Errorf("flush with a quarantined entry: %v\n%s", err, out)
		}
		t.Logf("briskctl flush:\n%s", out)
		if sn == nil {
			t.Fatal("no brisk-snapshotter: the first subtest did not run")
		}
		if m := regexp.MustCompile(`(?m)^brisk_logs_spool_quarantined_entries 1$`); !m.MatchString(httpGet(t, "http://"+sn.MetricsAddress+"/metrics")) {
			t.Errorf("brisk_logs_spool_quarantined_entries is not 1")
		}
		if dirs, _ := spool.Pending(s.cfg.SpoolDir); len(dirs) != 0 {
			t.Errorf("quarantined entry still pending: %v", dirs)
		}
	})
}
