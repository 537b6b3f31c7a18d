package harness

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// cleanup tears the stack down in the order that leaves nothing behind:
// tasks and shims first (they hold mounts), then the daemons, then every
// mount under the private directory, deepest first, then the directory.
func (e *Env) cleanup() {
	for _, c := range e.containerds {
		c.killAllTasks()
	}
	e.killStrays()
	for i := len(e.procs) - 1; i >= 0; i-- {
		_ = e.procs[i].Stop(5 * time.Second)
	}
	e.killStrays()
	for _, m := range MountsUnder(e.Dir) {
		if err := unix.Unmount(m.Mountpoint, 0); err != nil {
			_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		}
	}
	if left := MountsUnder(e.Dir); len(left) > 0 {
		e.T.Errorf("mounts left under %s: %s", e.Dir, left[0].Mountpoint)
	}
	if e.T.Failed() && os.Getenv("BRISK_KEEP") != "" {
		e.T.Logf("keeping %s for inspection", e.Dir)
		return
	}
	if err := os.RemoveAll(e.Dir); err != nil {
		e.T.Logf("remove %s: %v", e.Dir, err)
	}
}

// killStrays kills every process whose command line mentions the private
// directory: shims (started with our containerd's address) and the
// container processes they leave when killed.
func (e *Env) killStrays() {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(cmdline), e.Dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(50 * time.Millisecond)
}

// MountsUnder lists the mounts at or below dir, deepest first.
func MountsUnder(dir string) []*mountinfo.Info {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil
	}
	slices.SortFunc(ms, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	return ms
}
