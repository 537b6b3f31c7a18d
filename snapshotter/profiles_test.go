//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/containerd/containerd/v2/core/snapshots/testsuite"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/testutil"
)

// The profiles of these tests: both tmpfs, with limits of their own, next to
// the default's 8Mi from newEnv.
var testProfiles = []config.Profile{
	{Name: "small", Upper: config.UpperTmpfs, TmpfsSize: 2 << 20, TmpfsInodes: 100, OnBudgetExceeded: config.OnBudgetFail},
	{Name: "large", Upper: config.UpperTmpfs, TmpfsSize: 16 << 20, TmpfsInodes: 5000, OnBudgetExceeded: config.OnBudgetFail},
}

// profiledEnv is an env whose snapshotter is served by profile.
type profiledEnv struct {
	*env
	p *Profiled
}

func newProfiledEnv(t *testing.T, opts ...Opt) *profiledEnv {
	e := newEnv(t, append([]Opt{WithProfiles(testProfiles...), WithLayerSharing(true)}, opts...)...)
	return &profiledEnv{env: e, p: e.sn.Profiled()}
}

func (e *profiledEnv) as(profile string) context.Context { return WithProfile(e.ctx, profile) }

// unpack does what containerd's unpacker does for one layer under profile:
// Prepare with the chain ID as snapshot.ref, write, Commit under the chain
// ID. It returns false when the snapshotter said the layer is present.
func (e *profiledEnv) unpack(profile, chainID, parent, content string) bool {
	e.t.Helper()
	ctx := e.as(profile)
	labels := snapshots.WithLabels(map[string]string{labelSnapshotRef: chainID})
	key := "test/1/extract-" + profile + "-" + chainID
	ms, err := e.p.Prepare(ctx, key, parent, labels)
	if errdefs.IsAlreadyExists(err) {
		return false
	}
	must(e.t, err)
	target := e.mountTarget(profile+"-"+chainID, ms)
	must(e.t, os.WriteFile(filepath.Join(target, chainID), []byte(content), 0o644))
	must(e.t, mount.UnmountAll(target, 0))
	must(e.t, e.p.Commit(ctx, chainID, key, labels))
	return true
}

// shared finds, as containerd does after AlreadyExists, the committed layer
// for chainID on parent that profile now holds, and returns its name.
func (e *profiledEnv) shared(profile, chainID, parent string) string {
	e.t.Helper()
	var names []string
	filter := fmt.Sprintf(`labels."containerd.io/snapshot.ref"==%s,parent==%q`, chainID, parent)
	must(e.t, e.p.Walk(e.as(profile), func(_ context.Context, i snapshots.Info) error {
		if i.Kind == snapshots.KindCommitted {
			names = append(names, i.Name)
		}
		return nil
	}, filter))
	if len(names) != 1 {
		e.t.Fatalf("profile %s: walk %s found %v, want one layer", profile, filter, names)
	}
	return names[0]
}

// walk lists the names profile sees.
func (e *profiledEnv) walk(profile string) []string {
	e.t.Helper()
	var names []string
	must(e.t, e.p.Walk(e.as(profile), func(_ context.Context, i snapshots.Info) error {
		names = append(names, i.Name)
		return nil
	}))
	return names
}

// layerDirs counts the committed layers on the root.
func (e *profiledEnv) layerDirs() int {
	e.t.Helper()
	n := 0
	must(e.t, e.sn.ms.WithTransaction(e.ctx, false, func(ctx context.Context) error {
		return e.sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			if i.Kind == snapshots.KindCommitted {
				n++
			}
			return nil
		})
	}))
	return n
}

