package upper_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/brisk-containers/brisk/internal/testutil"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// TestBackendsKeepTheContract runs every backend through the life the
// snapshotter gives an upper, so that a backend added later is held to the
// same promises: Create makes fs and work, Present and Usage see it, Release
// takes it away and is idempotent, and a booking past a budget is refused.
func TestBackendsKeepTheContract(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	limits := upper.Limits{Bytes: 4 << 20, Inodes: 1000}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) upper.Backend
		// limited: Usage reports the limits it enforces.
		limited bool
	}{
		{"root", func(t *testing.T) upper.Backend { return upper.RootStore{Dir: t.TempDir()} }, false},
		{"tmpfs", func(t *testing.T) upper.Backend { return upper.NewTmpfsPool(t.TempDir(), 6<<20) }, true},
		{"dir", func(t *testing.T) upper.Backend {
			dir := t.TempDir()
			testutil.Must(t, unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOATIME|unix.MS_NODIRATIME, "size=64m"))
			t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
			d, err := upper.OpenDirStore(ctx, dir)
			testutil.Must(t, err)
			return d
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.open(t)
			const id = "7"
			if b.Kind() == upper.KindRoot {
				// The snapshot's directory is the root's upper: the
				// snapshotter makes it, the backend only names it.
				testutil.Must(t, os.MkdirAll(b.Path(id), 0o700))
				testutil.Must(t, upper.MakeDirs(b.Path(id)))
			}
			testutil.Must(t, b.Reserve(id, limits))
			testutil.Must(t, b.Create(ctx, id, limits))
			if ok, err := b.Present(id); err != nil || !ok {
				t.Fatalf("Present after Create = %v, %v", ok, err)
			}
			for _, d := range []string{upper.FS(b.Path(id)), upper.Work(b.Path(id))} {
				if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
					t.Fatalf("%s: %v", d, err)
				}
			}
			testutil.Must(t, os.WriteFile(filepath.Join(upper.FS(b.Path(id)), "f"), make([]byte, 64<<10), 0o644))
			u, err := b.Usage(ctx, id, limits)
			testutil.Must(t, err)
			if u.BytesUsed < 64<<10 || u.InodesUsed < 1 {
				t.Errorf("Usage = %+v, want at least the 64 KiB file written", u)
			}
			if tc.limited && (u.BytesLimit != limits.Bytes || u.InodesLimit != limits.Inodes) {
				t.Errorf("Usage limits = %d bytes, %d inodes, want %+v", u.BytesLimit, u.InodesLimit, limits)
			}
			if tc.limited {
				if err := b.Reserve("8", limits); !errdefs.IsResourceExhausted(err) {
					t.Errorf("Reserve past the budget: %v, want resource exhausted", err)
				}
			}
			testutil.Must(t, b.Release(ctx, id))
			b.Unreserve(id)
			if b.Kind() != upper.KindRoot {
				if ok, err := b.Present(id); err != nil || ok {
					t.Errorf("Present after Release = %v, %v", ok, err)
				}
			}
			if err := b.Release(ctx, id); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("second Release: %v, want it idempotent", err)
			}
			if tc.limited {
				testutil.Must(t, b.Reserve("8", limits)) // the booking came back
			}
		})
	}
}
