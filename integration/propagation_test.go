package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/integration/harness"
)

// TestSnapshotterRootWithPropagationPeer runs brisk-snapshotter with its root
// on a mount that has a propagation peer or slave, as on a node whose data
// disk is bind mounted under a shared / (`mount --bind A A; mount
// --make-shared A; mount --bind A B`), and the reverse, a root under a slave
// mount. Each tmpfs upper then also shows under the other path. Through
// containerd, a removed container's upper must go with its budget, a
// committed upper must go at containerd's next Cleanup once its overlay is
// gone, nothing may be left at either path, and a restart adopts nothing.
func TestSnapshotterRootWithPropagationPeer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		slaveB   bool
		rootIn   string
		wantCopy bool
	}{
		{name: "root under a shared mount with a peer", rootIn: "A", wantCopy: true},
		{name: "root under a shared mount with a slave", slaveB: true, rootIn: "A", wantCopy: true},
		{name: "root under a slave mount", slaveB: true, rootIn: "B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := harness.New(t)
			a, b := env.Path("disk", "A"), env.Path("disk", "B")
			mountCmds := [][]string{{"--bind", a, a}, {"--make-shared", a}, {"--bind", a, b}}
			if tc.slaveB {
				mountCmds = append(mountCmds, []string{"--make-slave", b})
			}
			for _, d := range []string{a, b} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, args := range mountCmds {
				if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
					t.Fatalf("mount %v: %v: %s", args, err, out)
				}
			}
			in, other := a, b
			if tc.rootIn == "B" {
				in, other = b, a
			}
			mirror := func(p string) string { return filepath.Join(other, strings.TrimPrefix(p, in)) }

			sn := startSnapshotterAt(t, env, filepath.Join(in, "root"), "tmpfs_size = \"16Mi\"\ntmpfs_inodes = 5000\n")
			ctd := env.StartContainerd(sn.ProxyConfig(),
				harness.WithConfig("[plugins.\"io.containerd.gc.v1.scheduler\"]\n  deletion_threshold = 1\n"))
			s := &stack{env: env, sn: sn, ctd: ctd, image: ctd.ImportImage([]string{"brisk"})}
			budgetUsed := func() float64 {
				m := regexp.MustCompile(`(?m)^brisk_tmpfs_budget_used_bytes (\S+)$`).FindStringSubmatch(httpGet(t, "http://"+sn.MetricsAddress+"/metrics"))
				if m == nil {
					t.Fatal("no brisk_tmpfs_budget_used_bytes in the metrics")
				}
				v, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			tmpfsAt := func(root string) []string {
				var out []string
				for _, m := range harness.MountsUnder(root) {
					if m.FSType == "tmpfs" {
						out = append(out, m.Mountpoint)
					}
				}
				return out
			}
			gone := func(what string) {
				t.Helper()
				kick := 0
				if !harness.WaitFor(30*time.Second, func() bool {
					if len(tmpfsAt(sn.Root)) == 0 && len(tmpfsAt(mirror(sn.Root))) == 0 && budgetUsed() == 0 {
						return true
					}
					// containerd collects on deletions; a lease
					// deleted with --sync makes it collect (and call
					// Cleanup) again.
					kick++
					lease := fmt.Sprintf("gc-kick-%d", kick)
					s.ctd.MustCtr("leases", "create", "--id", lease)
					s.ctd.MustCtr("leases", "delete", "--sync", lease)
					return false
				}) {
					t.Fatalf("%s: tmpfs left at %v and %v, budget used %v\nbrisk-snapshotter:\n%s", what, tmpfsAt(sn.Root), tmpfsAt(mirror(sn.Root)), budgetUsed(), sn.Proc.LogTail())
				}
			}

			s.runDetached(t, "c1")
			tmpfsDir := filepath.Dir(superOption(s.rootfsMount(t, "c1"), "upperdir"))
			if got := mountAt(t, mirror(tmpfsDir)) != nil; got != tc.wantCopy {
				t.Fatalf("copy of the upper at %s: %v, want %v (the test's mount tree is not what it means to be)", mirror(tmpfsDir), got, tc.wantCopy)
			}
			if _, err := s.exec(t, "c1", "echo data > /f"); err != nil {
				t.Fatal(err)
			}
			s.remove(t, "c1")
			gone("after the container was removed")

			// A snapshot committed while its container runs keeps its
			// upper until the overlay is gone; containerd's Cleanup
			// then frees it.
			s.runDetached(t, "c2")
			if _, err := s.exec(t, "c2", "echo data > /f"); err != nil {
				t.Fatal(err)
			}
			s.ctd.MustCtr("snapshots", "--snapshotter", "brisk", "commit", "c2-layer", "c2")
			if got := budgetUsed(); got != 16<<20 {
				t.Fatalf("budget used %v while the committed upper is still the container's, want 16Mi", got)
			}
			s.remove(t, "c2")
			s.ctd.MustCtr("snapshots", "--snapshotter", "brisk", "rm", "c2-layer")
			gone("after the committed snapshot's overlay went")

			env.Restart(sn.Proc)
			env.WaitSnapshotter(sn)
			if left := append(tmpfsAt(sn.Root), tmpfsAt(mirror(sn.Root))...); len(left) != 0 || budgetUsed() != 0 {
				t.Fatalf("after a restart: tmpfs %v, budget used %v", left, budgetUsed())
			}
		})
	}
}

// startSnapshotterAt is StartSnapshotter with the snapshotter's root at root.
func startSnapshotterAt(t *testing.T, env *harness.Env, root, extra string) *harness.Snapshotter {
	t.Helper()
	s, cfg := env.SnapshotterConfig(extra)
	cfg = strings.Replace(cfg, "root = "+strconv.Quote(s.Root), "root = "+strconv.Quote(root), 1)
	s.Root = root
	if err := os.WriteFile(s.ConfigPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Proc = env.Start("brisk-snapshotter", nil, filepath.Join(env.BriskBin, "brisk-snapshotter"), "--config", s.ConfigPath, "--log-level", "debug")
	env.WaitSnapshotter(s)
	return s
}
