package integration

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/doctor"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/briskimage"
	"github.com/brisk-containers/brisk/internal/installer"
	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/spool/spooltest"
)

// installerHost is a node for brisk-installer without a cluster: a private
// containerd, a "host" directory tree the installer's container gets as its
// /host, and the test playing the host's systemd through the installer's
// request files.
type installerHost struct {
	t        *testing.T
	env      *harness.Env
	ctd      *harness.Containerd
	root     string // the host's tree, seen from the host
	requests string
	nodeName string           // what the DaemonSet passes as NODE_NAME
	sn       *harness.Process // the snapshotter started as "systemd" would
	logd     *harness.Process // brisk-logd, likewise
	runs     int
	served   int
}

// run runs the installer image's entrypoint with command and the host
// layout's flags as a ctr task, serving its service requests until it
// exits, and returns its output, the actions it asked for, and its exit
// error.
func (h *installerHost) run(command string) (output string, actions []string, err error) {
	h.t.Helper()
	h.runs++
	id := fmt.Sprintf("installer-%d", h.runs)
	logFile := h.env.Path(id + ".log")
	args := []string{
		briskimage.BinDir + "/" + briskimage.Installer, command,
		"--host-root", "/host",
		"--bin-dir", filepath.Join(h.root, "usr/local/bin"),
		"--config", filepath.Join(h.root, "etc/brisk/config.toml"),
		"--s3-env", filepath.Join(h.root, "etc/brisk/s3.env"),
		"--logd-tokens", filepath.Join(h.root, "etc/brisk/logd-tokens"),
		"--containerd-config", h.ctd.Config,
		"--containerd-dropin-dir", filepath.Join(h.root, "etc/containerd/conf.d"),
		"--containerd-address", h.ctd.Address,
		"--systemd-dir", filepath.Join(h.root, "etc/systemd/system"),
		"--state-dir", filepath.Join(h.root, "var/lib/brisk-installer"),
		"--source-config", "/host" + h.env.Path("configmap", "config.toml"),
		"--source-logd-tokens", "/host" + h.env.Path("secret", "tokens"),
		"--logs-node-name", h.nodeName,
		"--service-manager", "requests",
		"--request-dir", "/host" + h.requests,
	}
	h.ctd.MustCtr(append([]string{"run", "-d", "--log-uri", "file://" + logFile,
		"--mount", fmt.Sprintf("type=bind,src=%s,dst=/host%s,options=rbind:rw", h.env.Dir, h.env.Dir),
		briskimage.DefaultName, id}, args...)...)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		actions = append(actions, h.serve()...)
		out, _, lerr := h.ctd.Ctr("tasks", "ls")
		if lerr == nil && installerTaskStopped(out, id) {
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("installer %s did not finish; requests served: %v", id, actions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	actions = append(actions, h.serve()...)
	// ctr reports a task's exit code only as a warning.
	_, stderr, err := h.ctd.Ctr("tasks", "delete", id)
	if i := strings.Index(stderr, "non-zero exit code"); err == nil && i >= 0 {
		err = fmt.Errorf("installer %s: %s", id, strings.TrimSpace(stderr[i:]))
	}
	h.ctd.MustCtr("containers", "delete", id)
	// The runtime's copy into a file:// log may land just after the task
	// is reported stopped: an installer always says something, so wait for it.
	var data []byte
	harness.WaitFor(5*time.Second, func() bool {
		data, _ = os.ReadFile(logFile)
		return len(data) > 0
	})
	return string(data), actions, err
}

func installerTaskStopped(list, id string) bool {
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2] == "STOPPED"
		}
	}
	return false
}

