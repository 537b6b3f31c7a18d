//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/snapshotter/upper"
)

type env struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	root string
	sn   *Snapshotter
}

// newEnv opens a snapshotter in a fresh directory and guarantees that every
// mount made below it is gone when the test ends, pass or fail.
func newEnv(t *testing.T, opts ...Opt) *env {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	e := &env{t: t, ctx: namespaces.WithNamespace(context.Background(), "test"), dir: dir, root: filepath.Join(dir, "root")}
	t.Cleanup(func() {
		if e.sn != nil {
			e.sn.Close()
		}
		for _, m := range mountsUnder(t, dir) {
			_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		}
	})
	e.open(opts...)
	return e
}

func (e *env) open(opts ...Opt) {
	e.t.Helper()
	base := []Opt{WithTmpfsLimits(upper.Limits{Bytes: 8 << 20, Inodes: 1000}), WithTmpfsBudget(64 << 20)}
	sn, err := New(e.ctx, e.root, append(base, opts...)...)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.sn = sn
}

func (e *env) reopen(opts ...Opt) {
	e.t.Helper()
	if err := e.sn.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.sn = nil
	e.open(opts...)
}

// mountTarget mounts ms at a new directory and unmounts it at test end.
func (e *env) mountTarget(name string, ms []mount.Mount) string {
	e.t.Helper()
	target := filepath.Join(e.dir, "mnt-"+name)
	if err := os.MkdirAll(target, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := mount.All(ms, target); err != nil {
		e.t.Fatalf("mount %v: %v", ms, err)
	}
	e.t.Cleanup(func() { _ = mount.UnmountAll(target, unix.MNT_DETACH) })
	return target
}

// baseLayer commits a layer holding a file and a directory with content.
func (e *env) baseLayer(name string) string {
	e.t.Helper()
	ms, err := e.sn.Prepare(e.ctx, name+"-extract", "", snapshots.WithLabels(map[string]string{labelSnapshotRef: "sha256:abc"}))
	if err != nil {
		e.t.Fatal(err)
	}
	target := e.mountTarget(name, ms)
	must(e.t, os.WriteFile(filepath.Join(target, "lower-file"), []byte("lower"), 0o644))
	must(e.t, os.MkdirAll(filepath.Join(target, "lower-dir", "sub"), 0o755))
	must(e.t, os.WriteFile(filepath.Join(target, "lower-dir", "sub", "f"), []byte("x"), 0o644))
	must(e.t, mount.UnmountAll(target, 0))
	if err := e.sn.Commit(e.ctx, name, name+"-extract"); err != nil {
		e.t.Fatal(err)
	}
	return name
}

// The shared test helpers, under the names these tests use.
var (
	must        = testutil.Must
	mountsUnder = testutil.MountsUnder
)

func tmpfsMount(t *testing.T, dir string) *mountinfo.Info {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		return nil
	}
	return ms[0]
}

func optionOf(ms []mount.Mount, prefix string) (string, bool) {
	for _, o := range ms[0].Options {
		if strings.HasPrefix(o, prefix) {
			return o, true
		}
	}
	return "", false
}

