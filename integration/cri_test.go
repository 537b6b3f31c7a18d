package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/spool"
)

// criRuntime is the runtime handler a RuntimeClass "brisk" selects, taken
// from the shipped contrib/containerd/config-v3.toml, with the shim's
// runtime_path replaced by this build's shim and runc's BinaryName by
// binaryName.
func criRuntime(t *testing.T, binaryName string) string {
	data, err := os.ReadFile("../contrib/containerd/config-v3.toml")
	if err != nil {
		t.Fatal(err)
	}
	const (
		table       = `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.brisk]`
		runtimePath = `runtime_path = "/usr/local/bin/containerd-shim-brisk-v2"`
	)
	i := bytes.Index(data, []byte(table))
	if i < 0 || !bytes.Contains(data[i:], []byte(`BinaryName = "runc"`)) || !bytes.Contains(data[i:], []byte(runtimePath)) {
		t.Fatalf("contrib/containerd/config-v3.toml has no %s with %s and BinaryName", table, runtimePath)
	}
	return strings.NewReplacer(
		`BinaryName = "runc"`, fmt.Sprintf("BinaryName = %q", binaryName),
		runtimePath, fmt.Sprintf("runtime_path = %q", filepath.Join(harness.BriskBin(), "containerd-shim-brisk-v2")),
	).Replace(string(data[i:]))
}

