package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
)

// profilesConfig gives the two profiles of contrib/containerd/profiles-v3.toml
// limits of their own, both different from the default's.
const profilesConfig = `tmpfs_size = "64Mi"
[snapshotter.profiles.brisk-small]
tmpfs_size = "8Mi"
tmpfs_inodes = 2000
[snapshotter.profiles.brisk-large]
tmpfs_size = "128Mi"
tmpfs_inodes = 100000
`

// contribProfiles is the shipped contrib/containerd/profiles-v3.toml, pointed
// at the private snapshotter and this build's shim.
func contribProfiles(t *testing.T, sn *harness.Snapshotter) string {
	data, err := os.ReadFile("../contrib/containerd/profiles-v3.toml")
	if err != nil {
		t.Fatal(err)
	}
	const runtimePath = `"/usr/local/bin/containerd-shim-brisk-v2"`
	if strings.Count(string(data), runtimePath) != 2 {
		t.Fatalf("contrib/containerd/profiles-v3.toml: want both runtimes with runtime_path = %s", runtimePath)
	}
	return strings.NewReplacer(
		"version = 3\n", "",
		`"/run/brisk/snapshotter.sock"`, strconv.Quote(sn.Address),
		`"/var/lib/brisk-snapshotter"`, strconv.Quote(sn.Root),
		runtimePath, strconv.Quote(filepath.Join(harness.BriskBin(), "containerd-shim-brisk-v2")),
	).Replace(string(data))
}

