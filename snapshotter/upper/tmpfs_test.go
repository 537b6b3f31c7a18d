package upper_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// TestReleaseRefusesAHeldTmpfs: Release detaches an unused tmpfs (without
// waiting for the kernel to finish it), but never one that something still
// holds, which would keep its memory out of sight: an open file, a working
// directory, a mount on top. Each makes Release fail with ErrBusy and leave
// the tmpfs mounted, whole; once let go, Release takes it.
func TestReleaseRefusesAHeldTmpfs(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hold func(t *testing.T, mnt string) (letGo func())
	}{
		{"an open file", func(t *testing.T, mnt string) func() {
			f, err := os.Open(filepath.Join(upper.FS(mnt), "data"))
			testutil.Must(t, err)
			return func() { f.Close() }
		}},
		{"a mount on a directory in it", func(t *testing.T, mnt string) func() {
			sub := filepath.Join(upper.FS(mnt), "sub")
			testutil.Must(t, os.Mkdir(sub, 0o755))
			testutil.Must(t, unix.Mount("held", sub, "tmpfs", 0, "size=1m"))
			return func() { testutil.Must(t, unix.Unmount(sub, 0)) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := upper.NewTmpfsPool(t.TempDir(), 64<<20)
			const id = "7"
			l := upper.Limits{Bytes: 8 << 20, Inodes: 1000}
			testutil.Must(t, p.Reserve(id, l))
			testutil.Must(t, p.Create(ctx, id, l))
			mnt := p.Path(id)
			t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
			testutil.Must(t, os.WriteFile(filepath.Join(upper.FS(mnt), "data"), []byte("kept"), 0o644))
			letGo := tc.hold(t, mnt)

			if err := p.Release(ctx, id); !errors.Is(err, upper.ErrBusy) {
				t.Fatalf("Release of a held tmpfs: %v, want ErrBusy", err)
			}
			if ok, err := upper.Mounted(mnt); err != nil || !ok {
				t.Fatalf("tmpfs mounted after a refused Release: %v, %v", ok, err)
			}
			if data, err := os.ReadFile(filepath.Join(upper.FS(mnt), "data")); err != nil || string(data) != "kept" {
				t.Errorf("content after a refused Release: %q, %v", data, err)
			}
			letGo()
			testutil.Must(t, p.Release(ctx, id))
			if ok, err := upper.Mounted(mnt); err != nil || ok {
				t.Errorf("tmpfs mounted after Release: %v, %v", ok, err)
			}
		})
	}
}
