package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Containerd is a private containerd.
type Containerd struct {
	env       *Env
	Proc      *Process
	Root      string
	State     string
	Address   string
	Namespace string
	Config    string
}

// ContainerdOpt configures StartContainerd.
type ContainerdOpt func(*containerdConfig)

type containerdConfig struct {
	env       []string
	extra     []string
	unpack    []string
	cri       bool
	namespace string
}

// WithProxySnapshotter registers a proxy snapshotter, as an operator would in
// /etc/containerd/config.toml.
func WithProxySnapshotter(name, socket, exportsRoot string) ContainerdOpt {
	return func(c *containerdConfig) {
		c.unpack = append(c.unpack, name)
		c.extra = append(c.extra, fmt.Sprintf("[proxy_plugins.%s]\n  type = \"snapshot\"\n  address = %q\n  exports = { root = %q }\n", name, socket, exportsRoot))
	}
}

// WithConfig appends raw TOML to the config.
func WithConfig(toml string) ContainerdOpt {
	return func(c *containerdConfig) { c.extra = append(c.extra, toml) }
}

// WithEnv adds environment variables to containerd, which its shims inherit
// (BRISK_CONFIG, AWS credentials).
func WithEnv(env ...string) ContainerdOpt {
	return func(c *containerdConfig) { c.env = append(c.env, env...) }
}

// WithCRI enables the CRI plugin with the settings this machine kind needs.
// ctr then works in CRI's namespace, k8s.io, where CRI looks for images.
func WithCRI() ContainerdOpt {
	return func(c *containerdConfig) { c.cri, c.namespace = true, "k8s.io" }
}

// PauseImageName is the sandbox image containerd 2.2.1's CRI asks for; with
// no registry reachable, ImportPauseImage provides it.
const PauseImageName = "registry.k8s.io/pause:3.10.1"

// pauseScript is a pause process in busybox sh: it sleeps until stopped.
const pauseScript = "#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n"

// StartContainerd starts a containerd whose root, state and sockets are all
// under the private directory, and waits until it answers.
func (e *Env) StartContainerd(opts ...ContainerdOpt) *Containerd {
	e.T.Helper()
	cfg := containerdConfig{namespace: "brisk-test"}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Containerd{
		env: e, Root: e.Path("containerd", "root"), State: e.Path("containerd", "state"),
		Address: e.Path("c.sock"), Namespace: cfg.namespace, Config: e.Path("containerd.toml"),
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version = 3\nroot = %q\nstate = %q\n", c.Root, c.State)
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n[debug]\n  address = %q\n  level = \"info\"\n",
		c.Address, c.Address+".ttrpc", e.Path("c-debug.sock"))
	// Keep plugins that default to host paths (/opt/containerd, the NRI
	// socket) inside the private directory or off.
	disabled := []string{`"io.containerd.nri.v1.nri"`}
	if !cfg.cri {
		disabled = append(disabled, `"io.containerd.grpc.v1.cri"`)
	}
	fmt.Fprintf(&b, "disabled_plugins = [%s]\n", strings.Join(disabled, ", "))
	fmt.Fprintf(&b, "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = %q\n", e.Path("containerd", "opt"))
	if cfg.cri {
		fmt.Fprintf(&b, "[plugins.\"io.containerd.cri.v1.runtime\"]\n  restrict_oom_score_adj = true\n")
		fmt.Fprintf(&b, "[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_tcp_service = true\n")
	}
	// The transfer service (ctr images import/pull) unpacks only for the
	// snapshotters listed here; a proxy snapshotter is not a default.
	for _, sn := range append([]string{"overlayfs"}, cfg.unpack...) {
		fmt.Fprintf(&b, "[[plugins.\"io.containerd.transfer.v1.local\".unpack_config]]\n  platform = \"linux/amd64\"\n  snapshotter = %q\n", sn)
	}
	for _, x := range cfg.extra {
		b.WriteString(x)
	}
	if err := os.WriteFile(c.Config, []byte(b.String()), 0o644); err != nil {
		e.T.Fatal(err)
	}
	c.Proc = e.Start("containerd", cfg.env, filepath.Join(e.ToolsBin, "containerd"), "--config", c.Config)
	e.containerds = append(e.containerds, c)
	if !WaitFor(30*time.Second, func() bool {
		_, _, err := c.Ctr("version")
		return err == nil || !c.Proc.Running()
	}) || !c.Proc.Running() {
		e.T.Fatalf("containerd did not come up:\n%s", c.Proc.LogTail())
	}
	return c
}