// TestCRIProfiles runs pods under the RuntimeClasses brisk-small and
// brisk-large, two proxy plugins on one brisk-snapshotter: each pod's upper
// has its profile's limits, the image is unpacked once for both, and taking
// one profile's pod and image away leaves the other's layers and container
// as they were.
func TestCRIProfiles(t *testing.T) {
	env := harness.New(t)
	env.Require(filepath.Join(env.BriskBin, "containerd-shim-brisk-v2"))
	shimCfg := env.Path("brisk-shim.toml")
	if err := os.WriteFile(shimCfg, []byte(fmt.Sprintf("[logs]\nspool_dir = %q\nlocal_dir = %q\n[logs.api]\nsocket = %q\nlisten = \"\"\n", env.Path("spool"), env.Path("logs"), env.Path("logd.sock"))), 0o644); err != nil {
		t.Fatal(err)
	}
	sn := env.StartSnapshotter(profilesConfig)
	ctd := env.StartContainerd(harness.WithCRI(), harness.WithConfig(contribProfiles(t, sn)),
		harness.WithEnv(config.EnvPath+"="+shimCfg),
		// Collect as soon as something is deleted, so the test need not
		// wait for containerd's schedule.
		harness.WithConfig("[plugins.\"io.containerd.gc.v1.scheduler\"]\n  deletion_threshold = 1\n"))

	blob := make([]byte, 4<<20)
	_, _ = rand.Read(blob)
	tarball, err := harness.BuildImage(env.Path(), env.Busybox, harness.ImageName, harness.ImageFile{Path: "/data/blob", Mode: 0o644, Data: blob})
	if err != nil {
		t.Fatal(err)
	}
	ctd.ImportPauseImage([]string{"brisk-small"})
	ctd.MustCtr("images", "import", "--snapshotter", "brisk-small", tarball)
	layers := layersOnRoot(t, sn.Root)
	if len(layers) == 0 || totalBytes(layers) < int64(len(blob)) {
		t.Fatalf("after the first profile's import: layers %v", layers)
	}

	// The second profile's import finds every layer present.
	ctd.ImportPauseImage([]string{"brisk-large"})
	ctd.MustCtr("images", "import", "--snapshotter", "brisk-large", tarball)
	if got := layersOnRoot(t, sn.Root); !maps.Equal(got, layers) {
		t.Fatalf("the second profile's import unpacked again: layers %v, the first had %v", got, layers)
	}
	for _, profile := range []string{"brisk-small", "brisk-large"} {
		if got := len(backendNames(t, sn, profile)); got != len(layers) {
			t.Errorf("%s holds %d snapshots, want the %d layers", profile, got, len(layers))
		}
	}

	// A pod under each RuntimeClass; each container's upper is a tmpfs
	// with its profile's limits.
	pods := map[string]string{}
	ctrs := map[string]string{}
	for _, tc := range []struct{ profile, size, inodes string }{
		{"brisk-small", "size=8192k", "nr_inodes=2000"},
		{"brisk-large", "size=131072k", "nr_inodes=100000"},
	} {
		pod := writeJSON(t, env.Path(tc.profile+"-pod.json"), map[string]any{
			"metadata":      map[string]any{"name": tc.profile, "namespace": "default", "uid": "uid-" + tc.profile},
			"log_directory": env.Path("pods", tc.profile),
			"linux":         map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
		})
		ctr := writeJSON(t, env.Path(tc.profile+"-ctr.json"), map[string]any{
			"metadata": map[string]any{"name": "main"},
			"image":    map[string]any{"image": harness.ImageName},
			"command":  []string{"sh", "-c", "sleep 300"},
			"log_path": "main.log",
		})
		pods[tc.profile] = ctd.MustCrictl("runp", "--runtime", tc.profile, pod)
		defer removePod(ctd, pods[tc.profile])
		ctrs[tc.profile] = ctd.MustCrictl("create", pods[tc.profile], ctr, pod)
		ctd.MustCrictl("start", ctrs[tc.profile])
		tm := rootfsUpper(t, ctd, ctrs[tc.profile], sn.Root)
		for _, want := range []string{tc.size, tc.inodes} {
			if !strings.Contains(tm.VFSOptions, want) {
				t.Errorf("%s: the container's upper %s has %q, want %s", tc.profile, tm.Mountpoint, tm.VFSOptions, want)
			}
		}
	}

	// One set of metrics, by profile.
	body := httpGet(t, "http://"+sn.MetricsAddress+"/metrics")
	for _, want := range []string{
		`brisk_snapshot_bytes_limit\{key="[^"]+",profile="brisk-small",upper="tmpfs"\} 8\.388608e\+06\n`,
		`brisk_snapshot_bytes_limit\{key="[^"]+",profile="brisk-large",upper="tmpfs"\} 1\.34217728e\+08\n`,
		`brisk_snapshotter_operation_seconds_count\{operation="prepare",profile="brisk-small"\} [1-9]`,
		`brisk_snapshotter_operation_seconds_count\{operation="prepare",profile="brisk-large"\} [1-9]`,
	} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// brisk-small's pod goes, and so do its snapshots of the images, as
	// when the kubelet removes the pod and garbage-collects the image on a
	// node that stops using that RuntimeClass.
	removePod(ctd, pods["brisk-small"])
	removeAllSnapshots(t, ctd, "brisk-small")
	// containerd collects on deletions, but drops the event of one that
	// lands while a collection runs; a lease deleted with --sync makes it
	// collect again, as the next deletion on a node would.
	kick := 0
	if !harness.WaitFor(30*time.Second, func() bool {
		if len(backendNames(t, sn, "brisk-small")) == 0 {
			return true
		}
		kick++
		lease := fmt.Sprintf("gc-kick-%d", kick)
		ctd.MustCtr("leases", "create", "--id", lease)
		ctd.MustCtr("leases", "delete", "--sync", lease)
		return false
	}) {
		t.Fatalf("containerd's GC did not release brisk-small's holds: %v\ncontainerd:\n%s\nbrisk-snapshotter:\n%s", backendNames(t, sn, "brisk-small"), ctd.Proc.LogTail(), sn.Proc.LogTail())
	}
	// brisk-large's containers have their own snapshots by now; the
	// layers must all be there, unchanged.
	after := layersOnRoot(t, sn.Root)
	for name, size := range layers {
		if after[name] != size {
			t.Errorf("after brisk-small let go, layer %s takes %d bytes, want %d", name, after[name], size)
		}
	}
	// brisk-large's container runs on, reads its image, and a new one
	// starts on the layers.
	if st := ctd.MustCrictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", ctrs["brisk-large"]); st != "CONTAINER_RUNNING" {
		t.Errorf("brisk-large's container is %s", st)
	}
	if out := ctd.MustCrictl("exec", ctrs["brisk-large"], "sh", "-c", "wc -c < /data/blob"); out != strconv.Itoa(len(blob)) {
		t.Errorf("brisk-large's container reads %q bytes of /data/blob", out)
	}
	ctr := writeJSON(t, env.Path("brisk-large-2.json"), map[string]any{
		"metadata": map[string]any{"name": "again"},
		"image":    map[string]any{"image": harness.ImageName},
		"command":  []string{"sh", "-c", "test -s /data/blob"},
		"log_path": "again.log",
	})
	id := ctd.MustCrictl("create", pods["brisk-large"], ctr, env.Path("brisk-large-pod.json"))
	ctd.MustCrictl("start", id)
	var state, code string
	if !harness.WaitFor(30*time.Second, func() bool {
		out, _, _ := ctd.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", id)
		state, code, _ = strings.Cut(strings.TrimSpace(out), " ")
		return state == "CONTAINER_EXITED"
	}) || code != "0" {
		t.Errorf("a new brisk-large container on the shared layers: %s, exit code %s", state, code)
	}
}

