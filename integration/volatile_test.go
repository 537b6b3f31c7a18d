package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/testutil"
)

// TestVolatileDirUpperStartsAgain stops a container whose "dir" upper is
// mounted volatile and starts it again on the same snapshot, as `ctr tasks
// start` after a stop does. overlayfs refuses to mount such an upper again
// while the marker of the last volatile mount is there.
func TestVolatileDirUpperStartsAgain(t *testing.T) {
	env := harness.New(t)
	mnt := testutil.MountXFS(t, env.Path(), 512<<20, "noatime,nodiratime")
	sn := env.StartSnapshotter("upper = \"dir\"\nupper_dir = \"" + mnt + "\"\nvolatile = true\n")
	ctd := env.StartContainerd(sn.ProxyConfig())
	s := &stack{env: env, sn: sn, ctd: ctd, image: ctd.ImportImage([]string{"brisk"})}

	s.runDetached(t, "v1")
	if _, err := s.exec(t, "v1", "echo kept > /kept"); err != nil {
		t.Fatal(err)
	}
	for run := 2; run <= 3; run++ {
		ctd.MustCtr("tasks", "kill", "-s", "SIGKILL", "v1")
		if !harness.WaitFor(10*time.Second, func() bool {
			out, _, _ := ctd.Ctr("tasks", "list")
			return strings.Contains(out, "STOPPED")
		}) {
			t.Fatal("the task did not stop")
		}
		ctd.MustCtr("tasks", "delete", "v1")
		if _, stderr, err := ctd.Ctr("tasks", "start", "-d", "v1"); err != nil {
			t.Fatalf("start %d of the stopped container: %v %s\nbrisk-snapshotter:\n%s", run, err, stderr, sn.Proc.LogTail())
		}
		out, err := s.exec(t, "v1", "cat /kept")
		if err != nil || strings.TrimSpace(out) != "kept" {
			t.Fatalf("start %d: the container's file reads %q: %v", run, out, err)
		}
		rootfs := s.rootfsMount(t, "v1")
		if !hasOpt(rootfs.VFSOptions, "volatile") && superOption(rootfs, "fsync") != "volatile" {
			t.Errorf("start %d: the overlay is no longer volatile: %q", run, rootfs.VFSOptions)
		}
	}
	s.remove(t, "v1")
}

// TestInodeLimitsRefusedUpFront gives inode limits tmpfs refuses or that
// cannot hold a rootfs, by label and by config: each is refused with the
// label or key and its value, before anything is mounted, not at a
// container's start with a host path or a runc error about /run.
func TestInodeLimitsRefusedUpFront(t *testing.T) {
	s := newStack(t, "")
	for _, v := range []string{"18014398509481984", "1", "3"} {
		label := "containerd.io/snapshot/brisk.io/tmpfs.inodes"
		_, stderr, err := s.ctd.Ctr("run", "--snapshotter", "brisk", "--snapshotter-label", label+"="+v, s.image, "inodes-"+v, "true")
		msg := stderr
		if err != nil {
			msg += err.Error()
		}
		if err == nil {
			t.Errorf("tmpfs.inodes=%s: the container ran", v)
			continue
		}
		for _, want := range []string{label + `="` + v + `"`, "must be from 32", "invalid argument"} {
			if !strings.Contains(msg, want) {
				t.Errorf("tmpfs.inodes=%s: %q does not say %s", v, strings.TrimSpace(msg), want)
			}
		}
		if strings.Contains(msg, s.sn.Root) || strings.Contains(msg, "/run") {
			t.Errorf("tmpfs.inodes=%s: %q names a host path or runc's /run", v, strings.TrimSpace(msg))
		}
		if left := s.tmpfsUppers(); len(left) != 0 {
			t.Errorf("tmpfs.inodes=%s: tmpfs left at %s", v, left[0].Mountpoint)
		}
		_, _, _ = s.ctd.Ctr("containers", "delete", "inodes-"+v)
	}
	// The fewest accepted hold a container that writes.
	out, stderr, err := s.ctd.Ctr("run", "--snapshotter", "brisk", "--snapshotter-label", "containerd.io/snapshot/brisk.io/tmpfs.inodes=32", s.image, "inodes-32", "sh", "-c", "echo ok > /f && cat /f")
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Errorf("tmpfs.inodes=32: %q %v %s", out, err, stderr)
	}
}
