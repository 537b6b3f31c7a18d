//go:build linux

package snapshotter

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/containerd/containerd/v2/core/snapshots/testsuite"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// mountUpperDir mounts a noatime tmpfs to stand in for a dedicated upper_dir
// mount (the XFS variant with quotas is tested end to end).
func mountUpperDir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("upperdir-test", dir, "tmpfs", unix.MS_NOATIME|unix.MS_NODIRATIME, "size=512m"); err != nil {
		t.Fatalf("mount upper_dir: %v", err)
	}
}

// newFactory returns a testsuite factory for a snapshotter with opts; with
// dirBackend it also mounts an upper_dir under the suite's root.
func newFactory(dirBackend bool, opts ...Opt) testsuite.SnapshotterFunc {
	return func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		o := append([]Opt{WithTmpfsLimits(upper.Limits{Bytes: 32 << 20, Inodes: 4096}), WithTmpfsBudget(8 << 30)}, opts...)
		upperDir := filepath.Join(root, "upper")
		if dirBackend {
			if err := os.MkdirAll(upperDir, 0o700); err != nil {
				return nil, nil, err
			}
			if err := unix.Mount("upperdir-test", upperDir, "tmpfs", unix.MS_NOATIME, "size=512m"); err != nil {
				return nil, nil, err
			}
			o = append(o, WithBackend(upper.KindDir), WithUpperDir(upperDir))
		}
		sn, err := New(ctx, filepath.Join(root, "brisk"), o...)
		if err != nil {
			if dirBackend {
				_ = unix.Unmount(upperDir, unix.MNT_DETACH)
			}
			return nil, nil, err
		}
		return sn, func() error {
			err := sn.Close()
			unmountUnder(root)
			return err
		}, nil
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	for _, p := range []string{filepath.Join(dir, "upper")} {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "brisk", "snapshots", "*", "tmpfs"))
	for _, m := range matches {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}

// proxied serves sn over a real gRPC unix socket with containerd's snapshot
// service and returns containerd's proxy client for it: the same path
// containerd's [proxy_plugins] takes.
func proxied(factory testsuite.SnapshotterFunc) testsuite.SnapshotterFunc {
	return func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		sn, cleanup, err := factory(ctx, root)
		if err != nil {
			return nil, nil, err
		}
		sock := filepath.Join(root, "s.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		srv := grpc.NewServer()
		snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
		go srv.Serve(l)
		conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			srv.Stop()
			cleanup()
			return nil, nil, err
		}
		return proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "brisk"), func() error {
			conn.Close()
			srv.Stop()
			return cleanup()
		}, nil
	}
}

func TestConformance(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name    string
		factory testsuite.SnapshotterFunc
	}{
		{"Tmpfs", newFactory(false)},
		{"Dir", newFactory(true)},
		{"TmpfsProxy", proxied(newFactory(false))},
		{"DirProxy", proxied(newFactory(true))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The suite keys overlayfs's kernel limits (renaming a lower
			// directory needs redirect_dir) on this name; Brisk mounts
			// overlayfs exactly as containerd's snapshotter does.
			testsuite.SnapshotterSuite(t, "overlayfs", tc.factory)
		})
	}
}
