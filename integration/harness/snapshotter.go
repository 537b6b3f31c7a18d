package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Snapshotter is a running brisk-snapshotter.
type Snapshotter struct {
	Proc           *Process
	Root           string
	Address        string
	MetricsAddress string
	UsageSocket    string
	ConfigPath     string
}

// SnapshotterConfig writes the [snapshotter] section for a private instance:
// root, sockets and metrics address are the harness's; extra lines (other
// [snapshotter] keys) are appended to the section.
func (e *Env) SnapshotterConfig(extra string) (*Snapshotter, string) {
	s := &Snapshotter{
		Root:           e.Path("brisk"),
		Address:        e.Path("b.sock"),
		MetricsAddress: fmt.Sprintf("127.0.0.1:%d", FreePort(e.T)),
		UsageSocket:    e.Path("usage.sock"),
		ConfigPath:     e.Path("brisk.toml"),
	}
	cfg := fmt.Sprintf("[snapshotter]\nroot = %q\naddress = %q\nmetrics_address = %q\nusage_socket = %q\n%s\n", s.Root, s.Address, s.MetricsAddress, s.UsageSocket, extra)
	return s, cfg
}

// StartSnapshotter writes the config and starts brisk-snapshotter, waiting
// until its socket accepts connections.
func (e *Env) StartSnapshotter(extra string) *Snapshotter {
	e.T.Helper()
	s, cfg := e.SnapshotterConfig(extra)
	if err := os.WriteFile(s.ConfigPath, []byte(cfg), 0o644); err != nil {
		e.T.Fatal(err)
	}
	s.Proc = e.Start("brisk-snapshotter", nil, filepath.Join(e.BriskBin, "brisk-snapshotter"), "--config", s.ConfigPath, "--log-level", "debug")
	e.WaitSnapshotter(s)
	return s
}

// WaitSnapshotter waits until s serves, failing the test with its log if it
// exits or does not come up.
func (e *Env) WaitSnapshotter(s *Snapshotter) {
	e.T.Helper()
	ok := WaitFor(20*time.Second, func() bool {
		if !s.Proc.Running() {
			return true
		}
		c, err := net.Dial("unix", s.Address)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if !ok || !s.Proc.Running() {
		e.T.Fatalf("brisk-snapshotter did not come up:\n%s", s.Proc.LogTail())
	}
}

// ProxyConfig is the containerd option registering s as "brisk".
func (s *Snapshotter) ProxyConfig() ContainerdOpt {
	return WithProxySnapshotter("brisk", s.Address, s.Root)
}