func TestPlacement(t *testing.T) {
	e := newEnv(t)
	parent := e.baseLayer("base")
	for _, tc := range []struct {
		name      string
		key       string // default: from name
		kind      snapshots.Kind
		labels    map[string]string
		wantTmpfs bool
		wantSize  string // tmpfs size= option as the kernel shows it
		wantIno   string
	}{
		{name: "container rootfs", kind: snapshots.KindActive, wantTmpfs: true, wantSize: "size=8192k", wantIno: "nr_inodes=1000"},
		{name: "bare label overrides", kind: snapshots.KindActive, labels: map[string]string{LabelTmpfsSize: "4Mi", LabelTmpfsInodes: "50"}, wantTmpfs: true, wantSize: "size=4096k", wantIno: "nr_inodes=50"},
		{name: "forwarded label overrides", kind: snapshots.KindActive, labels: map[string]string{LabelPrefix + LabelTmpfsSize: "2Mi", LabelPrefix + LabelTmpfsInodes: "70"}, wantTmpfs: true, wantSize: "size=2048k", wantIno: "nr_inodes=70"},
		{name: "unpack stays on root", kind: snapshots.KindActive, labels: map[string]string{labelSnapshotRef: "sha256:def"}},
		{name: "view stays on root", kind: snapshots.KindView},
		// containerd's client-side unpack (ctr run, ctr images mount)
		// labels nothing: the key alone says it is a layer.
		{name: "unlabelled unpack stays on root", key: "ns/3/extract-123 " + digest.FromString("layer").String(), kind: snapshots.KindActive},
		{name: "profile's unlabelled unpack stays on root", key: "@small/ns/4/extract-124 " + digest.FromString("layer").String(), kind: snapshots.KindActive},
		{name: "container named extract", key: "ns/5/extract-job", kind: snapshots.KindActive, wantTmpfs: true, wantSize: "size=8192k", wantIno: "nr_inodes=1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" {
				key = "k-" + strings.ReplaceAll(tc.name, " ", "-")
			}
			var ms []mount.Mount
			var err error
			if tc.kind == snapshots.KindView {
				ms, err = e.sn.View(e.ctx, key, parent, snapshots.WithLabels(tc.labels))
			} else {
				ms, err = e.sn.Prepare(e.ctx, key, parent, snapshots.WithLabels(tc.labels))
			}
			must(t, err)
			defer func() { must(t, e.sn.Remove(e.ctx, key)) }()
			id, _, _, _ := e.id(key)
			tm := tmpfsMount(t, e.sn.tmpfsDir(id))
			if (tm != nil) != tc.wantTmpfs {
				t.Fatalf("tmpfs mounted = %v, want %v", tm != nil, tc.wantTmpfs)
			}
			if tc.wantTmpfs {
				for _, want := range []string{"noatime", "nodiratime"} {
					if !slices.Contains(strings.Split(tm.Options, ","), want) {
						t.Errorf("tmpfs options %q lack %s", tm.Options, want)
					}
				}
				for _, want := range []string{tc.wantSize, tc.wantIno} {
					if !strings.Contains(tm.VFSOptions, want) {
						t.Errorf("tmpfs super options %q lack %s", tm.VFSOptions, want)
					}
				}
				if up, _ := optionOf(ms, "upperdir="); up != "upperdir="+filepath.Join(e.sn.tmpfsDir(id), "fs") {
					t.Errorf("upperdir = %q", up)
				}
				if w, _ := optionOf(ms, "workdir="); w != "workdir="+filepath.Join(e.sn.tmpfsDir(id), "work") {
					t.Errorf("workdir = %q", w)
				}
			}
			if ms[0].Type == "overlay" {
				for _, want := range []string{"noatime", "nodiratime"} {
					if !slices.Contains(ms[0].Options, want) {
						t.Errorf("overlay options %v lack %s", ms[0].Options, want)
					}
				}
			}
		})
	}
}

// id returns the internal ID of key.
func (e *env) id(key string) (string, snapshots.Info, snapshots.Usage, error) {
	var id string
	err := e.sn.ms.WithTransaction(e.ctx, false, func(ctx context.Context) (err error) {
		id, _, _, err = getInfo(ctx, key)
		return err
	})
	return id, snapshots.Info{}, snapshots.Usage{}, err
}