func TestProfilesPlaceUppersWithTheirLimits(t *testing.T) {
	e := newProfiledEnv(t)
	for _, tc := range []struct {
		profile  string
		wantSize string
		wantIno  string
	}{
		{"small", "size=2048k", "nr_inodes=100"},
		{"large", "size=16384k", "nr_inodes=5000"},
		{config.DefaultProfileName, "size=8192k", "nr_inodes=1000"},
		{"brisk", "size=8192k", "nr_inodes=1000"}, // not a profile: the default
		{"", "size=8192k", "nr_inodes=1000"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			// Every profile sends the same key, as containerd does
			// with its per-snapshotter sequence numbers.
			ctx := e.as(tc.profile)
			ms, err := e.p.Prepare(ctx, "test/1/rootfs", "")
			must(t, err)
			defer func() { must(t, e.p.Remove(ctx, "test/1/rootfs")) }()
			tm := tmpfsMount(t, filepath.Dir(ms[0].Source))
			if tm == nil {
				t.Fatalf("no tmpfs under %s", ms[0].Source)
			}
			for _, want := range []string{tc.wantSize, tc.wantIno} {
				if !strings.Contains(tm.VFSOptions, want) {
					t.Errorf("tmpfs super options %q lack %s", tm.VFSOptions, want)
				}
			}
		})
	}
	// The label still overrides the profile.
	ms, err := e.p.Prepare(e.as("small"), "test/2/rootfs", "", snapshots.WithLabels(map[string]string{LabelPrefix + LabelTmpfsSize: "3Mi"}))
	must(t, err)
	if tm := tmpfsMount(t, filepath.Dir(ms[0].Source)); tm == nil || !strings.Contains(tm.VFSOptions, "size=3072k") {
		t.Errorf("label override: tmpfs %+v", tm)
	}
	must(t, e.p.Remove(e.as("small"), "test/2/rootfs"))
}

func TestProfilesKeySpacesAreSeparate(t *testing.T) {
	e := newProfiledEnv(t)
	for _, profile := range []string{"small", "large", config.DefaultProfileName} {
		_, err := e.p.Prepare(e.as(profile), "test/7/same", "", snapshots.WithLabels(map[string]string{"who": profile}))
		must(t, err)
	}
	for _, profile := range []string{"small", "large", config.DefaultProfileName} {
		info, err := e.p.Stat(e.as(profile), "test/7/same")
		must(t, err)
		if info.Name != "test/7/same" || info.Labels["who"] != profile {
			t.Errorf("profile %s sees %+v", profile, info)
		}
		if got := e.walk(profile); len(got) != 1 || got[0] != "test/7/same" {
			t.Errorf("profile %s walks %v", profile, got)
		}
	}
	if _, err := e.p.Prepare(e.as("small"), "@large/test/8/x", ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("a key in another profile's space: %v, want invalid argument", err)
	}
}

func TestProfilesShareALayerOnce(t *testing.T) {
	e := newProfiledEnv(t)
	if !e.unpack("small", "sha256:c1", "", "one") || !e.unpack("small", "sha256:c2", "sha256:c1", "two") {
		t.Fatal("the first profile must unpack")
	}
	// The second profile's unpack finds the layers present, as remote
	// snapshotters make containerd's unpacker find them.
	if e.unpack("large", "sha256:c1", "", "other") {
		t.Fatal("the second profile unpacked the layer again")
	}
	l1 := e.shared("large", "sha256:c1", "")
	if l1 != "@small/sha256:c1" {
		t.Errorf("shared layer shows as %q", l1)
	}
	if e.unpack("large", "sha256:c2", l1, "other") {
		t.Fatal("the second profile unpacked its second layer again")
	}
	l2 := e.shared("large", "sha256:c2", l1)
	if got := e.layerDirs(); got != 2 {
		t.Errorf("%d committed layers on the root, want 2", got)
	}
	// The owner sees its layers under its own names, without the label
	// that tracks the holders; the default profile sees none of them.
	info, err := e.p.Stat(e.as("small"), "sha256:c2")
	must(t, err)
	if info.Parent != "sha256:c1" || info.Labels[labelHolders] != "" {
		t.Errorf("owner's view %+v", info)
	}
	if got := e.walk(config.DefaultProfileName); len(got) != 0 {
		t.Errorf("default profile walks %v", got)
	}
	// A container of the second profile runs on the shared layers.
	ms, err := e.p.Prepare(e.as("large"), "test/9/rootfs", l2)
	must(t, err)
	target := e.mountTarget("large-rootfs", ms)
	for file, want := range map[string]string{"sha256:c1": "one", "sha256:c2": "two"} {
		if got, err := os.ReadFile(filepath.Join(target, file)); err != nil || string(got) != want {
			t.Errorf("%s in the second profile's rootfs = %q, %v", file, got, err)
		}
	}
	must(t, mount.UnmountAll(target, 0))

	// The holders cannot be changed through labels.
	if _, err := e.p.Update(e.as("large"), snapshots.Info{Name: l2, Labels: map[string]string{"x": "y", labelHolders: "large"}}); err != nil {
		t.Fatal(err)
	}
	if names := e.walk("small"); len(names) != 2 {
		t.Errorf("after an Update by the other profile the owner walks %v", names)
	}
}