// serve carries out the installer's pending requests as systemd would and
// answers them.
func (h *installerHost) serve() []string {
	h.t.Helper()
	var done []string
	reqs := installer.RequestFiles{Dir: h.requests}
	for {
		action, ok, err := reqs.Pending(h.served + 1)
		if err != nil {
			h.t.Fatal(err)
		}
		if !ok {
			return done
		}
		switch action {
		case "daemon-reload":
		case "enable-now brisk-snapshotter.service":
			h.startSnapshotter()
		case "restart brisk-snapshotter.service":
			h.sn.Kill()
			h.startSnapshotter()
		case "disable-now brisk-snapshotter.service":
			if err := h.sn.Stop(10 * time.Second); err != nil {
				h.t.Errorf("stop snapshotter: %v", err)
			}
		case "enable-now brisk-logd.service", "restart brisk-logd.service":
			h.startLogd()
		case "disable-now brisk-logd.service":
			if err := h.logd.Stop(10 * time.Second); err != nil {
				h.t.Errorf("stop brisk-logd: %v", err)
			}
		case "restart containerd.service":
			// containerd restarted on a config that lost the test's
			// private paths would use the host's own: refuse.
			if data, err := os.ReadFile(h.ctd.Config); err != nil || !strings.Contains(string(data), strconv.Quote(h.ctd.Address)) {
				h.t.Fatalf("not restarting containerd: its config %s lost the test's settings (%v):\n%s", h.ctd.Config, err, data)
			}
			h.env.Restart(h.ctd.Proc)
			if !harness.WaitFor(30*time.Second, func() bool { _, _, err := h.ctd.Ctr("version"); return err == nil }) {
				h.t.Fatalf("containerd did not come back with the installer's config:\n%s", h.ctd.Proc.LogTail())
			}
		default:
			h.t.Fatalf("unexpected request %q", action)
		}
		if err := reqs.Answer(h.served+1, nil); err != nil {
			h.t.Fatal(err)
		}
		h.served++
		done = append(done, action)
	}
}

// execStart is the ExecStart of the unit the installer wrote.
func (h *installerHost) execStart(unit string) []string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.root, "etc/systemd/system", unit))
	if err != nil {
		h.t.Fatal(err)
	}
	var argv []string
	for _, line := range strings.Split(string(data), "\n") {
		if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
			argv = strings.Fields(cmd)
		}
	}
	if len(argv) == 0 {
		h.t.Fatalf("%s has no ExecStart:\n%s", unit, data)
	}
	return argv
}

// startSnapshotter runs the ExecStart of the unit the installer wrote.
func (h *installerHost) startSnapshotter() {
	h.t.Helper()
	argv := h.execStart("brisk-snapshotter.service")
	if h.sn == nil {
		h.sn = h.env.Start("brisk-snapshotter", nil, argv...)
	} else {
		h.env.Restart(h.sn)
	}
	h.env.WaitSnapshotter(&harness.Snapshotter{Proc: h.sn, Address: filepath.Join(h.root, "run/brisk/snapshotter.sock")})
}

// startLogd runs the ExecStart of brisk-logd's unit and waits for it to
// answer on its socket, as systemd's start job would (the unit is
// Type=simple: the test waits where systemd would not).
func (h *installerHost) startLogd() {
	h.t.Helper()
	argv := h.execStart("brisk-logd.service")
	if h.logd == nil {
		h.logd = h.env.Start("brisk-logd", nil, argv...)
	} else {
		h.logd.Args = argv
		h.env.Restart(h.logd)
	}
	if !harness.WaitFor(30*time.Second, func() bool { _, err := h.logdGet("/healthz"); return err == nil }) {
		h.t.Fatalf("brisk-logd does not answer on %s:\n%s", h.logdSocket(), h.logd.LogTail())
	}
}

func (h *installerHost) logdSocket() string { return filepath.Join(h.root, "run/brisk/logd.sock") }

// logdGet is GET path on brisk-logd's unix socket, as briskctl on the node
// asks it: no token.
func (h *installerHost) logdGet(path string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.logdSocket())
		},
	}}
	resp, err := client.Get("http://brisk-logd" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body), nil
}