// TestCRIRuntimeClass runs pods the way the kubelet does, through CRI with
// the runtime handler "brisk": the brisk snapshotter gives the rootfs, the
// brisk shim captures, and CRI's own log file — what kubectl logs reads —
// stays complete.
func TestCRIRuntimeClass(t *testing.T) {
	// The runtime's options reach runc although CRI sends a non-runc
	// runtime type generic options: BinaryName points at a runc that
	// leaves a trace.
	tmp := t.TempDir()
	calls := filepath.Join(tmp, "runc-calls")
	runc := filepath.Join(tmp, "traced-runc")
	writeTracedRunc(t, runc, calls)
	s := newShimStackWith(t, config.CompressionGzip, []string{"overlayfs", "brisk"},
		harness.WithCRI(), harness.WithConfig(criRuntime(t, runc)))
	s.ctd.ImportPauseImage([]string{"overlayfs", "brisk"})

	cases := []struct {
		name        string
		payload     int               // index into the image's payload files
		annotations map[string]string // pod annotations
		wantKey     string            // the log's ID; "" means the container ID
		wantNoLog   bool
	}{
		{name: "default", payload: 0},
		// A pod annotation names the pod's task; each container's log is under it.
		{name: "task-id", payload: 1, annotations: map[string]string{"brisk.io/task-id": "ci/job 7/../step-1"}, wantKey: "ci/job 7/../step-1/main"},
		{name: "logs-off", payload: 2, annotations: map[string]string{"brisk.io/logs": "off"}, wantNoLog: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logDir := s.env.Path("pods", tc.name)
			pod := writeJSON(t, s.env.Path(tc.name+"-pod.json"), map[string]any{
				"metadata":      map[string]any{"name": tc.name, "namespace": "default", "uid": "uid-" + tc.name},
				"log_directory": logDir,
				"annotations":   tc.annotations,
				// No CNI plugins here: host network.
				"linux": map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
			})
			ctr := writeJSON(t, s.env.Path(tc.name+"-ctr.json"), map[string]any{
				"metadata": map[string]any{"name": "main"},
				"image":    map[string]any{"image": s.image},
				"command": []string{"sh", "-c", fmt.Sprintf(
					"cat /payload/%d.out; cat /payload/%d.err >&2; echo $(cat /proc/self/mountinfo | grep ' / / ') >&2", tc.payload, tc.payload)},
				"log_path": "main.log",
			})
			podID := s.ctd.MustCrictl("runp", "--runtime", "brisk", pod)
			defer removePod(s.ctd, podID)
			id := s.ctd.MustCrictl("create", podID, ctr, pod)
			s.ctd.MustCrictl("start", id)
			if !harness.WaitFor(30*time.Second, func() bool {
				st, _, _ := s.ctd.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
				return strings.TrimSpace(st) == "CONTAINER_EXITED"
			}) {
				t.Fatalf("container %s did not exit", id)
			}
			wantOut := s.payloads[fmt.Sprintf("/payload/%d.out", tc.payload)]
			wantErr := s.payloads[fmt.Sprintf("/payload/%d.err", tc.payload)]

			// CRI's log file is whole. (CRI's own logger drops a "\r"
			// before each "\n"; Brisk's copy below keeps every byte.)
			criLog := readStreams(t, filepath.Join(logDir, "main.log"))
			if !bytes.Equal(criLog[spool.Stdout], criLine(wantOut)) || !bytes.HasPrefix(criLog[spool.Stderr], criLine(wantErr)) {
				t.Fatalf("CRI log file: stdout %d bytes (want %d), stderr %d bytes (want %d+)",
					len(criLog[spool.Stdout]), len(criLine(wantOut)), len(criLog[spool.Stderr]), len(criLine(wantErr)))
			}
			out, _, err := s.ctd.Crictl("logs", id)
			if err != nil || out != string(criLine(wantOut)) {
				t.Fatalf("crictl logs: %d bytes (want %d): %v", len(out), len(criLine(wantOut)), err)
			}
			// The container ran on a brisk tmpfs upper: overlay with an
			// upperdir under the snapshotter's root.
			if mi := criLog[spool.Stderr][len(criLine(wantErr)):]; !bytes.Contains(mi, []byte("overlay")) || !bytes.Contains(mi, []byte(s.sn.Root)) {
				t.Errorf("rootfs is not a brisk overlay: %s", mi)
			}

			logID := tc.wantKey
			if logID == "" {
				logID = id
			}
			if tc.wantNoLog {
				time.Sleep(2 * time.Second)
				if _, _, err := s.object(t, logID); err == nil {
					t.Fatalf("brisk.io/logs=off: an object was shipped for %s", logID)
				}
				return
			}
			streams, meta := s.waitObject(t, logID, 30*time.Second)
			if !bytes.Equal(streams[spool.Stdout], wantOut) || !bytes.HasPrefix(streams[spool.Stderr], wantErr) ||
				!bytes.Equal(criLine(streams[spool.Stderr]), criLog[spool.Stderr]) {
				t.Fatalf("shipped log: stdout %d bytes (want %d), stderr %d bytes (CRI has %d)",
					len(streams[spool.Stdout]), len(wantOut), len(streams[spool.Stderr]), len(criLog[spool.Stderr]))
			}
			if meta["brisk-exit-code"] != "0" || meta["brisk-complete"] != "true" || meta["brisk-inodes-limit"] != "65536" {
				t.Errorf("metadata: %v", meta)
			}
			// Lookup by the same ID the object is keyed by.
			got, _, err := s.briskctl("logs", "-n", "k8s.io", "--stream", "stdout", logID)
			if err != nil || got != string(wantOut) {
				t.Fatalf("briskctl logs %q: %d bytes (want %d): %v", logID, len(got), len(wantOut), err)
			}
		})
	}

	t.Run("one shim serves the pod's containers and ships each", func(t *testing.T) {
		logDir := s.env.Path("pods", "multi")
		pod := writeJSON(t, s.env.Path("multi-pod.json"), map[string]any{
			"metadata":      map[string]any{"name": "multi", "namespace": "default", "uid": "uid-multi"},
			"log_directory": logDir,
			"annotations":   map[string]string{"brisk.io/task-id": "job-9"},
			"linux":         map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
		})
		podID := s.ctd.MustCrictl("runp", "--runtime", "brisk", pod)
		defer removePod(s.ctd, podID)
		// The sidecar runs until told to stop, as sidecars do, so the two
		// containers' captures overlap in the one shim; "main" has been
		// restarted twice by the kubelet, which annotates the run.
		containers := []struct {
			name, cmd, restarts, wantKey string
			payload                      int
		}{
			{"main", "cat /payload/4.out; cat /payload/4.err >&2", "2", "job-9/main/restart-2", 4},
			{"sidecar", "cat /payload/5.out; cat /payload/5.err >&2; sleep 300", "", "job-9/sidecar", 5},
		}
		ids := map[string]string{}
		for _, c := range containers {
			cfg := map[string]any{
				"metadata": map[string]any{"name": c.name},
				"image":    map[string]any{"image": s.image},
				"command":  []string{"sh", "-c", c.cmd},
				"log_path": c.name + ".log",
			}
			if c.restarts != "" {
				cfg["annotations"] = map[string]string{"io.kubernetes.container.restartCount": c.restarts}
			}
			id := s.ctd.MustCrictl("create", podID, writeJSON(t, s.env.Path("multi-"+c.name+".json"), cfg), pod)
			s.ctd.MustCrictl("start", id)
			ids[c.name] = id
		}
		// runc's manager groups a pod's containers into the sandbox's shim.
		if shims := shimProcesses(t); len(shims[podID]) != 1 || len(shims[ids["main"]])+len(shims[ids["sidecar"]]) != 0 {
			t.Errorf("shim processes by -id: %v, want exactly one, the pod sandbox's (%s)", shims, podID)
		}
		for _, c := range containers[:1] {
			streams, meta := s.waitObject(t, c.wantKey, 30*time.Second)
			if !bytes.Equal(streams[spool.Stdout], s.payloads[fmt.Sprintf("/payload/%d.out", c.payload)]) ||
				!bytes.Equal(streams[spool.Stderr], s.payloads[fmt.Sprintf("/payload/%d.err", c.payload)]) {
				t.Errorf("%s: shipped log differs from what the container wrote", c.wantKey)
			}
			if meta["brisk-complete"] != "true" {
				t.Errorf("%s: metadata %v", c.wantKey, meta)
			}
		}
		// The sidecar is still running: its log is live on the node.
		var (
			out string
			err error
		)
		if !harness.WaitFor(10*time.Second, func() bool {
			out, _, err = s.briskctl("logs", "-n", "k8s.io", "--stream", "stdout", "job-9/sidecar")
			return err == nil && out == string(s.payloads["/payload/5.out"])
		}) {
			t.Errorf("briskctl logs of the running sidecar: %d bytes (want %d): %v", len(out), len(s.payloads["/payload/5.out"]), err)
		}
		// A lookup by the pod's task ID names the containers' logs, shipped
		// and live.
		_, stderr, err := s.briskctl("logs", "-n", "k8s.io", "job-9")
		if err == nil || !strings.Contains(stderr, "the logs under it are:\n  job-9/main/restart-2\n  job-9/sidecar") {
			t.Errorf("briskctl logs job-9: err %v, stderr %q; want the two containers' log IDs listed", err, stderr)
		}
		s.ctd.MustCrictl("stop", "--timeout", "1", ids["sidecar"])
		streams, meta := s.waitObject(t, "job-9/sidecar", 30*time.Second)
		if !bytes.Equal(streams[spool.Stdout], s.payloads["/payload/5.out"]) || meta["brisk-exit-code"] == "0" {
			t.Errorf("sidecar: %d bytes shipped (want %d), metadata %v", len(streams[spool.Stdout]), len(s.payloads["/payload/5.out"]), meta)
		}
	})

	if data, err := os.ReadFile(calls); err != nil || !bytes.Contains(data, []byte("create")) {
		t.Errorf("the runtime's BinaryName was not used: %v %q", err, data)
	}

	// The pod sandboxes (pause) ran under the brisk shim too, but ship
	// nothing: one object per container, none per pod.
	list, err := s.store.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if len(keys) != 4 {
		t.Errorf("objects in the bucket: %q, want the four containers' logs only", keys)
	}
	// With every pod removed, no shim stays behind.
	if !harness.WaitFor(15*time.Second, func() bool { return len(shimProcesses(t)) == 0 }) {
		t.Errorf("brisk shims still running after their pods were removed: %v", shimProcesses(t))
	}
}