func TestProfilesSharingOff(t *testing.T) {
	e := newProfiledEnv(t, WithLayerSharing(false))
	e.unpack("small", "sha256:c1", "", "one")
	if !e.unpack("large", "sha256:c1", "", "one") {
		t.Fatal("with sharing off the second profile must unpack its own copy")
	}
	if got := e.layerDirs(); got != 2 {
		t.Errorf("%d committed layers, want 2", got)
	}
}

// containerd's garbage collector for one snapshotter name removes every
// snapshot Walk shows that its metadata does not reference: here the second
// profile forgets everything, its collector removes all it sees, and the
// first profile's layers stay.
func TestProfilesGCOfOneKeepsTheOthersLayers(t *testing.T) {
	e := newProfiledEnv(t)
	e.unpack("small", "sha256:c1", "", "one")
	e.unpack("small", "sha256:c2", "sha256:c1", "two")
	e.unpack("large", "sha256:c1", "", "")
	l1 := e.shared("large", "sha256:c1", "")
	e.unpack("large", "sha256:c2", l1, "")
	l2 := e.shared("large", "sha256:c2", l1)
	_, err := e.p.Prepare(e.as("large"), "test/9/rootfs", l2)
	must(t, err)

	// A profile that still holds a child cannot let go of its parent.
	if err := e.p.Remove(e.as("large"), l1); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("removing a parent under a held child: %v, want failed precondition", err)
	}
	gc(t, e, "large")
	if got := e.walk("large"); len(got) != 0 {
		t.Errorf("after its GC the second profile still walks %v", got)
	}
	if got := e.walk("small"); len(got) != 2 {
		t.Fatalf("the owner walks %v after the other's GC", got)
	}
	ms, err := e.p.Prepare(e.as("small"), "test/10/rootfs", "sha256:c2")
	must(t, err)
	target := e.mountTarget("small-rootfs", ms)
	if got, err := os.ReadFile(filepath.Join(target, "sha256:c1")); err != nil || string(got) != "one" {
		t.Errorf("owner's rootfs after the other's GC: %q, %v", got, err)
	}
	must(t, mount.UnmountAll(target, 0))
	must(t, e.p.Remove(e.as("small"), "test/10/rootfs"))

	// The other way round: the owner lets go first, the sharer keeps them.
	e.unpack("large", "sha256:c1", "", "")
	if e.shared("large", "sha256:c1", "") != l1 {
		t.Fatal("the layer was not shared again")
	}
	gc(t, e, "small")
	if got := e.walk("large"); len(got) != 1 || got[0] != l1 {
		t.Fatalf("after the owner's GC the sharer walks %v", got)
	}
	if _, err := os.Stat(filepath.Join(e.root, "snapshots")); err != nil {
		t.Fatal(err)
	}
	if got := e.layerDirs(); got != 1 {
		t.Errorf("%d committed layers, want the one still held", got)
	}
	// The last holder's removal deletes it.
	gc(t, e, "large")
	if got := e.layerDirs(); got != 0 {
		t.Errorf("%d committed layers after every holder let go", got)
	}
	// The containers' directories wait as spares for the next Prepare.
	entries, err := e.sn.snapshotEntries()
	must(t, err)
	if len(entries) != 0 {
		t.Errorf("snapshot directories left: %v", entries)
	}
}