// hostTreeListing lists every path under dir with its mode and, for files,
// a hash of the content; skip names subtrees the daemons (not the
// installer) write.
func hostTreeListing(t *testing.T, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if slices.Contains(skip, rel) {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		entry := fmt.Sprintf("%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			entry += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		out = append(out, entry)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// TestInstallerImage runs the node image (make image) the way the DaemonSet
// does, with ctr against a private containerd whose config and binary
// directories are a "host" tree: the installed node runs a pod under the
// brisk RuntimeClass, a second install changes and restarts nothing, and
// uninstall (refused while a container uses brisk) leaves the host as it
// was. The node's containerd config is a chain of symlinks, an absolute one
// first (in the DaemonSet its target is under /host), and the snapshotter's
// root and spool_dir hold data before the install: an operator's, and an
// earlier Brisk's quarantined log. systemd is played by the test through the installer's request files,
// so what is checked is which restarts the installer asks for, not systemd.
func TestInstallerImage(t *testing.T) {
	env := harness.New(t)
	for _, b := range []string{"brisk-installer", "brisk-snapshotter", "brisk-logd", "briskctl", "containerd-shim-brisk-v2"} {
		env.Require(filepath.Join(env.BriskBin, b))
	}
	env.Require(filepath.Join(env.ToolsBin, "crictl"))
	h := &installerHost{t: t, env: env, root: env.Path("host"), requests: env.Path("requests"), nodeName: "brisk-node-1"}
	// The node before Brisk: the usual directories, and containerd (its
	// config is the harness's, outside the tree, compared on its own).
	for _, d := range []string{"usr/local/bin", "etc/systemd/system", "run", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(h.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	briskConfig := filepath.Join(h.root, "etc/brisk/config.toml")
	// The shim finds the config where the installer puts it, as it would
	// at /etc/brisk/config.toml by default.
	h.ctd = env.StartContainerd(harness.WithCRI(), harness.WithEnv(config.EnvPath+"="+briskConfig))

	// The ConfigMap: paths on the "host"; logs kept by uninstall go outside
	// the compared tree.
	logsDir := env.Path("logs")
	// brisk-small is a profile: the installer declares it to containerd
	// as a proxy plugin and runtime handler of that name.
	// brisk-logd: its socket on the "host", and a loopback listener whose
	// tokens come from the Secret through the installer.
	logdAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	// Every socket on the "host": another stack on this machine may
	// serve on the defaults under /run/brisk.
	configMap := fmt.Sprintf("[snapshotter]\nroot = %q\naddress = %q\nusage_socket = %q\nmetrics_address = \"127.0.0.1:%d\"\n"+
		"[snapshotter.profiles.brisk-small]\ntmpfs_size = \"8Mi\"\ntmpfs_inodes = 2000\n"+
		"[logs]\nspool_dir = %q\nlocal_dir = %q\n"+
		"[logs.api]\nsocket = %q\nlisten = %q\ntokens_file = %q\n",
		filepath.Join(h.root, "var/lib/brisk-snapshotter"), filepath.Join(h.root, "run/brisk/snapshotter.sock"),
		filepath.Join(h.root, "run/brisk/usage.sock"), harness.FreePort(t), filepath.Join(h.root, "run/brisk/spool"), logsDir,
		h.logdSocket(), logdAddr, filepath.Join(h.root, "etc/brisk/logd-tokens"))
	writeFileAll(t, env.Path("configmap", "config.toml"), configMap)
	const logdToken = "installer-test-token"
	writeFileAll(t, env.Path("secret", "tokens"), logdToken+" k8s.io\n")

	// The image, as make image builds it.
	archive := env.Path("brisk-image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := briskimage.Write(f, env.BriskBin, briskimage.DefaultName, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.ctd.MustCtr("images", "import", archive)

	// The containerd config as configuration management leaves it: an
	// absolute link to a relative link to the file, with its own owner,
	// mode and xattr, and no newline at its end.
	links := linkContainerdConfig(t, env, h.ctd.Config)
	managed := env.Path("cm", "managed.toml")
	managedAttrs := testutil.AttrsOf(t, managed)
	// What the data directories hold before Brisk.
	snapRoot := filepath.Join(h.root, "var/lib/brisk-snapshotter")
	spoolDir := filepath.Join(h.root, "run/brisk/spool")
	writeFileAll(t, filepath.Join(snapRoot, "operator/data.txt"), "the operator's\n")
	writeFileAll(t, filepath.Join(spoolDir, "operator-notes"), "the operator's too\n")
	earlierLog := spooltest.Quarantined(t, spoolDir, "earlier-brisk-task")

	before := hostTreeListing(t, h.root)
	ctdConfigBefore := sha256File(t, h.ctd.Config)

	out, actions, err := h.run("install")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if want := []string{"daemon-reload", "enable-now brisk-snapshotter.service", "enable-now brisk-logd.service", "restart containerd.service"}; !slices.Equal(actions, want) {
		t.Fatalf("install asked for %q, want %q\n%s", actions, want, out)
	}
	for _, b := range []string{"brisk-snapshotter", "brisk-logd", "briskctl", "containerd-shim-brisk-v2"} {
		if sha256File(t, filepath.Join(h.root, "usr/local/bin", b)) != sha256File(t, filepath.Join(env.BriskBin, b)) {
			t.Errorf("%s on the host differs from the image's", b)
		}
	}
	if data, _ := os.ReadFile(managed); !strings.Contains(string(data), "imports = [") {
		t.Errorf("containerd config's target %s has no imports line:\n%s", managed, data)
	}
	checkLinks(t, links)
	if got := testutil.AttrsOf(t, managed); got != managedAttrs {
		t.Errorf("containerd config's target: %+v after install, want %+v kept", got, managedAttrs)
	}

	t.Run("brisk-logd runs on the installed node", func(t *testing.T) {
		// The installer wrote the node's name into [logs.api], and
		// brisk-logd answers with it.
		body, err := h.logdGet("/v1/tasks?namespace=k8s.io")
		if err != nil {
			t.Fatalf("brisk-logd on its socket: %v\n%s", err, h.logd.LogTail())
		}
		var tasks struct {
			Node string `json:"node"`
		}
		if err := json.Unmarshal([]byte(body), &tasks); err != nil || tasks.Node != h.nodeName {
			t.Errorf("GET /v1/tasks: node %q (%v), want %q, the installer's --logs-node-name:\n%s", tasks.Node, err, h.nodeName, body)
		}
		// The Secret's token, installed as tokens_file, opens the
		// listener; no token does not.
		for _, tc := range []struct {
			token string
			want  int
		}{{logdToken, http.StatusOK}, {"", http.StatusUnauthorized}} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+logdAddr+"/v1/tasks?namespace=k8s.io", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("brisk-logd at %s: %v", logdAddr, err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET /v1/tasks with token %q: %s, want %d", tc.token, resp.Status, tc.want)
			}
		}
		// doctor finds it.
		r := installedDoctor(t, env, briskConfig, h.ctd.Address)
		if x, ok := finding(r, "logd/running", doctor.Pass); !ok || !strings.Contains(x.Found, h.logdSocket()) {
			t.Errorf("doctor on the installed node:\n%s", dump(r))
		}
	})

	var podIDs []string
	// runPod runs a pod under handler whose container prints its root
	// mount, and returns the container's ID and output.
	runPod := func(t *testing.T, handler, image string) (string, string) {
		pod := writeJSON(t, env.Path(handler+"-pod.json"), map[string]any{
			"metadata":      map[string]any{"name": handler, "namespace": "default", "uid": "uid-" + handler},
			"log_directory": env.Path("pods", handler),
			"linux":         map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
		})
		ctr := writeJSON(t, env.Path(handler+"-ctr.json"), map[string]any{
			"metadata": map[string]any{"name": "main"},
			"image":    map[string]any{"image": image},
			"command":  []string{"sh", "-c", "echo hello from brisk; grep ' / / ' /proc/self/mountinfo"},
			"log_path": "main.log",
		})
		podID := h.ctd.MustCrictl("runp", "--runtime", handler, pod)
		podIDs = append(podIDs, podID)
		// containerd started the shim the drop-in names: the host's copy.
		shim := filepath.Join(h.root, "usr/local/bin/containerd-shim-brisk-v2")
		if argv0 := shimProgram(t, podID); argv0 != shim {
			t.Errorf("%s pod's shim is %q, want the installed %s", handler, argv0, shim)
		}
		id := h.ctd.MustCrictl("create", podID, ctr, pod)
		h.ctd.MustCrictl("start", id)
		if !harness.WaitFor(30*time.Second, func() bool {
			st, _, _ := h.ctd.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
			return strings.TrimSpace(st) == "CONTAINER_EXITED"
		}) {
			t.Fatalf("container %s did not exit", id)
		}
		out, _, err := h.ctd.Crictl("logs", id)
		if err != nil || !strings.HasPrefix(out, "hello from brisk\n") {
			t.Fatalf("crictl logs: %q %v", out, err)
		}
		return id, out
	}
	snapshotters := []string{"brisk", "brisk-small"}
	h.ctd.ImportPauseImage(snapshotters)
	image := h.ctd.ImportImage(snapshotters)

	t.Run("the installed node runs a pod under the brisk RuntimeClass", func(t *testing.T) {
		id, out := runPod(t, "brisk", image)
		// The rootfs is a brisk overlay: its upper under the snapshotter's
		// root on the host.
		if !strings.Contains(out, "overlay") || !strings.Contains(out, filepath.Join(h.root, "var/lib/brisk-snapshotter")) {
			t.Errorf("rootfs is not a brisk overlay: %s", out)
		}
		// The installed shim captured it with the installed config, as
		// the object of the container's one run.
		logPath := filepath.Join(logsDir, "k8s.io", id+"@*.log")
		if !harness.WaitFor(30*time.Second, func() bool { m, _ := filepath.Glob(logPath); return len(m) == 1 }) {
			t.Fatalf("no log at %s", logPath)
		}
		got, _, err := env.Run(filepath.Join(env.BriskBin, "briskctl"), "--config", briskConfig, "logs", "-n", "k8s.io", "--stream", "stdout", id)
		if err != nil || !strings.HasPrefix(got, "hello from brisk\n") {
			t.Errorf("briskctl logs %s: %q %v", id, got, err)
		}
		// brisk-logd, installed beside, serves it too.
		if got, err := h.logdGet("/v1/logs/k8s.io/" + id + "?stream=stdout"); err != nil || !strings.HasPrefix(got, "hello from brisk\n") {
			t.Errorf("brisk-logd's GET /v1/logs/k8s.io/%s: %q %v", id, got, err)
		}
	})

	t.Run("a pod under a profile's RuntimeClass gets the profile's tmpfs", func(t *testing.T) {
		_, out := runPod(t, "brisk-small", image)
		// The exited container keeps its snapshot, and the snapshot its
		// tmpfs: the one that holds the upperdir the container saw.
		var upper string
		for _, o := range strings.Split(out, ",") {
			if up, ok := strings.CutPrefix(o, "upperdir="); ok {
				upper = strings.Fields(up)[0]
			}
		}
		if !strings.HasPrefix(upper, filepath.Join(h.root, "var/lib/brisk-snapshotter")) {
			t.Fatalf("rootfs is not a brisk overlay: %s", out)
		}
		tm, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(filepath.Dir(upper)))
		if err != nil || len(tm) != 1 {
			t.Fatalf("no tmpfs at %s: %v", filepath.Dir(upper), err)
		}
		for _, want := range []string{"size=8192k", "nr_inodes=2000"} {
			if !strings.Contains(tm[0].VFSOptions, want) {
				t.Errorf("brisk-small's upper %s has %q, want %s", tm[0].Mountpoint, tm[0].VFSOptions, want)
			}
		}
	})

	t.Run("doctor fails while logs wait and brisk-logd is down, passes once it is back", func(t *testing.T) {
		if err := h.logd.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		// A shim that gave up on its upload left a finished entry.
		e, err := spool.Open(spoolDir, spool.Meta{Namespace: "k8s.io", ID: "left-by-a-shim"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Write(spool.Stdout, []byte("waiting for the retrier\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Finish(spool.ExitInfo{Exited: time.Now()}); err != nil {
			t.Fatal(err)
		}
		e.Release()
		r := installedDoctor(t, env, briskConfig, h.ctd.Address)
		if x, ok := finding(r, "logd/running", doctor.Fail); !ok || !strings.Contains(x.Found, "logs wait; briskctl flush ships them") {
			t.Errorf("doctor with brisk-logd down and a log waiting:\n%s", dump(r))
		}
		// systemd's Restart=always brings it back; as the node's
		// retrier it ships the entry.
		h.startLogd()
		if !harness.WaitFor(30*time.Second, func() bool { p, _ := spool.Pending(spoolDir); return len(p) == 0 }) {
			t.Fatalf("brisk-logd did not ship the waiting log:\n%s", h.logd.LogTail())
		}
		r = installedDoctor(t, env, briskConfig, h.ctd.Address)
		if _, ok := finding(r, "logd/running", doctor.Pass); !ok {
			t.Errorf("doctor with brisk-logd back:\n%s", dump(r))
		}
	})

	// The daemons' own state changes as they run; the installer's files do not.
	daemons := []string{"var/lib/brisk-snapshotter", "run/brisk"}
	installed := hostTreeListing(t, h.root, daemons...)
	ctdConfigInstalled := sha256File(t, h.ctd.Config)
	t.Run("a second install changes nothing and restarts nothing", func(t *testing.T) {
		out, actions, err := h.run("install")
		if err != nil || len(actions) != 0 || !strings.Contains(out, "changed: none; actions: none") {
			t.Fatalf("second install: actions %q, err %v\n%s", actions, err, out)
		}
		if after := hostTreeListing(t, h.root, daemons...); !slices.Equal(after, installed) || sha256File(t, h.ctd.Config) != ctdConfigInstalled {
			t.Errorf("second install changed the host:\n%s", diffLines(installed, after))
		}
	})

	t.Run("uninstall is refused while a container uses brisk", func(t *testing.T) {
		if len(podIDs) == 0 {
			t.Skip("no pod")
		}
		out, actions, err := h.run("uninstall")
		if err == nil || len(actions) != 0 || !strings.Contains(out, "containers still use brisk") {
			t.Fatalf("uninstall with a brisk pod: err %v, actions %q\n%s", err, actions, out)
		}
		if after := hostTreeListing(t, h.root, daemons...); !slices.Equal(after, installed) {
			t.Errorf("refused uninstall changed the host:\n%s", diffLines(installed, after))
		}
	})

	t.Run("uninstall leaves the host as it was", func(t *testing.T) {
		for _, id := range podIDs {
			removePod(h.ctd, id)
		}
		// containerd's GC removes the pod's snapshots (and their tmpfs).
		if !harness.WaitFor(30*time.Second, func() bool { return len(harness.MountsUnder(h.root)) == 0 }) {
			t.Fatalf("mounts still under the host tree: %s", harness.MountsUnder(h.root)[0].Mountpoint)
		}
		// A log that can never ship, quarantined while Brisk ran.
		newLog := spooltest.Quarantined(t, spoolDir, "task-with-no-bucket")
		out, actions, err := h.run("uninstall")
		if err != nil {
			t.Fatalf("uninstall: %v\n%s", err, out)
		}
		if want := []string{"daemon-reload", "restart containerd.service", "disable-now brisk-snapshotter.service", "disable-now brisk-logd.service", "daemon-reload"}; !slices.Equal(actions, want) {
			t.Errorf("uninstall asked for %q, want %q", actions, want)
		}
		if h.logd.Running() {
			t.Errorf("brisk-logd still runs after uninstall")
		}
		// Both quarantined logs stay, and uninstall says where.
		for _, dir := range []string{earlierLog, newLog} {
			if _, err := os.Stat(filepath.Join(dir, spool.LogFile)); err != nil {
				t.Errorf("uninstall removed a quarantined log: %v", err)
			}
			if !strings.Contains(out, "uninstall: kept "+dir+": ") {
				t.Errorf("uninstall does not say it kept %s:\n%s", dir, out)
			}
		}
		// The rest is as it was, the data directories' own content
		// included, but for the new quarantined log.
		newRel, _ := filepath.Rel(h.root, newLog)
		var after []string
		for _, e := range hostTreeListing(t, h.root) {
			if p := strings.Fields(e)[0]; p != newRel && !strings.HasPrefix(p, newRel+"/") {
				after = append(after, e)
			}
		}
		if !slices.Equal(after, before) {
			t.Errorf("host after uninstall differs from before install:\n%s", diffLines(before, after))
		}
		if sha256File(t, h.ctd.Config) != ctdConfigBefore {
			data, _ := os.ReadFile(h.ctd.Config)
			t.Errorf("containerd config not restored:\n%s", data)
		}
		checkLinks(t, links)
		if got := testutil.AttrsOf(t, managed); got != managedAttrs {
			t.Errorf("containerd config's target: %+v after uninstall, want %+v kept", got, managedAttrs)
		}
		// The logs stay, and containerd runs on without brisk.
		if entries, _ := os.ReadDir(filepath.Join(logsDir, "k8s.io")); len(entries) == 0 {
			t.Errorf("uninstall removed the logs in local_dir")
		}
		if out, _, err := h.ctd.Ctr("plugins", "ls"); err != nil || strings.Contains(out, "brisk") {
			t.Errorf("containerd after uninstall: %v\n%s", err, out)
		}
	})
}

// linkContainerdConfig moves the containerd config at path to
// cm/managed.toml in env (owner 1234:5678, mode 0640, an xattr, no final
// newline) and links path to it through cm/containerd.toml: path → (absolute)
// cm/containerd.toml → (relative) managed.toml. It returns the links.
func linkContainerdConfig(t *testing.T, env *harness.Env, path string) map[string]string {
	t.Helper()
	managed := env.Path("cm", "managed.toml")
	if err := os.MkdirAll(filepath.Dir(managed), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(managed, []byte(strings.TrimRight(string(data), "\n")), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(managed, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(managed, testutil.TestXattr, []byte("kept"), 0); err != nil {
		t.Fatalf("the test directory's filesystem takes no user xattrs: %v", err)
	}
	links := map[string]string{path: env.Path("cm", "containerd.toml"), env.Path("cm", "containerd.toml"): "managed.toml"}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for link, to := range links {
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
	}
	return links
}

// checkLinks fails unless every link still points where it did.
func checkLinks(t *testing.T, links map[string]string) {
	t.Helper()
	for link, to := range links {
		if got, err := os.Readlink(link); err != nil || got != to {
			t.Errorf("link %s is %q %v, want it kept → %s", link, got, err, to)
		}
	}
}

func writeFileAll(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func shimProgram(t *testing.T, podID string) string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if i := slices.Index(args, "-id"); i >= 0 && i+1 < len(args) && args[i+1] == podID {
			return args[0]
		}
	}
	return ""
}

// diffLines shows the lines only in a (-) or only in b (+).
func diffLines(a, b []string) string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, "- "+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, "+ "+x)
		}
	}
	return strings.Join(out, "\n")
}

// installedDoctor runs briskctl doctor with the installed config against
// containerd at address and returns its findings.
func installedDoctor(t *testing.T, env *harness.Env, cfgPath, address string) doctor.Report {
	t.Helper()
	out, _, err := env.Run(filepath.Join(env.BriskBin, "briskctl"), "--config", cfgPath, "doctor", "--address", address, "--json",
		"--sample", "500ms", "--timeout", "20s", "--kubelet-config", env.Path("no-kubelet.yaml"))
	var r doctor.Report
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		t.Fatalf("doctor --json: %v (%v)\n%s", jerr, err, out)
	}
	return r
}
