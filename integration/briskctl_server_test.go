package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/spool"
)

// laptopBriskctl runs briskctl as on a machine off the cluster: its config
// names an empty spool and store and the log server, and it has no S3
// credentials.
func laptopBriskctl(s *shimStack, cfg string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.env.BriskBin, "briskctl"), append([]string{"--config", cfg, "logs", "-n", s.ctd.Namespace}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// TestBriskctlLogsThroughLogd follows a running task from "a laptop" with
// briskctl logs -f ID --server URL --token-file F, through a brisk-logd
// that does not hold the task (it asks its peer): stdout and stderr are
// what the task printed, lines arrive while it runs, the command ends at
// the task's exit with nothing added, and the same text comes back once the
// log is stored and the entry is gone.
func TestBriskctlLogsThroughLogd(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ns := s.ctd.Namespace
	n := startLogdNodes(t, s)

	laptop := s.env.Path("laptop")
	if err := os.MkdirAll(laptop, 0o755); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(laptop, "token")
	if err := os.WriteFile(tokenFile, []byte(harness.LogdTokenFor(ns)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherToken := filepath.Join(laptop, "other-token")
	if err := os.WriteFile(otherToken, []byte(harness.LogdTokenFor("other")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFlags := filepath.Join(laptop, "flags.toml")
	cfgKeys := filepath.Join(laptop, "keys.toml")
	emptySpool := fmt.Sprintf("[logs]\nspool_dir = %q\nlocal_dir = %q\n", filepath.Join(laptop, "spool"), filepath.Join(laptop, "store"))
	if err := os.WriteFile(cfgFlags, []byte(emptySpool), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgKeys, []byte(emptySpool+fmt.Sprintf("[briskctl]\nserver = %q\ntoken_file = %q\n", n.b.URL, tokenFile)), 0o644); err != nil {
		t.Fatal(err)
	}

	id := "remote-ticker"
	script := `for i in $(seq 1 20); do echo "out $i"; echo "err $i" >&2; sleep 0.1; done; printf "half a "; sleep 0.3; echo line; printf "no newline at exit"; exit 3`
	var wantOut, wantErr strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&wantOut, "out %d\n", i)
		fmt.Fprintf(&wantErr, "err %d\n", i)
	}
	wantOut.WriteString("half a line\nno newline at exit")

	run := s.runLive(t, id, "sh", "-c", script)

	cmd := laptopBriskctl(s, cfgFlags, "-f", id, "--server", n.b.URL, "--token-file", tokenFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	first, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %v %q (stderr %q)", err, first, stderr.String())
	}
	// The first line came while the task still ran: its entry is live.
	m, merr := spool.ReadMeta(run.Dir)
	live := merr == nil && m.State != spool.StateDone
	rest, _ := io.ReadAll(br)
	werr := cmd.Wait()
	got := first + string(rest)
	if werr != nil {
		t.Fatalf("briskctl logs -f --server: %v, stderr %q, stdout %q", werr, stderr.String(), got)
	}
	t.Run("lines arrive while the task runs", func(t *testing.T) {
		if !live {
			t.Errorf("the first line came once the task was done (meta %+v, %v): not followed live", m, merr)
		}
	})
	t.Run("stdout and stderr are what the task printed, nothing more", func(t *testing.T) {
		if got != wantOut.String() {
			t.Errorf("stdout %q\nwant   %q", got, wantOut.String())
		}
		if stderr.String() != wantErr.String() {
			t.Errorf("stderr %q\nwant   %q", stderr.String(), wantErr.String())
		}
	})

	s.waitObject(t, id, 30*time.Second)
	if !harness.WaitFor(30*time.Second, func() bool { runs, _ := spool.Runs(s.cfg.SpoolDir, ns, id); return len(runs) == 0 }) {
		t.Fatal("the entry did not leave the spool once shipped")
	}
	t.Run("the same from the store, with the server and token from the config", func(t *testing.T) {
		var o, e bytes.Buffer
		cmd := laptopBriskctl(s, cfgKeys, id)
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil || o.String() != wantOut.String() || e.String() != wantErr.String() {
			t.Errorf("after the entry left: %v, stdout %q, stderr %q", err, o.String(), e.String())
		}
		node, nodeErr, err := s.briskctl("logs", "-n", ns, id)
		if err != nil || node != o.String() || nodeErr != e.String() {
			t.Errorf("briskctl logs on the node: %v, stdout %q, stderr %q; through the server %q, %q", err, node, nodeErr, o.String(), e.String())
		}
	})
	t.Run("a token for another namespace is refused", func(t *testing.T) {
		var e bytes.Buffer
		cmd := laptopBriskctl(s, cfgKeys, id, "--token-file", otherToken)
		cmd.Stderr = &e
		err := cmd.Run()
		if err == nil || !strings.Contains(e.String(), "briskctl: 403 Forbidden: this token may not read namespace") {
			t.Errorf("another namespace's token: %v, stderr %q", err, e.String())
		}
	})
}