// Ctr runs the pinned ctr against this containerd in its test namespace.
func (c *Containerd) Ctr(args ...string) (stdout, stderr string, err error) {
	return c.CtrNS(c.Namespace, args...)
}

// CtrNS runs ctr in namespace ns.
func (c *Containerd) CtrNS(ns string, args ...string) (stdout, stderr string, err error) {
	full := append([]string{filepath.Join(c.env.ToolsBin, "ctr"), "--address", c.Address, "--namespace", ns}, args...)
	return c.env.Run(full...)
}

// MustCtr runs ctr and fails the test on error.
func (c *Containerd) MustCtr(args ...string) string {
	c.env.T.Helper()
	out, _, err := c.Ctr(args...)
	if err != nil {
		c.env.T.Fatalf("%v\ncontainerd log:\n%s", err, c.Proc.LogTail())
	}
	return out
}

// ImportImage builds the busybox test image (with extra files) and imports
// it, unpacking it for each snapshotter named.
func (c *Containerd) ImportImage(snapshotters []string, extra ...ImageFile) string {
	c.env.T.Helper()
	dir, err := os.MkdirTemp(c.env.Dir, "image-")
	if err != nil {
		c.env.T.Fatal(err)
	}
	tarball, err := BuildImage(dir, c.env.Busybox, ImageName, extra...)
	if err != nil {
		c.env.T.Fatal(err)
	}
	for _, sn := range snapshotters {
		c.MustCtr("images", "import", "--snapshotter", sn, tarball)
	}
	return ImageName
}

// ImportPauseImage builds and imports the CRI sandbox image.
func (c *Containerd) ImportPauseImage(snapshotters []string) {
	c.env.T.Helper()
	dir, err := os.MkdirTemp(c.env.Dir, "pause-")
	if err != nil {
		c.env.T.Fatal(err)
	}
	tarball, err := BuildImageCmd(dir, c.env.Busybox, PauseImageName, []string{"/pause"},
		ImageFile{Path: "/pause", Mode: 0o755, Data: []byte(pauseScript)})
	if err != nil {
		c.env.T.Fatal(err)
	}
	for _, sn := range snapshotters {
		c.MustCtr("images", "import", "--snapshotter", sn, tarball)
	}
}

// Crictl runs the pinned crictl against this containerd's CRI.
func (c *Containerd) Crictl(args ...string) (stdout, stderr string, err error) {
	full := append([]string{filepath.Join(c.env.ToolsBin, "crictl"), "--runtime-endpoint", "unix://" + c.Address, "--image-endpoint", "unix://" + c.Address, "--timeout", "30s"}, args...)
	return c.env.Run(full...)
}

// MustCrictl runs crictl and fails the test on error.
func (c *Containerd) MustCrictl(args ...string) string {
	c.env.T.Helper()
	out, stderr, err := c.Crictl(args...)
	if err != nil {
		c.env.T.Fatalf("crictl %v: %v\n%s\ncontainerd log:\n%s", args, err, stderr, c.Proc.LogTail())
	}
	return strings.TrimSpace(out)
}

// killAllTasks kills and deletes every task and container in every
// namespace, so shims exit and rootfs mounts are released.
func (c *Containerd) killAllTasks() {
	if !c.Proc.Running() {
		return
	}
	nss, _, _ := c.CtrNS("default", "namespaces", "list", "-q")
	for _, ns := range strings.Fields(nss) {
		tasks, _, _ := c.CtrNS(ns, "tasks", "list", "-q")
		for _, id := range strings.Fields(tasks) {
			_, _, _ = c.CtrNS(ns, "tasks", "kill", "-s", "SIGKILL", id)
		}
		for _, id := range strings.Fields(tasks) {
			_, _, _ = c.CtrNS(ns, "tasks", "delete", "-f", id)
		}
		ctrs, _, _ := c.CtrNS(ns, "containers", "list", "-q")
		for _, id := range strings.Fields(ctrs) {
			_, _, _ = c.CtrNS(ns, "containers", "delete", id)
		}
	}
}