func TestBadLabelsLeaveNothing(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{LabelTmpfsSize: "-1Mi"}, `brisk.io/tmpfs.size="-1Mi"`},
		{map[string]string{LabelTmpfsSize: "lots"}, `brisk.io/tmpfs.size="lots"`},
		{map[string]string{LabelTmpfsSize: "0"}, `brisk.io/tmpfs.size="0"`},
		{map[string]string{LabelTmpfsSize: "1Ti"}, "tmpfs_budget"},
		{map[string]string{LabelTmpfsInodes: "-5"}, `brisk.io/tmpfs.inodes="-5"`},
		{map[string]string{LabelTmpfsInodes: "16Pi"}, `brisk.io/tmpfs.inodes="16Pi": must be from 32 (fewer cannot hold a container's rootfs) to 18014398509481983`},
		{map[string]string{LabelPrefix + LabelTmpfsInodes: "99999999999999999"}, `containerd.io/snapshot/brisk.io/tmpfs.inodes="99999999999999999": must be from 32`},
		{map[string]string{LabelTmpfsInodes: "1"}, `brisk.io/tmpfs.inodes="1": must be from 32`},
		{map[string]string{LabelTmpfsInodes: "3"}, `brisk.io/tmpfs.inodes="3": must be from 32`},
		{map[string]string{LabelVolatile: "maybe"}, `brisk.io/volatile="maybe"`},
		{map[string]string{LabelPrefix + LabelTmpfsSize: "-1Mi"}, `containerd.io/snapshot/brisk.io/tmpfs.size="-1Mi"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := e.sn.Prepare(e.ctx, "bad", "", snapshots.WithLabels(tc.labels))
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v: want invalid argument naming %s", err, tc.want)
			}
			if ms := mountsUnder(t, e.root); len(ms) != 0 {
				t.Fatalf("leaked mounts: %v", ms[0].Mountpoint)
			}
			entries, _ := os.ReadDir(filepath.Join(e.root, "snapshots"))
			if len(entries) != 0 {
				t.Fatalf("leaked snapshot directories: %v", entries)
			}
			if _, err := e.sn.Stat(e.ctx, "bad"); !errdefs.IsNotFound(err) {
				t.Fatalf("snapshot exists after failed prepare: %v", err)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	// Budget 64Mi, 8Mi each: eight fit, the ninth does not.
	t.Run("fail", func(t *testing.T) {
		e := newEnv(t)
		for i := range 8 {
			_, err := e.sn.Prepare(e.ctx, fmt.Sprint("c", i), "")
			must(t, err)
		}
		_, err := e.sn.Prepare(e.ctx, "c8", "")
		if !errors.Is(err, errdefs.ErrResourceExhausted) {
			t.Fatalf("ninth prepare: %v, want resource exhausted", err)
		}
		if limit, inUse := e.sn.Budget(); limit != 64<<20 || inUse != 64<<20 {
			t.Fatalf("budget %d/%d", inUse, limit)
		}
		must(t, e.sn.Remove(e.ctx, "c0"))
		if _, inUse := e.sn.Budget(); inUse != 56<<20 {
			t.Fatalf("remove did not release budget: %d", inUse)
		}
		_, err = e.sn.Prepare(e.ctx, "c8", "")
		must(t, err)
	})
	t.Run("fallback to dir", func(t *testing.T) {
		dir := t.TempDir()
		upperDir := filepath.Join(dir, "upper")
		mountUpperDir(t, upperDir)
		t.Cleanup(func() { _ = unix.Unmount(upperDir, unix.MNT_DETACH) })
		e := newEnv(t, WithUpperDir(upperDir), WithFallbackToDir(), WithVolatile())
		base := e.baseLayer("base")
		for i := range 8 {
			_, err := e.sn.Prepare(e.ctx, fmt.Sprint("c", i), base)
			must(t, err)
		}
		ms, err := e.sn.Prepare(e.ctx, "c8", base)
		must(t, err)
		id, _, _, _ := e.id("c8")
		if up, _ := optionOf(ms, "upperdir="); up != "upperdir="+filepath.Join(upperDir, id, "fs") {
			t.Fatalf("overflow snapshot upper %q, want it in upper_dir", up)
		}
		if _, ok := optionOf(ms, "volatile"); !ok {
			t.Fatalf("dir upper with volatile configured lacks volatile: %v", ms[0].Options)
		}
		target := e.mountTarget("c8", ms)
		must(t, os.WriteFile(filepath.Join(target, "f"), []byte("data"), 0o644))
		must(t, mount.UnmountAll(target, 0))
		must(t, e.sn.Remove(e.ctx, "c8"))
		if _, err := os.Stat(filepath.Join(upperDir, id)); !os.IsNotExist(err) {
			t.Fatalf("dir upper not removed: %v", err)
		}
	})
}

func TestUsageIsStatfsOfTheTmpfs(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	ms, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	// Measured after mounting: overlayfs creates its own entries in the
	// workdir at mount time.
	target := e.mountTarget("c", ms)
	before, err := e.sn.Usage(e.ctx, "c")
	must(t, err)
	const files, size = 200, 10000
	for i := range files {
		must(t, os.WriteFile(filepath.Join(target, fmt.Sprint("f", i)), make([]byte, size), 0o644))
	}
	after, err := e.sn.Usage(e.ctx, "c")
	must(t, err)
	if got := after.Inodes - before.Inodes; got != files {
		t.Errorf("inodes grew by %d, want %d", got, files)
	}
	// tmpfs charges whole pages: 10000 bytes take 3 pages.
	if got, want := after.Size-before.Size, int64(files*3*os.Getpagesize()); got != want {
		t.Errorf("bytes grew by %d, want %d", got, want)
	}
	report, err := e.sn.Report(e.ctx)
	must(t, err)
	if len(report) != 1 || report[0].Key != "c" || report[0].InodesUsed != after.Inodes || report[0].InodesLimit != 1000 || report[0].BytesLimit != 8<<20 {
		t.Fatalf("report %+v does not match usage %+v", report, after)
	}
}

func TestInodeLimitGivesENOSPC(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	ms, err := e.sn.Prepare(e.ctx, "small", base, snapshots.WithLabels(map[string]string{LabelTmpfsInodes: fmt.Sprint(config.MinTmpfsInodes)}))
	must(t, err)
	neighbour, err := e.sn.Prepare(e.ctx, "neighbour", base)
	must(t, err)
	small := e.mountTarget("small", ms)
	other := e.mountTarget("neighbour", neighbour)
	var lastErr error
	for i := range 100 {
		if lastErr = os.WriteFile(filepath.Join(small, fmt.Sprint("f", i)), nil, 0o644); lastErr != nil {
			break
		}
	}
	if !errors.Is(lastErr, syscall.ENOSPC) {
		t.Fatalf("filling %d inodes ended with %v, want ENOSPC", config.MinTmpfsInodes, lastErr)
	}
	must(t, os.WriteFile(filepath.Join(other, "still-fine"), []byte("ok"), 0o644))
}

func TestCommitCopiesTmpfsUpperFaithfully(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	ms, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	id, _, _, _ := e.id("c")
	target := e.mountTarget("c", ms)
	must(t, os.Remove(filepath.Join(target, "lower-file")))         // whiteout
	must(t, os.RemoveAll(filepath.Join(target, "lower-dir")))       // whiteout of a dir
	must(t, os.MkdirAll(filepath.Join(target, "lower-dir"), 0o750)) // ... recreated: opaque
	must(t, os.WriteFile(filepath.Join(target, "a"), []byte("hardlinked"), 0o640))
	must(t, os.Link(filepath.Join(target, "a"), filepath.Join(target, "b")))
	sparse, err := os.Create(filepath.Join(target, "sparse"))
	must(t, err)
	_, err = sparse.WriteAt([]byte("end"), 64<<20)
	must(t, err)
	must(t, sparse.Close())
	must(t, unix.Setxattr(filepath.Join(target, "a"), "user.brisk", []byte("kept"), 0))
	must(t, mount.UnmountAll(target, 0))

	must(t, e.sn.Commit(e.ctx, "layer", "c"))

	layer := e.sn.persistentFS(id)
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(layer, "lower-file"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout of lower-file not kept: mode %o rdev %d", st.Mode, st.Rdev)
	}
	opaque := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(layer, "lower-dir"), "trusted.overlay.opaque", opaque)
	if err != nil || string(opaque[:n]) != "y" {
		t.Errorf("opaque dir not kept: %q %v", opaque[:n], err)
	}
	var sa, sb unix.Stat_t
	must(t, unix.Lstat(filepath.Join(layer, "a"), &sa))
	must(t, unix.Lstat(filepath.Join(layer, "b"), &sb))
	if sa.Ino != sb.Ino {
		t.Errorf("hardlink broken: %d != %d", sa.Ino, sb.Ino)
	}
	x := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(layer, "a"), "user.brisk", x); err != nil || string(x[:n]) != "kept" {
		t.Errorf("xattr not kept: %q %v", x[:n], err)
	}
	var ss unix.Stat_t
	must(t, unix.Stat(filepath.Join(layer, "sparse"), &ss))
	if ss.Size != 64<<20+3 || ss.Blocks*512 > 1<<20 {
		t.Errorf("sparse file: size %d, %d bytes allocated", ss.Size, ss.Blocks*512)
	}
	if tmpfsMount(t, e.sn.tmpfsDir(id)) != nil {
		t.Errorf("tmpfs still mounted after commit")
	}
	if _, inUse := e.sn.Budget(); inUse != 0 {
		t.Errorf("budget not released after commit: %d", inUse)
	}
	// A child of the committed layer sees the result.
	child, err := e.sn.View(e.ctx, "view", "layer")
	must(t, err)
	v := e.mountTarget("view", child)
	if data, err := os.ReadFile(filepath.Join(v, "b")); err != nil || string(data) != "hardlinked" {
		t.Errorf("view of committed layer: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(v, "lower-file")); !os.IsNotExist(err) {
		t.Errorf("whiteout ineffective in view: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(v, "lower-dir")); len(entries) != 0 {
		t.Errorf("opaque dir shows lower entries: %v", entries)
	}
}

func TestRestartKeepsLiveTmpfs(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	ms, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	target := e.mountTarget("c", ms)
	must(t, os.WriteFile(filepath.Join(target, "survives"), []byte("yes"), 0o644))

	e.reopen()
	if data, err := os.ReadFile(filepath.Join(target, "survives")); err != nil || string(data) != "yes" {
		t.Fatalf("container lost its data over a restart: %q %v", data, err)
	}
	if _, inUse := e.sn.Budget(); inUse != 8<<20 {
		t.Fatalf("budget not adopted: %d", inUse)
	}
	u, err := e.sn.Usage(e.ctx, "c")
	must(t, err)
	if u.Inodes < 4 {
		t.Fatalf("usage after restart %+v", u)
	}
	must(t, mount.UnmountAll(target, 0))
	must(t, e.sn.Remove(e.ctx, "c"))
	if ms := mountsUnder(t, e.root); len(ms) != 0 {
		t.Fatalf("mount left after remove: %s", ms[0].Mountpoint)
	}
}

func TestRebootRecreatesEmptyTmpfs(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")
	_, err := e.sn.Prepare(e.ctx, "c", base)
	must(t, err)
	id, _, _, _ := e.id("c")
	must(t, e.sn.Close())
	e.sn = nil
	// A reboot: every tmpfs is gone, the metadata is not.
	must(t, unix.Unmount(e.sn2dir(id), 0))
	e.open()
	if tmpfsMount(t, e.sn.tmpfsDir(id)) == nil {
		t.Fatal("tmpfs not recreated at start")
	}
	// And if it vanishes while running, Mounts brings it back.
	must(t, unix.Unmount(e.sn.tmpfsDir(id), 0))
	ms, err := e.sn.Mounts(e.ctx, "c")
	must(t, err)
	target := e.mountTarget("c", ms)
	must(t, os.WriteFile(filepath.Join(target, "new"), nil, 0o644))
	must(t, mount.UnmountAll(target, 0))
	must(t, e.sn.Remove(e.ctx, "c"))
	if ms := mountsUnder(t, e.root); len(ms) != 0 {
		t.Fatalf("mount left after remove: %s", ms[0].Mountpoint)
	}
}

func (e *env) sn2dir(id string) string { return filepath.Join(e.root, "snapshots", id, "tmpfs") }

func TestCleanupRemovesOrphanTmpfs(t *testing.T) {
	e := newEnv(t)
	orphan := filepath.Join(e.root, "snapshots", "999")
	must(t, os.MkdirAll(orphan, 0o700))
	must(t, upper.MountTmpfs(filepath.Join(orphan, "tmpfs"), upper.Limits{Bytes: 1 << 20, Inodes: 10}))
	must(t, upper.WriteRecord(orphan, upper.Record{Kind: upper.KindTmpfs, Limits: upper.Limits{Bytes: 1 << 20, Inodes: 10}}))
	must(t, e.sn.Cleanup(e.ctx))
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan not removed: %v", err)
	}
	if ms := mountsUnder(t, e.root); len(ms) != 0 {
		t.Fatalf("orphan mount left: %s", ms[0].Mountpoint)
	}
}