// writeTracedRunc writes a runc that logs its arguments to calls, so a test
// sees whether a runtime's BinaryName reached runc. It must exist before
// containerd starts: CRI asks runc for its features then. It runs the runc
// on the shim's PATH (the harness's pinned one).
func writeTracedRunc(t *testing.T, path, calls string) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec runc \"$@\"\n", calls)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// genericBriskRuntime is a runtime handler with the brisk runtime type, as
// configs written before the runc-type route have it: CRI sends it generic
// options, which the shim translates.
func genericBriskRuntime(name, binaryName string) string {
	return fmt.Sprintf(`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%[1]s]
  runtime_type = "io.containerd.brisk.v2"
  snapshotter = "brisk"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%[1]s.options]
    BinaryName = %[2]q
`, name, binaryName)
}

// runtimeFeatures reads the features CRI advertises per runtime handler, as
// the kubelet reads them (crictl info: runtimeHandlers).
func runtimeFeatures(t *testing.T, ctd *harness.Containerd) map[string]map[string]bool {
	t.Helper()
	var info struct {
		RuntimeHandlers []struct {
			Name     string          `json:"name"` // "" is the default handler
			Features map[string]bool `json:"features"`
		} `json:"runtimeHandlers"`
	}
	out := ctd.MustCrictl("info")
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("crictl info: %v\n%s", err, out)
	}
	features := map[string]map[string]bool{}
	for _, h := range info.RuntimeHandlers {
		features[h.Name] = h.Features
	}
	return features
}

