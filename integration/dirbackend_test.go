package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/snapshotter/upper/xfsquota"
)

func TestDirBackendOnXFS(t *testing.T) {
	env := harness.New(t)
	// Project quotas need a kernel built with CONFIG_XFS_QUOTA; where it is
	// not, the backend runs without limits, as it does on any filesystem
	// without quotas, and the limit checks are reported as not run.
	quotas := xfsquota.KernelSupportsXFSQuota()
	opts := "noatime,nodiratime"
	if quotas {
		opts += ",prjquota"
	}
	mnt := testutil.MountXFS(t, env.Path(), 512<<20, opts)
	sn := env.StartSnapshotter("upper = \"dir\"\nupper_dir = \"" + mnt + "\"\ntmpfs_size = \"8Mi\"\ntmpfs_inodes = 300\nvolatile = true\n")
	ctd := env.StartContainerd(sn.ProxyConfig())
	s := &stack{env: env, sn: sn, ctd: ctd, image: ctd.ImportImage([]string{"brisk"})}

	s.runDetached(t, "d1")
	rootfs := s.rootfsMount(t, "d1")
	upperdir := superOption(rootfs, "upperdir")
	if !strings.HasPrefix(upperdir, mnt+"/") {
		t.Fatalf("upperdir %s is not on the dedicated mount %s", upperdir, mnt)
	}
	if superOption(rootfs, "workdir") != filepath.Join(filepath.Dir(upperdir), "work") {
		t.Fatalf("workdir %s not beside the upper", superOption(rootfs, "workdir"))
	}
	for _, o := range []string{"noatime", "nodiratime"} {
		if !hasOpt(rootfs.Options, o) {
			t.Errorf("overlay options %q lack %s", rootfs.Options, o)
		}
	}
	// Newer kernels show volatile as fsync=volatile.
	if !hasOpt(rootfs.VFSOptions, "volatile") && superOption(rootfs, "fsync") != "volatile" {
		t.Errorf("volatile configured but the overlay has %q", rootfs.VFSOptions)
	}
	if len(s.tmpfsUppers()) != 0 {
		t.Error("a tmpfs was mounted although upper = dir")
	}

	if _, err := s.exec(t, "d1", "mkdir /w && for i in $(seq 1 100); do echo $i > /w/f$i; done && sync"); err != nil {
		t.Fatal(err)
	}
	_, inodes := s.ctrUsage(t, "d1")
	if inodes < 101 {
		t.Errorf("usage %d inodes after writing 101", inodes)
	}
	b := s.briskctlUsage(t, "d1")
	if b.Upper != "dir" || b.Inodes != inodes {
		t.Errorf("briskctl usage %+v, ctr says %d inodes", b, inodes)
	}

	if quotas {
		out, _ := s.exec(t, "d1", "i=0; while touch /q$i 2>/tmp/err; do i=$((i+1)); done; cat /tmp/err")
		if !strings.Contains(out, "space") && !strings.Contains(out, "quota") {
			t.Errorf("300-inode project quota not enforced: %s", out)
		}
		if b.InodesLimit != 300 || b.BytesLimit != 8<<20 {
			t.Errorf("quota limits %+v", b)
		}
	} else {
		t.Log("kernel built without CONFIG_XFS_QUOTA: per-snapshot limits on the dir backend not exercised")
		if b.InodesLimit != 0 {
			t.Errorf("limits reported without quotas: %+v", b)
		}
	}

	s.remove(t, "d1")
	if !harness.WaitFor(10e9, func() bool { _, err := os.Stat(filepath.Dir(upperdir)); return os.IsNotExist(err) }) {
		t.Fatalf("upper %s left in upper_dir after the container was removed", filepath.Dir(upperdir))
	}
}
