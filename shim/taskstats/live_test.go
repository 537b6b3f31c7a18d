package taskstats

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/moby/sys/mountinfo"
)

// unifiedMount is where the kernel's cgroup v2 hierarchy is mounted: /sys/fs/cgroup
// on a v2 host, /sys/fs/cgroup/unified on a hybrid one.
func unifiedMount() string {
	ms, _ := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	for _, m := range ms {
		if m.Mountpoint == "/sys/fs/cgroup" || m.Mountpoint == "/sys/fs/cgroup/unified" {
			return m.Mountpoint
		}
	}
	return ""
}

// TestLiveV2 runs a workload in a cgroup of its own on the kernel's v2
// hierarchy and summarises it the way the shim does for a task.
func TestLiveV2(t *testing.T) {
	mnt := unifiedMount()
	if mnt == "" || os.Geteuid() != 0 {
		t.Skip("needs root and a cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	}
	group := "/brisk-taskstats-" + strconv.Itoa(os.Getpid())
	dir := filepath.Join(mnt, group)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a v2 cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	fd, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	cmd := exec.Command("sh", "-c", "dd if=/dev/zero bs=1M count=128 2>/dev/null | md5sum >/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	cg, err := cgroup2.Load(group, cgroup2.WithMountpoint(mnt))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cg.Stat()
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromMetrics(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s in %v: %v", dir, time.Since(start), s.Metadata())
	if s.Cgroup != CgroupV2 || s.CPUNanos < uint64(time.Millisecond) {
		t.Errorf("hashing 128 MiB took %d ns of CPU", s.CPUNanos)
	}
	if _, err := os.Stat("/proc/pressure/io"); err == nil && s.IOPressure == nil {
		t.Error("the kernel has PSI but no io pressure was read")
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.peak")); (err == nil) != (s.MemoryPeak != nil) {
		t.Errorf("memory.peak present: %v, summary peak %v", err == nil, s.MemoryPeak)
	}
}
