package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/brisk-containers/brisk/integration/harness"
)

// stack is brisk-snapshotter behind a private containerd with the busybox
// image unpacked into it.
type stack struct {
	env   *harness.Env
	sn    *harness.Snapshotter
	ctd   *harness.Containerd
	image string
}

func newStack(t *testing.T, snapshotterConfig string) *stack {
	env := harness.New(t)
	sn := env.StartSnapshotter(snapshotterConfig)
	ctd := env.StartContainerd(sn.ProxyConfig())
	image := ctd.ImportImage([]string{"brisk"})
	return &stack{env: env, sn: sn, ctd: ctd, image: image}
}

// runDetached starts a container that sleeps, on the brisk snapshotter.
func (s *stack) runDetached(t *testing.T, id string, extra ...string) {
	t.Helper()
	args := append([]string{"run", "-d", "--snapshotter", "brisk"}, extra...)
	args = append(args, s.image, id, "sleep", "600")
	s.ctd.MustCtr(args...)
}

func (s *stack) exec(t *testing.T, id, script string) (string, error) {
	t.Helper()
	out, _, err := s.ctd.Ctr("tasks", "exec", "--exec-id", "x"+strconv.FormatInt(time.Now().UnixNano(), 36), id, "sh", "-c", script)
	return out, err
}

func (s *stack) remove(t *testing.T, id string) {
	t.Helper()
	_, _, _ = s.ctd.Ctr("tasks", "kill", "-s", "SIGKILL", id)
	harness.WaitFor(10*time.Second, func() bool {
		out, _, _ := s.ctd.Ctr("tasks", "list")
		return !strings.Contains(out, id+" ") || strings.Contains(out, "STOPPED")
	})
	_, _, _ = s.ctd.Ctr("tasks", "delete", "-f", id)
	s.ctd.MustCtr("containers", "delete", id)
}

// rootfsMount finds the overlay mount of container id's rootfs.
func (s *stack) rootfsMount(t *testing.T, id string) *mountinfo.Info {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("overlay"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.Contains(m.Mountpoint, "/"+id+"/rootfs") && strings.HasPrefix(m.Mountpoint, s.env.Dir) {
			return m
		}
	}
	t.Fatalf("no overlay rootfs mount for %s", id)
	return nil
}

