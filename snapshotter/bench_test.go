//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// Each benchmark runs brisk and containerd's built-in overlayfs snapshotter
// side by side, in-process and through a real gRPC socket, so the report
// compares them within one run on one machine.

type benchSnapshotter struct {
	name string
	make func(b *testing.B, root string) (snapshots.Snapshotter, func())
}

func benchSnapshotters() []benchSnapshotter {
	brisk := func(b *testing.B, root string) (snapshots.Snapshotter, func()) {
		sn, err := New(context.Background(), filepath.Join(root, "brisk"),
			WithTmpfsLimits(upper.Limits{Bytes: 64 << 20, Inodes: 64 << 10}), WithTmpfsBudget(1<<40))
		if err != nil {
			b.Fatal(err)
		}
		return sn, func() { sn.Close() }
	}
	overlayfs := func(b *testing.B, root string) (snapshots.Snapshotter, func()) {
		sn, err := overlay.NewSnapshotter(filepath.Join(root, "overlayfs"))
		if err != nil {
			b.Fatal(err)
		}
		return sn, func() { sn.Close() }
	}
	viaGRPC := func(f func(*testing.B, string) (snapshots.Snapshotter, func())) func(*testing.B, string) (snapshots.Snapshotter, func()) {
		return func(b *testing.B, root string) (snapshots.Snapshotter, func()) {
			factory := proxied(func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
				sn, done := f(b, root)
				return sn, func() error { done(); return nil }, nil
			})
			sn, done, err := factory(context.Background(), root)
			if err != nil {
				b.Fatal(err)
			}
			return sn, func() { done() }
		}
	}
	return []benchSnapshotter{
		{"brisk-tmpfs", brisk},
		{"overlayfs", overlayfs},
		{"brisk-tmpfs-grpc", viaGRPC(brisk)},
		{"overlayfs-grpc", viaGRPC(overlayfs)},
	}
}

func benchEnv(b *testing.B, s benchSnapshotter) (context.Context, snapshots.Snapshotter, string, string) {
	testutil.RequireRoot(b)
	root := b.TempDir()
	sn, done := s.make(b, root)
	b.Cleanup(func() {
		done()
		ms, _ := filepath.Glob(filepath.Join(root, "*", "snapshots", "*", "tmpfs"))
		for _, m := range ms {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	// An image layer to stack containers on, as containerd does.
	if _, err := sn.Prepare(ctx, "base-extract", "", snapshots.WithLabels(map[string]string{labelSnapshotRef: "sha256:x"})); err != nil {
		b.Fatal(err)
	}
	if err := sn.Commit(ctx, "base", "base-extract"); err != nil {
		b.Fatal(err)
	}
	return ctx, sn, root, "base"
}

// BenchmarkPrepareMountsRemove is a container's lifecycle as the snapshotter
// sees it.
func BenchmarkPrepareMountsRemove(b *testing.B) {
	for _, s := range benchSnapshotters() {
		b.Run(s.name, func(b *testing.B) {
			ctx, sn, _, parent := benchEnv(b, s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				key := fmt.Sprint("c", i)
				if _, err := sn.Prepare(ctx, key, parent); err != nil {
					b.Fatal(err)
				}
				if _, err := sn.Mounts(ctx, key); err != nil {
					b.Fatal(err)
				}
				if err := sn.Remove(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommit commits an active snapshot holding 100 small files; for
// brisk that includes copying them off the tmpfs.
func BenchmarkCommit(b *testing.B) {
	for _, s := range benchSnapshotters() {
		b.Run(s.name, func(b *testing.B) {
			ctx, sn, root, parent := benchEnv(b, s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				key := fmt.Sprint("c", i)
				ms, err := sn.Prepare(ctx, key, parent)
				if err != nil {
					b.Fatal(err)
				}
				target := filepath.Join(root, "mnt")
				_ = os.MkdirAll(target, 0o755)
				if err := mount.All(ms, target); err != nil {
					b.Fatal(err)
				}
				for f := 0; f < 100; f++ {
					if err := os.WriteFile(filepath.Join(target, fmt.Sprint("f", f)), make([]byte, 1024), 0o644); err != nil {
						b.Fatal(err)
					}
				}
				if err := mount.UnmountAll(target, 0); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := sn.Commit(ctx, fmt.Sprint("layer", i), key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUsage10kFiles is what CRI pays every 10 s per container.
func BenchmarkUsage10kFiles(b *testing.B) {
	for _, s := range benchSnapshotters() {
		b.Run(s.name, func(b *testing.B) {
			ctx, sn, root, parent := benchEnv(b, s)
			ms, err := sn.Prepare(ctx, "c", parent, snapshots.WithLabels(map[string]string{LabelTmpfsInodes: "20000"}))
			if err != nil {
				b.Fatal(err)
			}
			target := filepath.Join(root, "mnt")
			_ = os.MkdirAll(target, 0o755)
			if err := mount.All(ms, target); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = mount.UnmountAll(target, unix.MNT_DETACH) })
			for f := 0; f < 10000; f++ {
				dir := filepath.Join(target, fmt.Sprint("d", f/100))
				if f%100 == 0 {
					_ = os.Mkdir(dir, 0o755)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", f)), nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				u, err := sn.Usage(ctx, "c")
				if err != nil {
					b.Fatal(err)
				}
				if u.Inodes < 10000 {
					b.Fatalf("usage %d inodes, want >= 10000", u.Inodes)
				}
			}
		})
	}
}
