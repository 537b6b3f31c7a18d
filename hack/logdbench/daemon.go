package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-containers/brisk/hack/internal/procstat"
)

// daemon is one brisk-logd process: a node of its own, with its own config,
// port, spool and tokens file.
type daemon struct {
	name  string
	url   string
	spool string
	cmd   *exec.Cmd
	done  chan struct{}
}

// freePort is a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// reserve picks the port of a daemon to be started, so that peers' lists
// can name each other before any of them runs.
func reserve(c *common, name string) (*daemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &daemon{name: name, url: "http://127.0.0.1:" + strconv.Itoa(port), spool: filepath.Join(c.spoolRoot, name, "spool")}, nil
}

// start writes d's config and tokens file and starts brisk-logd on them,
// asking peers with peerTimeout, and waits until it answers /healthz.
func (d *daemon) start(ctx context.Context, c *common, peers []string, peerTimeout time.Duration) error {
	dir := filepath.Join(c.dir, d.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(token+" *\n"), 0o600); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[logs]\nspool_dir = %q\nlocal_dir = %q\n", d.spool, filepath.Join(dir, "store"))
	if c.s3Endpoint != "" {
		fmt.Fprintf(&b, "[logs.s3]\nbucket = %q\nendpoint = %q\npath_style = true\n", c.bucket, c.s3Endpoint)
	}
	fmt.Fprintf(&b, "[logs.api]\nlisten = %q\nsocket = \"\"\ntokens_file = %q\nnode_name = %q\npeer_timeout = %q\npeers = [", strings.TrimPrefix(d.url, "http://"), tokens, d.name, peerTimeout.String())
	for i, p := range peers {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p)
	}
	b.WriteString("]\n")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "logd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	d.cmd = exec.Command(c.logd, "--config", cfg, "--log-level", "warn")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.logd, err)
	}
	d.done = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case <-d.done:
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("brisk-logd %s exited: %s", d.name, out)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if resp, err := http.Get(d.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("brisk-logd %s did not answer on %s (log: %s)", d.name, d.url, logf.Name())
}

// stop ends the daemon with SIGTERM, as systemd would.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// cpu is the daemon's user+system time so far (clock ticks of 10 ms).
func (d *daemon) cpu() time.Duration { return procstat.CPU(d.cmd.Process.Pid) }

// writer is a spool writer process (logdbench writer).
type writer struct {
	cmd  *exec.Cmd
	done chan error
}

// startWriter starts a writer on spool and returns once its preload is in.
func startWriter(ctx context.Context, spool, node, id string, args ...string) (*writer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{"writer", "-spool", spool, "-node", node, "-id", id}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &writer{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		for sc.Scan() {
		}
		w.done <- cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if !ok {
			return nil, fmt.Errorf("writer %s: %w", id, <-w.done)
		}
		return w, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

// stop ends a writer that runs until SIGTERM: the task exits.
func (w *writer) stop() error {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	return w.wait()
}

func (w *writer) wait() error { return <-w.done }
