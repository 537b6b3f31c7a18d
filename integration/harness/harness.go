// Package harness starts the real daemons Brisk's end-to-end tests and
// benchmarks run against — containerd, runc (through containerd's shims),
// brisk-snapshotter, MinIO — in a private directory, and always tears them
// down, mounts included, also when a test fails. It never touches the host's
// own containerd: every root, state and socket lives under the private
// directory.
package harness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// Env is one private stack.
type Env struct {
	T *testing.T
	// Dir holds everything; its path is short because unix socket paths
	// are limited to 108 bytes.
	Dir string
	// ToolsBin holds the pinned containerd, ctr, runc, crictl, minio.
	ToolsBin string
	// BriskBin holds brisk-snapshotter, briskctl, containerd-shim-brisk-v2.
	BriskBin string
	// Busybox is the static busybox images are built from.
	Busybox string

	procs       []*Process
	containerds []*Containerd
}

// New prepares a private stack, or skips the test (fails it in CI) when root
// or a pinned tool is missing. Cleanup is registered before anything starts.
func New(t *testing.T) *Env {
	t.Helper()
	testutil.RequireRoot(t)
	e := &Env{T: t}
	e.ToolsBin = envOr("TOOLS_DIR", "/opt/brisk/tools") + "/bin"
	e.BriskBin = BriskBin()
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		e.require(filepath.Join(e.ToolsBin, b), "run `make tools`")
	}
	for _, b := range []string{"brisk-snapshotter", "briskctl"} {
		e.require(filepath.Join(e.BriskBin, b), "run `make build`")
	}
	e.Busybox = filepath.Join(e.ToolsBin, "busybox")
	if _, err := os.Stat(e.Busybox); err != nil {
		e.Busybox = "/bin/busybox"
	}
	e.require(e.Busybox, "run `make tools` (installs busybox-static)")

	dir, err := os.MkdirTemp("/tmp", "bit-")
	if err != nil {
		t.Fatal(err)
	}
	e.Dir = dir
	t.Cleanup(e.cleanup)
	return e
}

// BriskBin is the directory of the Brisk binaries under test: $BRISK_BIN_DIR,
// else bin/ of the repository. Tests that must name a binary in a daemon's
// configuration before the stack starts use it.
func BriskBin() string {
	if dir := os.Getenv("BRISK_BIN_DIR"); dir != "" {
		return dir
	}
	wd, _ := os.Getwd()
	return filepath.Join(repoRoot(wd), "bin")
}

// Require skips (fails in CI) unless path exists.
func (e *Env) Require(path string) { e.require(path, "run `make tools build`") }

func (e *Env) require(path, fix string) {
	e.T.Helper()
	_, err := os.Stat(path)
	testutil.Require(e.T, err == nil, fmt.Sprintf("%s is missing: %s", path, fix))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func repoRoot(dir string) string {
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}

// Path is a path under the private directory.
func (e *Env) Path(elem ...string) string {
	return filepath.Join(append([]string{e.Dir}, elem...)...)
}

// PATH puts Brisk's binaries first so containerd finds our shim, then the
// pinned tools, so it finds the pinned runc and runc shim.
func (e *Env) PATH() string {
	return e.BriskBin + ":" + e.ToolsBin + ":" + os.Getenv("PATH")
}

// Process is a daemon started by the harness.
type Process struct {
	Name string
	Args []string
	Env  []string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs a daemon in its own process group with its output in a log file
// under the private directory.
func (e *Env) Start(name string, env []string, args ...string) *Process {
	e.T.Helper()
	p := &Process{Name: name, Args: args, Env: env, Log: e.Path(name + ".log")}
	if err := p.start(e.PATH()); err != nil {
		e.T.Fatalf("start %s: %v", name, err)
	}
	e.procs = append(e.procs, p)
	return p
}

func (p *Process) start(path string) error {
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	p.cmd = exec.Command(p.Args[0], p.Args[1:]...)
	p.cmd.Env = append(append(os.Environ(), "PATH="+path), p.Env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return nil
}

// Pid of the running process.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process (not its group: children such as shims
// must survive a daemon's death, as they do in production).
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits, then SIGKILL.
func (p *Process) Stop(timeout time.Duration) error {
	if !p.Running() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v", p.Name, timeout)
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Process) Kill() {
	if p.Running() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Wait waits for the process to exit.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	}
}

// Restart starts the same command again.
func (e *Env) Restart(p *Process) {
	e.T.Helper()
	p.Kill()
	if err := p.start(e.PATH()); err != nil {
		e.T.Fatalf("restart %s: %v", p.Name, err)
	}
}

// LogTail returns the last lines of p's log, for failure messages.
func (p *Process) LogTail() string {
	data, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// Run runs a command to completion with the harness PATH.
func (e *Env) Run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PATH="+e.PATH())
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(se.String()))
	}
	return o.String(), se.String(), err
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond until it holds or timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
