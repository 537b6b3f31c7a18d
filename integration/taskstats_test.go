package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
)

// burnScript uses CPU (hashing 256 MiB), memory (32 MiB in /dev/shm, a
// tmpfs charged to the task's memory cgroup) and the disk (8 MiB written and
// read back with O_DIRECT through the overlay upper, which is on a disk).
const burnScript = `dd if=/dev/zero bs=1M count=256 2>/dev/null | md5sum
dd if=/dev/zero of=/dev/shm/fill bs=1M count=32 2>/dev/null && rm /dev/shm/fill
dd if=/dev/zero of=/direct bs=1M count=8 oflag=direct 2>/dev/null
dd if=/direct of=/dev/null bs=1M iflag=direct 2>/dev/null && rm /direct`

// TestTaskResourceSummary runs a task that burns CPU, memory and disk under
// the brisk shim and finds its cgroup figures in the object's metadata, in
// the /brisk/task/usage event and in `briskctl logs --metadata`.
func TestTaskResourceSummary(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	unified := cgroups.Mode() == cgroups.Unified
	ioCounted := unified || countBlkio(t, s.env.Dir)

	ev := exec.Command(filepath.Join(s.env.ToolsBin, "ctr"), "--address", s.ctd.Address, "events")
	var events strings.Builder
	ev.Stdout = &events
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ev.Process.Kill(); _ = ev.Wait() })
	time.Sleep(300 * time.Millisecond)

	const id = "stats-burn"
	s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, id, "sh", "-c", burnScript)
	_, meta := s.waitObject(t, id, 30*time.Second)
	t.Logf("object metadata: %v", meta)

	num := func(k string) uint64 {
		t.Helper()
		n, err := strconv.ParseUint(meta[k], 10, 64)
		if err != nil {
			t.Errorf("metadata %s = %q: %v", k, meta[k], err)
		}
		return n
	}
	const MiB = 1 << 20
	if want := map[bool]string{false: "v1", true: "v2"}[unified]; meta["brisk-cgroup"] != want {
		t.Errorf("brisk-cgroup = %q, want %q", meta["brisk-cgroup"], want)
	}
	// Hashing 256 MiB takes hundreds of ms of CPU; 50 ms is far below
	// that whatever the machine's load (load adds wall time, not CPU).
	if n := num("brisk-cpu-ns"); n < uint64(50*time.Millisecond) {
		t.Errorf("brisk-cpu-ns = %d after hashing 256 MiB", n)
	}
	if unified && meta["brisk-memory-peak-bytes"] == "unavailable" {
		t.Log("memory.peak unavailable (kernel before 5.19)")
	} else if n := num("brisk-memory-peak-bytes"); n < 32*MiB {
		t.Errorf("brisk-memory-peak-bytes = %d after filling 32 MiB of /dev/shm", n)
	}
	if ioCounted {
		if r, w := num("brisk-io-read-bytes"), num("brisk-io-write-bytes"); r < 8*MiB || w < 8*MiB {
			t.Errorf("block I/O read %d, written %d bytes; the task read and wrote 8 MiB with O_DIRECT", r, w)
		}
	} else {
		num("brisk-io-read-bytes")
		num("brisk-io-write-bytes")
	}
	for _, k := range []string{"brisk-io-pressure-some-us", "brisk-io-pressure-full-us", "brisk-memory-pressure-some-us", "brisk-memory-pressure-full-us"} {
		if _, ok := meta[k]; ok != unified {
			t.Errorf("%s present: %v on cgroup %s (v1 has no per-cgroup pressure: omitted, not zero)", k, ok, meta["brisk-cgroup"])
		}
	}

	t.Run("usage event carries the same figures", func(t *testing.T) {
		var labels map[string]string
		if !harness.WaitFor(10*time.Second, func() bool { labels = usageEvent(events.String(), id); return labels != nil }) {
			t.Fatalf("no /brisk/task/usage event for %s:\n%s", id, events.String())
		}
		t.Logf("event labels: %v", labels)
		for label, key := range map[string]string{
			"brisk.io/cpu_ns": "brisk-cpu-ns", "brisk.io/memory_peak_bytes": "brisk-memory-peak-bytes",
			"brisk.io/io_read_bytes": "brisk-io-read-bytes", "brisk.io/io_write_bytes": "brisk-io-write-bytes",
			"brisk.io/cgroup": "brisk-cgroup", "brisk.io/inodes_used": "brisk-inodes-used",
		} {
			if labels[label] == "" || labels[label] != meta[key] {
				t.Errorf("event %s = %q, metadata %s = %q", label, labels[label], key, meta[key])
			}
		}
	})

	t.Run("briskctl logs --metadata", func(t *testing.T) {
		out, stderr, err := s.briskctl("logs", "-n", s.ctd.Namespace, "--metadata", id)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		t.Logf("briskctl logs --metadata %s:\n%s", id, out)
		for _, want := range []string{
			fmt.Sprintf("brisk-cpu-ns: %s (", meta["brisk-cpu-ns"]),
			fmt.Sprintf("brisk-memory-peak-bytes: %s", meta["brisk-memory-peak-bytes"]),
			fmt.Sprintf("brisk-io-write-bytes: %s (", meta["brisk-io-write-bytes"]),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in:\n%s", want, out)
			}
		}
	})
}

// usageEvent finds the labels of container id's /brisk/task/usage event in
// `ctr events` output (TIME TOPIC NAMESPACE JSON).
func usageEvent(out, id string) map[string]string {
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, "{")
		if !strings.Contains(l, "/brisk/task/usage") || i < 0 {
			continue
		}
		var ev struct {
			ID     string            `json:"id"`
			Labels map[string]string `json:"labels"`
		}
		if json.Unmarshal([]byte(l[i:]), &ev) == nil && ev.ID == id {
			return ev.Labels
		}
	}
	return nil
}

// countBlkio makes cgroup v1 count block I/O on the disk under dir. Recent
// kernels (6.18 here) set up blk-throttle for a disk only once some cgroup
// has a throttle rule on it, and until then every cgroup's
// blkio.throttle.io_service_bytes stays 0. A rule of 1 TiB/s on a cgroup of
// our own, removed again at cleanup, turns the counting on for the disk
// (it stays on until reboot) without throttling anything.
func countBlkio(t *testing.T, dir string) bool {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	disk := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	// A partition's rules go on its disk.
	if sys, err := filepath.EvalSymlinks("/sys/dev/block/" + disk); err == nil {
		if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
			if b, err := os.ReadFile(filepath.Join(sys, "..", "dev")); err == nil {
				disk = strings.TrimSpace(string(b))
			}
		}
	}
	cg := fmt.Sprintf("/sys/fs/cgroup/blkio/brisk-test-%d", os.Getpid())
	rule := filepath.Join(cg, "blkio.throttle.read_bps_device")
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Logf("block I/O not checked: %v", err)
		return false
	}
	t.Cleanup(func() {
		_ = os.WriteFile(rule, []byte(disk+" 0"), 0o644)
		_ = os.Remove(cg)
	})
	if err := os.WriteFile(rule, []byte(disk+" 1099511627776"), 0o644); err != nil {
		t.Logf("block I/O not checked: no throttle rule on %s (%v)", disk, err)
		return false
	}
	return true
}
