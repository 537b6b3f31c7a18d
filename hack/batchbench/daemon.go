package main

import (
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

	"github.com/brisk-containers/brisk/logs/handoff"
)

// node is one brisk-logd process standing for a node: its own config,
// spool_dir, node_name, unix socket and metrics address.
type node struct {
	name    string
	dir     string
	spool   string
	socket  string
	metrics string // http://127.0.0.1:PORT/metrics
	handoff *handoff.Client
	cmd     *exec.Cmd
	done    chan struct{}
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

// startNode writes node i's config under dir and starts brisk-logd on it,
// storing in bucket under upload mode; it returns once the daemon serves
// its metrics.
func startNode(ctx context.Context, b *bench, dir, bucket, mode string, i int) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &node{
		name:    fmt.Sprintf("node-%02d", i),
		metrics: "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics",
	}
	n.dir = filepath.Join(dir, n.name)
	n.spool = filepath.Join(b.spoolRoot, filepath.Base(dir), n.name)
	n.socket = filepath.Join(n.dir, "logd.sock")
	for _, d := range []string{n.dir, n.spool} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	var c strings.Builder
	fmt.Fprintf(&c, "[logs]\nspool_dir = %q\nlocal_dir = %q\nupload = %q\n", n.spool, filepath.Join(n.dir, "store"), mode)
	// gzip under per-task upload too, so that both modes store the same
	// bytes (a batch's members are gzip whatever compression says).
	fmt.Fprintf(&c, "[logs.s3]\nbucket = %q\nendpoint = %q\npath_style = true\ncompression = \"gzip\"\n", bucket, b.endpoint)
	// No TCP listener: the hand-off and metrics are all the bench needs.
	fmt.Fprintf(&c, "[logs.api]\nlisten = \"\"\nsocket = %q\nnode_name = %q\nmetrics_address = \"127.0.0.1:%d\"\n", n.socket, n.name, port)
	cfg := filepath.Join(n.dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(c.String()), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(n.dir, "logd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	n.cmd = exec.Command(b.logd, "--config", cfg, "--log-level", "warn")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", b.logd, err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	n.handoff = handoff.New(n.socket)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case <-n.done:
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("brisk-logd %s exited: %s", n.name, out)
		case <-ctx.Done():
			n.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if resp, err := http.Get(n.metrics); err == nil {
			resp.Body.Close()
			if _, err := os.Stat(n.socket); resp.StatusCode == http.StatusOK && err == nil {
				return n, nil
			}
		}
	}
	n.stop()
	return nil, fmt.Errorf("brisk-logd %s did not serve %s (log: %s)", n.name, n.metrics, logf.Name())
}

// stop ends the daemon with SIGTERM, as systemd would.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// alive says whether the daemon still runs.
func (n *node) alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}