// gc removes, children first, every snapshot profile sees, as containerd's
// collector does for a snapshotter whose metadata references nothing.
func gc(t *testing.T, e *profiledEnv, profile string) {
	t.Helper()
	for {
		names := e.walk(profile)
		if len(names) == 0 {
			return
		}
		removed := 0
		for _, name := range names {
			err := e.p.Remove(e.as(profile), name)
			switch {
			case err == nil:
				removed++
			case !errdefs.IsFailedPrecondition(err):
				t.Fatalf("profile %s: remove %s: %v", profile, name, err)
			}
		}
		if removed == 0 {
			t.Fatalf("profile %s: nothing removable among %v", profile, names)
		}
	}
}

func TestProfilesSnapshotsBeforeProfilesAreTheDefaults(t *testing.T) {
	e := newEnv(t)
	// A store written before profiles existed: no holders anywhere.
	_, err := e.sn.Prepare(e.ctx, "test/1/old", "")
	must(t, err)
	e.reopen(WithProfiles(testProfiles...))
	p := e.sn.Profiled()
	if _, err := p.Stat(WithProfile(e.ctx, "brisk"), "test/1/old"); err != nil {
		t.Errorf("the default profile lost its snapshot: %v", err)
	}
	if _, err := p.Stat(WithProfile(e.ctx, "small"), "test/1/old"); !errdefs.IsNotFound(err) {
		t.Errorf("a profile sees the default's snapshot: %v", err)
	}
	if err := p.Remove(WithProfile(e.ctx, "small"), "@/test/1/old"); !errdefs.IsNotFound(err) {
		t.Errorf("a profile removed the default's snapshot: %v", err)
	}
}

// servedProfiles serves one Profiled over gRPC, with the interceptors, and
// returns containerd's proxy client for snapshotter name.
func servedProfiles(t *testing.T, p *Profiled, dir string) func(name string) snapshots.Snapshotter {
	sock := filepath.Join(dir, "p.sock")
	l, err := net.Listen("unix", sock)
	must(t, err)
	srv := grpc.NewServer(p.GRPCServerOptions()...)
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(p))
	go srv.Serve(l)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	return func(name string) snapshots.Snapshotter {
		return proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), name)
	}
}

func TestProfilesDispatchByProxyPluginName(t *testing.T) {
	e := newProfiledEnv(t)
	client := servedProfiles(t, e.p, e.dir)
	for _, tc := range []struct{ name, wantSize string }{
		{"small", "size=2048k"}, {"large", "size=16384k"}, {"brisk", "size=8192k"},
	} {
		sn := client(tc.name)
		ms, err := sn.Prepare(e.ctx, "test/1/rootfs", "")
		must(t, err)
		if tm := tmpfsMount(t, filepath.Dir(ms[0].Source)); tm == nil || !strings.Contains(tm.VFSOptions, tc.wantSize) {
			t.Errorf("%s: tmpfs %+v, want %s", tc.name, tm, tc.wantSize)
		}
		// Walk is a stream: it must be dispatched too.
		var names []string
		must(t, sn.Walk(e.ctx, func(_ context.Context, i snapshots.Info) error {
			names = append(names, i.Name)
			return nil
		}))
		if len(names) != 1 {
			t.Errorf("%s walks %v", tc.name, names)
		}
	}
}

// The conformance suite of containerd's snapshotters, through gRPC under a
// profile name: the key mapping must be invisible to a client.
func TestProfilesConformance(t *testing.T) {
	testutil.RequireRoot(t)
	for _, name := range []string{"small", "brisk"} {
		t.Run(name, func(t *testing.T) {
			testsuite.SnapshotterSuite(t, "overlayfs", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
				sn, cleanup, err := newFactory(false, WithProfiles(testProfiles...))(ctx, root)
				if err != nil {
					return nil, nil, err
				}
				client := servedProfiles(t, sn.(*Snapshotter).Profiled(), root)
				return client(name), cleanup, nil
			})
		})
	}
}