func superOption(m *mountinfo.Info, key string) string {
	for _, o := range strings.Split(m.VFSOptions, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}

func mountAt(t *testing.T, path string) *mountinfo.Info {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

func hasOpt(opts, want string) bool { return slices.Contains(strings.Split(opts, ","), want) }

// tmpfsUppers lists the tmpfs mounts the snapshotter made.
func (s *stack) tmpfsUppers() []*mountinfo.Info {
	var out []*mountinfo.Info
	for _, m := range harness.MountsUnder(s.sn.Root) {
		if m.FSType == "tmpfs" {
			out = append(out, m)
		}
	}
	return out
}

// ctrUsage reads `ctr snapshots usage` for the container's snapshot.
func (s *stack) ctrUsage(t *testing.T, key string) (bytes, inodes int64) {
	t.Helper()
	out := s.ctd.MustCtr("snapshots", "--snapshotter", "brisk", "usage", "-b", key)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == key {
			bytes, _ = strconv.ParseInt(f[1], 10, 64)
			inodes, _ = strconv.ParseInt(f[2], 10, 64)
			return bytes, inodes
		}
	}
	t.Fatalf("no usage line for %s in:\n%s", key, out)
	return 0, 0
}

type briskUsage struct {
	Key         string `json:"key"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	Upper       string `json:"upper"`
	Path        string `json:"path"`
	Bytes       int64  `json:"bytes"`
	BytesLimit  int64  `json:"bytes_limit"`
	Inodes      int64  `json:"inodes"`
	InodesLimit int64  `json:"inodes_limit"`
}

func (s *stack) briskctlUsage(t *testing.T, key string) briskUsage {
	t.Helper()
	out, _, err := s.env.Run(filepath.Join(s.env.BriskBin, "briskctl"), "--config", s.sn.ConfigPath, "usage", "--json", key)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Snapshots []briskUsage }
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Snapshots) != 1 {
		t.Fatalf("briskctl usage output %q: %v", out, err)
	}
	return r.Snapshots[0]
}

func TestSnapshotterThroughContainerd(t *testing.T) {
	s := newStack(t, "tmpfs_size = \"32Mi\"\ntmpfs_inodes = 5000\n")

	t.Run("image unpack never lands on tmpfs", func(t *testing.T) {
		if ms := s.tmpfsUppers(); len(ms) != 0 {
			t.Fatalf("tmpfs mounted after image import: %s", ms[0].Mountpoint)
		}
		out := s.ctd.MustCtr("snapshots", "--snapshotter", "brisk", "ls")
		if !strings.Contains(out, "Committed") {
			t.Fatalf("image layer not committed on brisk:\n%s", out)
		}
	})

	s.runDetached(t, "c1")
	t.Run("upper on its own noatime tmpfs", func(t *testing.T) {
		rootfs := s.rootfsMount(t, "c1")
		for _, o := range []string{"noatime", "nodiratime"} {
			if !hasOpt(rootfs.Options, o) {
				t.Errorf("overlay mount options %q lack %s", rootfs.Options, o)
			}
		}
		upperdir := superOption(rootfs, "upperdir")
		if !strings.HasPrefix(upperdir, filepath.Join(s.sn.Root, "snapshots")) || filepath.Base(upperdir) != "fs" {
			t.Fatalf("upperdir %q not in a brisk snapshot", upperdir)
		}
		tm := mountAt(t, filepath.Dir(upperdir))
		if tm == nil || tm.FSType != "tmpfs" {
			t.Fatalf("upperdir %s is not on a tmpfs of its own", upperdir)
		}
		for _, o := range []string{"noatime", "nodiratime"} {
			if !hasOpt(tm.Options, o) {
				t.Errorf("tmpfs options %q lack %s", tm.Options, o)
			}
		}
		if superOption(tm, "size") != "32768k" || superOption(tm, "nr_inodes") != "5000" {
			t.Errorf("tmpfs limits %q, want size=32768k nr_inodes=5000", tm.VFSOptions)
		}
	})

	t.Run("usage through containerd and briskctl agree with what was written", func(t *testing.T) {
		_, before := s.ctrUsage(t, "c1")
		if _, err := s.exec(t, "c1", "mkdir /data && for i in $(seq 1 500); do echo $i > /data/f$i; done"); err != nil {
			t.Fatal(err)
		}
		bytes, inodes := s.ctrUsage(t, "c1")
		// 500 files and the directory holding them.
		if got := inodes - before; got != 501 {
			t.Errorf("ctr usage: inodes grew by %d, want 501", got)
		}
		b := s.briskctlUsage(t, "c1")
		if b.Inodes != inodes || b.Bytes != bytes || b.Upper != "tmpfs" || b.InodesLimit != 5000 || b.BytesLimit != 32<<20 {
			t.Errorf("briskctl usage %+v disagrees with ctr (%d bytes, %d inodes)", b, bytes, inodes)
		}
		// The report names the key's parts, so that no client parses keys.
		if b.Namespace != s.ctd.Namespace || b.Name != "c1" {
			t.Errorf("briskctl usage --json: namespace %q, name %q; want %q, %q (key %q)", b.Namespace, b.Name, s.ctd.Namespace, "c1", b.Key)
		}
		out, _, err := s.env.Run(filepath.Join(s.env.BriskBin, "briskctl"), "--config", s.sn.ConfigPath, "usage")
		if err != nil || !strings.Contains(out, "c1") || !strings.Contains(out, "tmpfs budget") {
			t.Errorf("briskctl usage table: %v\n%s", err, out)
		}
	})

	t.Run("inode limit gives ENOSPC in that container only", func(t *testing.T) {
		s.runDetached(t, "small", "--snapshotter-label", "containerd.io/snapshot/brisk.io/tmpfs.inodes=200")
		defer s.remove(t, "small")
		out, err := s.exec(t, "small", "i=0; while touch /f$i 2>/tmp/err; do i=$((i+1)); done; cat /tmp/err; echo created=$i")
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		if !strings.Contains(out, "No space left on device") {
			t.Fatalf("filling the inodes did not end in ENOSPC: %s", out)
		}
		// The label's 200 inodes, not the configured 5000, were the limit
		// (a few are taken by the upper's own directories).
		if n, _ := strconv.Atoi(out[strings.LastIndex(out, "created=")+8 : len(strings.TrimSpace(out))]); n < 150 || n > 200 {
			t.Fatalf("created %d files under a 200 inode limit: %s", n, out)
		}
		if _, err := s.exec(t, "c1", "for i in $(seq 1 100); do echo ok > /data/more$i; done"); err != nil {
			t.Fatalf("neighbour could not write while small was full: %v", err)
		}
	})

	t.Run("bad label fails the container, nothing leaks", func(t *testing.T) {
		// Only c1 runs; the previous subtest's snapshot goes with
		// containerd's asynchronous garbage collection.
		if !harness.WaitFor(10*time.Second, func() bool { return len(s.tmpfsUppers()) == 1 }) {
			t.Fatalf("%d tmpfs uppers, want c1's only", len(s.tmpfsUppers()))
		}
		before := len(s.tmpfsUppers())
		_, _, err := s.ctd.Ctr("run", "-d", "--snapshotter", "brisk", "--snapshotter-label", "containerd.io/snapshot/brisk.io/tmpfs.size=-1Mi", s.image, "bad", "true")
		if err == nil || !strings.Contains(err.Error(), "brisk.io/tmpfs.size") || !strings.Contains(err.Error(), "-1Mi") {
			t.Fatalf("negative size label: %v", err)
		}
		if after := len(s.tmpfsUppers()); after != before {
			t.Fatalf("tmpfs mounts %d -> %d after a refused prepare", before, after)
		}
		_, _, _ = s.ctd.Ctr("containers", "delete", "bad")
	})

	t.Run("SIGKILL and restart of the snapshotter leave the container running", func(t *testing.T) {
		rootfs := s.rootfsMount(t, "c1")
		tmpfsDir := filepath.Dir(superOption(rootfs, "upperdir"))
		if err := s.sn.Proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := s.sn.Proc.Wait(5 * time.Second); err == nil {
			t.Fatal("snapshotter exited cleanly after SIGKILL?")
		}
		if out, err := s.exec(t, "c1", "echo still-here > /data/after-kill && cat /data/f500"); err != nil || !strings.Contains(out, "500") {
			t.Fatalf("container broken while the snapshotter is down: %v %q", err, out)
		}
		s.env.Restart(s.sn.Proc)
		s.env.WaitSnapshotter(s.sn)
		if mountAt(t, tmpfsDir) == nil {
			t.Fatal("tmpfs upper unmounted by the restart")
		}
		// containerd reconnects to a restarted proxy snapshotter on its
		// gRPC back-off (at most 3 s): calls fail fast until then.
		if !harness.WaitFor(10*time.Second, func() bool {
			_, _, err := s.ctd.Ctr("snapshots", "--snapshotter", "brisk", "usage", "-b", "c1")
			return err == nil
		}) {
			t.Fatal("containerd did not reconnect to the restarted snapshotter")
		}
		if _, inodes := s.ctrUsage(t, "c1"); inodes < 600 {
			t.Fatalf("usage after restart %d inodes, want the container's files", inodes)
		}
		s.remove(t, "c1")
		// containerd removes the snapshot from its garbage collector, a
		// moment after the container; the tmpfs goes with that Remove.
		if !harness.WaitFor(10*time.Second, func() bool { return mountAt(t, tmpfsDir) == nil }) {
			t.Fatal("tmpfs still mounted after the container was removed")
		}
		if !harness.WaitFor(10*time.Second, func() bool { return len(s.tmpfsUppers()) == 0 }) {
			t.Fatalf("tmpfs left after removing all containers: %s", s.tmpfsUppers()[0].Mountpoint)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		s.runDetached(t, "m1")
		defer s.remove(t, "m1")
		body := httpGet(t, "http://"+s.sn.MetricsAddress+"/metrics")
		for _, want := range []string{`brisk_snapshot_inodes_used{key="brisk-test/`, `brisk_snapshot_inodes_limit{key="brisk-test/`,
			"brisk_snapshot_bytes_used{", "brisk_snapshot_bytes_limit{", `brisk_snapshotter_operation_seconds_bucket{operation="prepare"`,
			"brisk_tmpfs_budget_bytes", "brisk_tmpfs_budget_used_bytes "} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if !regexp.MustCompile(`brisk_snapshot_inodes_limit\{key="brisk-test/\d+/m1",profile="default",upper="tmpfs"\} 5000\n`).MatchString(body) {
			t.Errorf("metrics lack m1's inode limit of 5000")
		}
		// The shipped alert rules and dashboard use only series that exist.
		for _, f := range []string{"../contrib/prometheus/brisk-alerts.yaml", "../contrib/grafana/brisk.json"} {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range regexp.MustCompile(`brisk_[a-z0-9_]+`).FindAllString(string(data), -1) {
				if strings.HasPrefix(name, "brisk_logd_") || strings.HasPrefix(name, "brisk_s3_") {
					continue // brisk-logd's: logd's TestAlertsUseLogdSeriesThatExist
				}
				if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(body) {
					t.Errorf("%s uses %s, which brisk-snapshotter does not export", f, name)
				}
			}
		}
	})
}

func TestSnapshotterRefusesBadConfig(t *testing.T) {
	env := harness.New(t)
	atimeDir := env.Path("atime-upper")
	if err := os.MkdirAll(atimeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "relatime,size=1m", "atime", atimeDir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	for _, tc := range []struct {
		name  string
		extra string
		want  []string
	}{
		{"unknown key", "tmpfs_sise = \"1Gi\"", []string{"unknown key", "snapshotter.tmpfs_sise"}},
		{"unparsable size", "tmpfs_size = \"lots\"", []string{"snapshotter.tmpfs_size", `"lots"`}},
		{"inodes tmpfs refuses", "tmpfs_inodes = \"16Pi\"", []string{"snapshotter.tmpfs_inodes", `"18014398509481984"`, "18014398509481983 (the most tmpfs accepts)"}},
		{"too few inodes for a rootfs", "tmpfs_inodes = 3", []string{"snapshotter.tmpfs_inodes", `"3"`, "from 32"}},
		{"dir upper with atime updates", "upper = \"dir\"\nupper_dir = \"" + atimeDir + "\"", []string{atimeDir, "atime", "remount,noatime,nodiratime"}},
		{"dir upper not a mount point", "upper = \"dir\"\nupper_dir = \"" + env.Dir + "\"", []string{"not a mount point of its own"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, cfg := env.SnapshotterConfig(tc.extra)
			if err := os.WriteFile(s.ConfigPath, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			// Bounded: a snapshotter that takes the config serves
			// until stopped.
			_, stderr, err := env.Run("timeout", "30s", filepath.Join(env.BriskBin, "brisk-snapshotter"), "--config", s.ConfigPath)
			if err == nil {
				t.Fatal("brisk-snapshotter started with a bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not mention %q", strings.TrimSpace(stderr), w)
				}
			}
			if _, err := os.Stat(s.Address); err == nil {
				t.Error("socket created despite the bad config")
			}
			for _, m := range harness.MountsUnder(s.Root) {
				t.Errorf("mount left: %s", m.Mountpoint)
			}
		})
	}
}