// layersOnRoot maps each snapshot directory under the snapshotter's root to
// the bytes it takes on disk. Run with no container up, every one is an image
// layer.
func layersOnRoot(t *testing.T, root string) map[string]int64 {
	t.Helper()
	dir := filepath.Join(root, "snapshots")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	layers := map[string]int64{}
	for _, e := range entries {
		var size int64
		if err := filepath.WalkDir(filepath.Join(dir, e.Name()), func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				size += st.Blocks * 512
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		layers[e.Name()] = size
	}
	return layers
}

func totalBytes(layers map[string]int64) (n int64) {
	for _, b := range layers {
		n += b
	}
	return n
}

// backendNames lists the snapshots brisk-snapshotter shows the proxy plugin
// of that name: what containerd's GC for it would see.
func backendNames(t *testing.T, sn *harness.Snapshotter, name string) []string {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sn.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var names []string
	if err := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), name).Walk(context.Background(), func(_ context.Context, i snapshots.Info) error {
		names = append(names, i.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// rootfsUpper finds the tmpfs that holds a CRI container's overlay upperdir.
func rootfsUpper(t *testing.T, ctd *harness.Containerd, id, root string) *mountinfo.Info {
	t.Helper()
	pid, err := strconv.Atoi(ctd.MustCrictl("inspect", "-o", "go-template", "--template", "{{.info.pid}}", id))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mountinfo.PidMountInfo(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Mountpoint != "/" || m.FSType != "overlay" {
			continue
		}
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if up, ok := strings.CutPrefix(o, "upperdir="); ok && strings.HasPrefix(up, root) {
				tm, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(filepath.Dir(up)))
				if err != nil || len(tm) != 1 {
					t.Fatalf("no tmpfs at %s: %v", filepath.Dir(up), err)
				}
				return tm[0]
			}
		}
	}
	t.Fatalf("container %s has no brisk overlay as its root", id)
	return nil
}

// removeAllSnapshots removes, children first, every snapshot containerd
// records for a snapshotter in CRI's namespace.
func removeAllSnapshots(t *testing.T, ctd *harness.Containerd, snapshotter string) {
	t.Helper()
	for i := 0; i < 10; i++ {
		out := ctd.MustCtr("snapshots", "--snapshotter", snapshotter, "ls")
		lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
		if len(lines) == 0 {
			return
		}
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 {
				_, _, _ = ctd.Ctr("snapshots", "--snapshotter", snapshotter, "rm", f[0])
			}
		}
	}
	t.Fatalf("snapshots of %s left: %s", snapshotter, ctd.MustCtr("snapshots", "--snapshotter", snapshotter, "ls"))
}
