package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/spool"
)

// criRuntime is the runtime handler a RuntimeClass "brisk" selects, taken
// from the shipped contrib/containerd/config-v3.toml, with runc's BinaryName
// replaced by binaryName.
func criRuntime(t *testing.T, binaryName string) string {
	data, err := os.ReadFile("../contrib/containerd/config-v3.toml")
	if err != nil {
		t.Fatal(err)
	}
	const table = `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.brisk]`
	i := bytes.Index(data, []byte(table))
	if i < 0 || !bytes.Contains(data[i:], []byte(`BinaryName = "runc"`)) {
		t.Fatalf("contrib/containerd/config-v3.toml has no %s with BinaryName", table)
	}
	return strings.Replace(string(data[i:]), `BinaryName = "runc"`, fmt.Sprintf("BinaryName = %q", binaryName), 1)
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
	s := newShimStackWith(t, config.CompressionGzip, []string{"overlayfs", "brisk"},
		harness.WithCRI(), harness.WithConfig(criRuntime(t, runc)))
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec %s \"$@\"\n", calls, filepath.Join(s.env.ToolsBin, "runc"))
	if err := os.WriteFile(runc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
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
