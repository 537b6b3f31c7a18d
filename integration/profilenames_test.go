package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/integration/harness"
)

// TestSnapshotterNameThatIsNoProfile declares a second proxy plugin,
// brisk-typo, on brisk's socket, as a misspelt name or a profile dropped from
// the brisk config while containerd still declares it would. Served, it
// shared brisk's view of the snapshots and each name's garbage collector
// deleted the other's. Every request under it must be refused with an error
// naming it, and brisk's containers and layers must come through the garbage
// collection of both names.
func TestSnapshotterNameThatIsNoProfile(t *testing.T) {
	env := harness.New(t)
	sn := env.StartSnapshotter("")
	ctd := env.StartContainerd(sn.ProxyConfig(),
		harness.WithProxySnapshotter("brisk-typo", sn.Address, sn.Root),
		harness.WithConfig("[plugins.\"io.containerd.gc.v1.scheduler\"]\n  deletion_threshold = 1\n"))
	refused := func(what string, err error, stderr string) {
		t.Helper()
		msg := stderr
		if err != nil {
			msg += err.Error()
		}
		if err == nil {
			t.Errorf("%s under brisk-typo was served", what)
			return
		}
		for _, want := range []string{`snapshotter "brisk-typo" is no profile`, "brisk (the default profile)"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s under brisk-typo: %q does not say %s", what, strings.TrimSpace(msg), want)
			}
		}
	}
	// gcUnder makes containerd collect the snapshots of name, as the
	// prepare and removal of a snapshot under it does.
	gcUnder := func(name string) {
		t.Helper()
		_, _, _ = ctd.Ctr("snapshots", "--snapshotter", name, "prepare", "gc-kick")
		_, _, _ = ctd.Ctr("snapshots", "--snapshotter", name, "rm", "gc-kick")
		ctd.MustCtr("leases", "create", "--id", "gc-kick")
		ctd.MustCtr("leases", "delete", "--sync", "gc-kick")
	}

	// The steps begin with brisk-typo unpacking an image.
	tarball, err := harness.BuildImage(env.Path(), env.Busybox, harness.ImageName)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := ctd.Ctr("images", "import", "--snapshotter", "brisk-typo", tarball)
	refused("an image import", err, stderr)

	// brisk holds the image and a container whose task is gone.
	ctd.MustCtr("images", "import", "--snapshotter", "brisk", tarball)
	ctd.MustCtr("run", "-d", "--snapshotter", "brisk", harness.ImageName, "keep", "sleep", "600")
	ctd.MustCtr("tasks", "kill", "-s", "SIGKILL", "keep")
	harness.WaitFor(10*time.Second, func() bool {
		out, _, _ := ctd.Ctr("tasks", "list")
		return !strings.Contains(out, "keep ") || strings.Contains(out, "STOPPED")
	})
	ctd.MustCtr("tasks", "delete", "keep")
	before := backendNames(t, sn, "brisk")

	// The other side: a run under brisk-typo of the image brisk holds
	// (containerd's client unpacks it for brisk-typo first).
	_, stderr, err = ctd.Ctr("run", "--snapshotter", "brisk-typo", harness.ImageName, "typo2", "true")
	refused("ctr run of brisk's image", err, stderr)
	_, stderr, err = ctd.Ctr("snapshots", "--snapshotter", "brisk-typo", "prepare", "typo-snapshot")
	refused("a snapshot prepare", err, stderr)

	// Both names collect; brisk's snapshots are all there and its
	// container starts again.
	gcUnder("brisk-typo")
	gcUnder("brisk")
	if after := backendNames(t, sn, "brisk"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("brisk's snapshots after both collections: %v, before: %v", after, before)
	}
	if _, stderr, err := ctd.Ctr("tasks", "start", "-d", "keep"); err != nil {
		t.Fatalf("the kept container does not start again: %v %s\nbrisk-snapshotter:\n%s", err, stderr, sn.Proc.LogTail())
	}
}
