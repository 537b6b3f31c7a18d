package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

const hostSecret = "HOST-SECRET-e2e-91c4"

// TestCommitOfLiveHostileUpper commits, through containerd, the tmpfs upper
// of a running container that keeps swapping a directory of its own for a
// symlink to a host directory, and that holds a symlink to a host file and
// hardlinks. The committed layer, seen through a view mount, keeps the
// symlinks as symlinks and the hardlinks as hardlinks, holds no host byte,
// and the host directory is untouched.
func TestCommitOfLiveHostileUpper(t *testing.T) {
	s := newStack(t, "")
	host := s.env.Path("host")
	fatalIf(t, os.MkdirAll(filepath.Join(host, "etc"), 0o755))
	fatalIf(t, os.WriteFile(filepath.Join(host, "shadow"), []byte(hostSecret), 0o600))
	fatalIf(t, os.WriteFile(filepath.Join(host, "etc", "passwd"), []byte(hostSecret), 0o644))
	hostBefore := testutil.LstatTree(t, host)

	// A few rounds: each commit consumes its container's snapshot, and the
	// writer's timing against the copy differs every time.
	for round := range 3 {
		id := fmt.Sprint("hostile", round)
		s.runDetached(t, id)
		script := fmt.Sprintf(`set -e
mkdir -p /data/sub
echo container > /data/f
ln /data/f /data/sub/f-hard
ln -s %[1]s/shadow /data/shadow-link
mkdir /swap
for i in $(seq 1 200); do echo container > /swap/f$i; done
(while :; do mv /swap /swap.away; ln -s %[1]s/etc /swap; rm /swap; mv /swap.away /swap; done) </dev/null >/dev/null 2>&1 &
`, host)
		if out, err := s.exec(t, id, script); err != nil {
			t.Fatalf("%s: %v\n%s", id, err, out)
		}
		time.Sleep(50 * time.Millisecond) // let the writer get going
		layer := "layer-" + id
		_, stderr, err := s.ctd.Ctr("snapshots", "--snapshotter", "brisk", "commit", layer, id)
		// Escapes first: a commit that failed may still have written.
		if changed := testutil.ChangedPaths(hostBefore, testutil.LstatTree(t, host)); len(changed) > 0 {
			t.Fatalf("round %d: host directory written by the commit: %v", round, changed)
		}
		if err != nil {
			// Entries that vanish mid-copy are skipped, so churn alone
			// never fails a commit.
			t.Fatalf("commit of the live upper of %s: %v\n%s", id, err, stderr)
		}
		_, _, _ = s.ctd.Ctr("tasks", "kill", "-s", "SIGKILL", id)

		view := s.viewMount(t, layer)
		if leak := testutil.FileHolding(t, view, hostSecret); leak != "" {
			t.Errorf("round %d: host file content in the committed layer at %s", round, leak)
		}
		if link, err := os.Readlink(filepath.Join(view, "data/shadow-link")); err != nil || link != filepath.Join(host, "shadow") {
			t.Errorf("round %d: data/shadow-link = %q %v, want a symlink to %s", round, link, err, filepath.Join(host, "shadow"))
		}
		var a, b unix.Stat_t
		fatalIf(t, unix.Lstat(filepath.Join(view, "data/f"), &a))
		fatalIf(t, unix.Lstat(filepath.Join(view, "data/sub/f-hard"), &b))
		if a.Ino != b.Ino || a.Nlink != 2 {
			t.Errorf("round %d: hardlink not kept: inodes %d %d, %d links", round, a.Ino, b.Ino, a.Nlink)
		}
	}
}

// viewMount mounts a read-only view of the committed snapshot parent as
// containerd hands it out, and unmounts it at the end of the test.
func (s *stack) viewMount(t *testing.T, parent string) string {
	t.Helper()
	key := "view-" + parent
	s.ctd.MustCtr("snapshots", "--snapshotter", "brisk", "view", key, parent)
	target := s.env.Path(key)
	fatalIf(t, os.MkdirAll(target, 0o755))
	var ms []mount.Mount
	// "mount -t TYPE SOURCE TARGET [-o OPTIONS]", one line per mount.
	for _, line := range strings.Split(strings.TrimSpace(s.ctd.MustCtr("snapshots", "--snapshotter", "brisk", "mounts", "/", key)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != "mount" || f[1] != "-t" {
			t.Fatalf("unexpected mount line %q", line)
		}
		m := mount.Mount{Type: f[2], Source: f[3]}
		if len(f) == 7 && f[5] == "-o" {
			m.Options = strings.Split(f[6], ",")
		}
		ms = append(ms, m)
	}
	fatalIf(t, mount.All(ms, target))
	t.Cleanup(func() { _ = mount.UnmountAll(target, 0) })
	return target
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