// TestCRIRuntimeFeatures checks that the brisk RuntimeClass can do what
// runc's can: the shipped handler (runc's runtime type, the brisk shim as
// runtime_path) advertises the same features as runc's handler on the same
// containerd, a pod uses a recursive read-only mount through it, its
// typed runc options reach runc, and its output is still captured and
// shipped. The handler with the brisk runtime type keeps working for
// configs that use it (generic options translated), without the features.
func TestCRIRuntimeFeatures(t *testing.T) {
	tmp := t.TempDir()
	calls, genericCalls := filepath.Join(tmp, "runc-calls"), filepath.Join(tmp, "generic-runc-calls")
	runc, genericRunc := filepath.Join(tmp, "traced-runc"), filepath.Join(tmp, "generic-traced-runc")
	writeTracedRunc(t, runc, calls)
	writeTracedRunc(t, genericRunc, genericCalls)
	s := newShimStackWith(t, config.CompressionNone, []string{"overlayfs", "brisk"}, harness.WithCRI(),
		harness.WithConfig(genericBriskRuntime("brisk-generic", genericRunc)), harness.WithConfig(criRuntime(t, runc)))
	s.ctd.ImportPauseImage([]string{"overlayfs", "brisk"})

	features := runtimeFeatures(t, s.ctd)
	t.Logf("runtime handler features: %v", features)
	if !features["runc"]["recursive_read_only_mounts"] {
		// Kernel >= 5.12 (mount_setattr) and runc >= 1.1: RRO must be on,
		// or the comparison below proves nothing.
		t.Fatalf("runc's handler advertises no recursive read-only mounts: %v", features["runc"])
	}
	if !reflect.DeepEqual(features["brisk"], features["runc"]) {
		t.Errorf("brisk handler features %v, runc's %v: want equal", features["brisk"], features["runc"])
	}

	// A directory with a writable tmpfs below it: read-only is recursive
	// only with recursive_read_only.
	src := s.env.Path("rro-src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	var runPod func(t *testing.T, handler, name string, annotations map[string]string, namespaces, container map[string]any) (id, out string, err error)
	const rroCmd = "touch /data/sub/x 2>/dev/null && echo sub-writable || echo sub-read-only"
	run := func(t *testing.T, handler, name string, annotations map[string]string, rro bool) (id, out string, err error) {
		return runPod(t, handler, name, annotations, nil, map[string]any{
			"command": []string{"sh", "-c", rroCmd},
			"mounts":  []map[string]any{{"container_path": "/data", "host_path": src, "readonly": true, "recursive_read_only": rro}},
		})
	}
	runPod = func(t *testing.T, handler, name string, annotations map[string]string, namespaces, container map[string]any) (id, out string, err error) {
		nsOpts := map[string]any{"network": 2}
		for k, v := range namespaces {
			nsOpts[k] = v
		}
		pod := writeJSON(t, s.env.Path(name+"-pod.json"), map[string]any{
			"metadata":      map[string]any{"name": name, "namespace": "default", "uid": "uid-" + name},
			"log_directory": s.env.Path("pods", name),
			"annotations":   annotations,
			"linux":         map[string]any{"security_context": map[string]any{"namespace_options": nsOpts}},
		})
		cfg := map[string]any{
			"metadata": map[string]any{"name": "main"},
			"image":    map[string]any{"image": s.image},
			"log_path": "main.log",
		}
		for k, v := range container {
			cfg[k] = v
		}
		ctr := writeJSON(t, s.env.Path(name+"-ctr.json"), cfg)
		podID, stderr, err := s.ctd.Crictl("runp", "--runtime", handler, pod)
		if err != nil {
			return "", stderr, err
		}
		podID = strings.TrimSpace(podID)
		t.Cleanup(func() { removePod(s.ctd, podID) })
		id, stderr, err = s.ctd.Crictl("create", podID, ctr, pod)
		if err != nil {
			return "", stderr, err
		}
		id = strings.TrimSpace(id)
		s.ctd.MustCrictl("start", id)
		if !harness.WaitFor(30*time.Second, func() bool {
			st, _, _ := s.ctd.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
			return strings.TrimSpace(st) == "CONTAINER_EXITED"
		}) {
			t.Fatalf("container %s did not exit", id)
		}
		out, _, err = s.ctd.Crictl("logs", id)
		return id, strings.TrimSpace(out), err
	}

	for _, handler := range []string{"runc", "brisk"} {
		t.Run("recursive read-only mount/"+handler, func(t *testing.T) {
			if _, out, err := run(t, handler, handler+"-rro", nil, true); err != nil || out != "sub-read-only" {
				t.Fatalf("recursive read-only mount under %s: %q, %v", handler, out, err)
			}
			// The same mount without it leaves the submount writable: the
			// check above is not vacuous.
			if _, out, err := run(t, handler, handler+"-ro", nil, false); err != nil || out != "sub-writable" {
				t.Fatalf("plain read-only mount under %s: %q, %v", handler, out, err)
			}
		})
	}
	if data, err := os.ReadFile(calls); err != nil || !bytes.Contains(data, []byte("create")) {
		t.Errorf("the brisk handler's typed BinaryName did not reach runc: %v %q", err, data)
	}

	t.Run("captured under runc's runtime type", func(t *testing.T) {
		id, out, err := run(t, "brisk", "brisk-captured", map[string]string{"brisk.io/task-id": "features/rro"}, true)
		if err != nil || out != "sub-read-only" {
			t.Fatalf("%q, %v", out, err)
		}
		streams, meta := s.waitObject(t, "features/rro/main", 30*time.Second)
		if string(streams[spool.Stdout]) != "sub-read-only\n" || meta["brisk-exit-code"] != "0" || meta["brisk-complete"] != "true" {
			t.Fatalf("shipped log of %s: %q, metadata %v", id, streams[spool.Stdout], meta)
		}
	})

	t.Run("user namespace", func(t *testing.T) {
		// hostUsers: false. Where runc's handler can run it (kernel,
		// idmapped mounts), brisk's must too; elsewhere the advertised
		// features above are the check.
		userns := map[string]any{"userns_options": map[string]any{
			"mode": 0, // POD
			"uids": []map[string]any{{"host_id": 1 << 20, "container_id": 0, "length": 65536}},
			"gids": []map[string]any{{"host_id": 1 << 20, "container_id": 0, "length": 65536}},
		}}
		ctr := map[string]any{"command": []string{"sh", "-c", "cat /proc/self/uid_map"}}
		_, want, err := runPod(t, "runc", "runc-userns", nil, userns, ctr)
		if err != nil || !strings.HasPrefix(strings.Join(strings.Fields(want), " "), "0 1048576 65536") {
			// Not a skip: the advertised features were compared above. (A
			// user-namespaced pod needs a pod network namespace, hence CNI
			// plugins, which this machine kind lacks.)
			if i := strings.Index(want, "desc = "); i >= 0 {
				want = want[i:]
			}
			t.Logf("runc's handler cannot run a user-namespaced pod here, so neither is tried under brisk: %.200s", want)
			return
		}
		if _, got, err := runPod(t, "brisk", "brisk-userns", nil, userns, ctr); err != nil || got != want {
			t.Fatalf("user-namespaced pod under brisk: uid_map %q, %v; runc's: %q", got, err, want)
		}
	})

	t.Run("brisk runtime type", func(t *testing.T) {
		// Generic options still reach runc through the shim's translation.
		if _, out, err := run(t, "brisk-generic", "generic-ro", nil, false); err != nil || out != "sub-writable" {
			t.Fatalf("brisk-generic: %q, %v", out, err)
		}
		if data, err := os.ReadFile(genericCalls); err != nil || !bytes.Contains(data, []byte("create")) {
			t.Errorf("brisk-generic's BinaryName did not reach runc: %v %q", err, data)
		}
		// CRI introspects only runc's type: this handler has no features,
		// so the kubelet refuses pods that need them, which is why the
		// shipped config uses runc's type. (Sent such a container anyway,
		// through crictl, containerd 2.2.1's CRI dereferences the missing
		// features and crashes: not tried here.)
		if len(features["brisk-generic"]) != 0 {
			t.Errorf("brisk-generic advertises %v; containerd now introspects other runtime types: revisit the runc-type route", features["brisk-generic"])
		}
	})
}

// removePod stops and removes a pod sandbox and its containers.
func removePod(ctd *harness.Containerd, podID string) {
	_, _, _ = ctd.Crictl("stopp", podID)
	_, _, _ = ctd.Crictl("rmp", podID)
}

// shimProcesses maps the -id argument of every running brisk shim to its PIDs.
func shimProcesses(t *testing.T) map[string][]int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	shims := map[string][]int{}
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if filepath.Base(args[0]) != "containerd-shim-brisk-v2" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-id" {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				shims[args[i+1]] = append(shims[args[i+1]], pid)
			}
		}
	}
	return shims
}

// criLine is b as CRI's logger stores it: a "\r" ending a line is dropped.
func criLine(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readStreams decodes a CRI-format log file (CRI's or Brisk's) by stream.
func readStreams(t *testing.T, path string) map[spool.Stream][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	streams := map[spool.Stream][]byte{}
	if err := spool.Decode(f, func(r spool.Record) error {
		streams[r.Stream] = append(streams[r.Stream], r.Bytes()...)
		return nil
	}); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return streams
}