func TestProfilesOwnUpperDirAndOneBudget(t *testing.T) {
	dir := t.TempDir()
	nvme := filepath.Join(dir, "nvme")
	mountUpperDir(t, nvme)
	t.Cleanup(func() { _ = unix.Unmount(nvme, unix.MNT_DETACH) })
	fast := config.Profile{Name: "fast", Upper: config.UpperDir, UpperDir: nvme, TmpfsSize: 4 << 20, TmpfsInodes: 100, OnBudgetExceeded: config.OnBudgetFail}
	e := newProfiledEnv(t, WithProfiles(fast))

	ms, err := e.p.Prepare(e.as("fast"), "test/1/rootfs", "")
	must(t, err)
	if !strings.HasPrefix(ms[0].Source, nvme+"/") {
		t.Fatalf("the fast profile's upper is at %s, want under its upper_dir %s", ms[0].Source, nvme)
	}
	// After a restart the record still names the profile's upper_dir.
	e.reopen(WithProfiles(append(testProfiles, fast)...))
	e.p = e.sn.Profiled()
	again, err := e.p.Mounts(e.as("fast"), "test/1/rootfs")
	must(t, err)
	if again[0].Source != ms[0].Source {
		t.Errorf("after a restart the upper is at %s, was %s", again[0].Source, ms[0].Source)
	}
	must(t, e.p.Remove(e.as("fast"), "test/1/rootfs"))
	if entries, _ := os.ReadDir(nvme); len(entries) != 0 {
		t.Errorf("upper_dir keeps %v after the snapshot went", entries)
	}

	// One tmpfs budget (64Mi in newEnv) for every profile: four large
	// uppers take it all, and the default profile's next one is refused.
	for i := 0; i < 4; i++ {
		_, err := e.p.Prepare(e.as("large"), fmt.Sprintf("test/%d/big", i), "")
		must(t, err)
	}
	if _, err := e.p.Prepare(e.as(config.DefaultProfileName), "test/9/one-more", ""); !errdefs.IsResourceExhausted(err) {
		t.Errorf("past the shared budget: %v, want resource exhausted", err)
	}
}

// A snapshotter name that is no profile's would share the default profile's
// view with "brisk", and containerd's GC for each name would delete the
// other's snapshots: it is refused, on every call, naming what is served.
func TestProfilesRefuseAnUnknownName(t *testing.T) {
	e := newProfiledEnv(t)
	client := servedProfiles(t, e.p, e.dir)
	_, err := client("brisk").Prepare(e.ctx, "test/1/rootfs", "")
	must(t, err)

	typo := client("brisk-typo")
	checks := map[string]error{}
	_, checks["prepare"] = typo.Prepare(e.ctx, "test/1/other", "")
	_, checks["stat"] = typo.Stat(e.ctx, "test/1/rootfs")
	checks["remove"] = typo.Remove(e.ctx, "test/1/rootfs")
	checks["walk"] = typo.Walk(e.ctx, func(context.Context, snapshots.Info) error { return nil })
	_, checks["in-process"] = e.p.Stat(e.as("brisk-typo"), "test/1/rootfs")
	for op, err := range checks {
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s under brisk-typo: %v, want invalid argument", op, err)
			continue
		}
		for _, want := range []string{`"brisk-typo"`, "brisk (the default profile)", "large", "small"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s under brisk-typo: %q does not name %s", op, err, want)
			}
		}
	}
	// The snapshot brisk made is there, and only brisk sees it.
	if _, err := client("brisk").Stat(e.ctx, "test/1/rootfs"); err != nil {
		t.Errorf("brisk lost its snapshot: %v", err)
	}
	if _, err := e.p.Stat(e.as(config.DefaultProfileName), "test/1/rootfs"); err != nil {
		t.Errorf("in process, the default profile lost its snapshot: %v", err)
	}
}
