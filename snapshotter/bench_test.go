//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

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

// BenchmarkSideBySide is BenchmarkPrepareMountsRemove with brisk and
// overlayfs measured in the same minutes: each round runs the lifecycle on
// one, then on the other (the order alternates), so that a spell of a
// shared machine (another tenant's fsyncs on the disk, a CPU hog) lands on
// both. With 50 callers, 50 lifecycles run at once in each round, as a
// burst of containers does. It reports, per snapshotter, the wall time per
// lifecycle and the p50 and p99 of a lifecycle's latency; ns/op is the two
// together.
func BenchmarkSideBySide(b *testing.B) {
	for _, path := range []string{"in-process", "grpc"} {
		for _, callers := range []int{1, 50} {
			b.Run(fmt.Sprintf("PrepareMountsRemove/%s/%d", path, callers), func(b *testing.B) {
				all := benchSnapshotters()
				pick := map[string]benchSnapshotter{}
				for _, s := range all {
					pick[s.name] = s
				}
				suffix := ""
				if path == "grpc" {
					suffix = "-grpc"
				}
				type side struct {
					name       string
					ctx        context.Context
					sn         snapshots.Snapshotter
					parent     string
					wall       time.Duration
					lat        []time.Duration
					n          int
					failed     error
					failedOnce sync.Once
					latMu      sync.Mutex
				}
				sides := []*side{{name: "brisk"}, {name: "overlayfs"}}
				for _, sd := range sides {
					name := "brisk-tmpfs" + suffix
					if sd.name == "overlayfs" {
						name = "overlayfs" + suffix
					}
					sd.ctx, sd.sn, _, sd.parent = benchEnv(b, pick[name])
				}
				round := func(sd *side, keys []string) {
					var wg sync.WaitGroup
					t0 := time.Now()
					for _, key := range keys {
						wg.Add(1)
						go func() {
							defer wg.Done()
							s0 := time.Now()
							if err := lifecycle(sd.ctx, sd.sn, key, sd.parent); err != nil {
								sd.failedOnce.Do(func() { sd.failed = err })
								return
							}
							d := time.Since(s0)
							sd.latMu.Lock()
							sd.lat = append(sd.lat, d)
							sd.latMu.Unlock()
						}()
					}
					wg.Wait()
					sd.wall += time.Since(t0)
					sd.n += len(keys)
				}
				b.ResetTimer()
				for done, r := 0, 0; done < b.N; r++ {
					n := min(callers, b.N-done)
					keys := make([]string, n)
					for i := range keys {
						keys[i] = fmt.Sprintf("c%d-%d", r, i)
					}
					first, second := sides[0], sides[1]
					if r%2 == 1 {
						first, second = second, first
					}
					round(first, keys)
					round(second, keys)
					done += n
				}
				b.StopTimer()
				for _, sd := range sides {
					if sd.failed != nil {
						b.Fatalf("%s: %v", sd.name, sd.failed)
					}
					sort.Slice(sd.lat, func(i, j int) bool { return sd.lat[i] < sd.lat[j] })
					b.ReportMetric(float64(sd.wall.Nanoseconds())/float64(sd.n), sd.name+"-ns/op")
					b.ReportMetric(float64(sd.lat[len(sd.lat)/2].Nanoseconds()), sd.name+"-p50-ns")
					b.ReportMetric(float64(sd.lat[(len(sd.lat)*99)/100].Nanoseconds()), sd.name+"-p99-ns")
				}
			})
		}
	}
}

// lifecycle is a container's life as the snapshotter sees it.
func lifecycle(ctx context.Context, sn snapshots.Snapshotter, key, parent string) error {
	if _, err := sn.Prepare(ctx, key, parent); err != nil {
		return err
	}
	if _, err := sn.Mounts(ctx, key); err != nil {
		return err
	}
	return sn.Remove(ctx, key)
}
