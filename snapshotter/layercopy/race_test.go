package layercopy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// secret marks every byte of the host that a layer must never contain.
const secret = "HOST-SECRET-7f3a"

// TestCopyNeverFollowsSwappedSymlinks copies an upper while a writer inside
// it keeps exchanging (renameat2 RENAME_EXCHANGE, atomic) a file and a
// directory with symlinks to a host file and a host directory. The copy runs
// as root, so one followed symlink reads the host file into the layer, or
// creates files in the host directory through a copied symlink.
func TestCopyNeverFollowsSwappedSymlinks(t *testing.T) {
	testutil.RequireRoot(t)
	forEachLookup(t, testNeverFollowsSwappedSymlinks)
}

func testNeverFollowsSwappedSymlinks(t *testing.T, newCopier func() *copier) {
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "shadow"), []byte(secret), 0o600))
	must(t, os.Mkdir(filepath.Join(host, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(host, "etc", "passwd"), []byte(secret), 0o644))
	hostBefore := testutil.LstatTree(t, host)

	src := tmpfs(t)
	p := func(n string) string { return filepath.Join(src, n) }
	// Enough entries that the copy takes a while, the swapped ones among them.
	for _, d := range []string{"a", "d", "z"} {
		must(t, os.Mkdir(p(d), 0o755))
		for i := range 20 {
			must(t, os.WriteFile(filepath.Join(p(d), fmt.Sprint("f", i)), []byte("container"), 0o644))
		}
	}
	must(t, os.WriteFile(p("d/file"), []byte("container"), 0o644))
	must(t, os.Symlink(filepath.Join(host, "shadow"), p("d/file-link")))
	must(t, os.Symlink(filepath.Join(host, "etc"), p("dir-link")))
	must(t, os.WriteFile(p("file"), []byte("container"), 0o644))
	must(t, os.Symlink(filepath.Join(host, "shadow"), p("file-link")))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var swaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		pairs := [][2]string{{"d", "dir-link"}, {"d/file", "d/file-link"}, {"file", "file-link"}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, pr := range pairs {
				// d/file may be away while d is swapped out: ENOENT is fine.
				if unix.Renameat2(unix.AT_FDCWD, p(pr[0]), unix.AT_FDCWD, p(pr[1]), unix.RENAME_EXCHANGE) == nil {
					swaps.Add(1)
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	const iterations = 200
	// Bounded in time too: on a loaded machine the writer and the copy
	// share two cores.
	deadline := time.Now().Add(20 * time.Second)
	// The layer on a tmpfs too: the disk is slow and shared, and what is
	// checked does not depend on where the layer lands.
	out := tmpfs(t)
	i := 0
	for ; i < iterations && time.Now().Before(deadline); i++ {
		dst := filepath.Join(out, "layer")
		// Escapes first: a failed copy may still have leaked.
		err := newCopier().copy(context.Background(), dst, src)
		if leak := testutil.FileHolding(t, dst, secret); leak != "" {
			t.Fatalf("iteration %d: host file content in the layer at %s", i, leak)
		}
		if changed := testutil.ChangedPaths(hostBefore, testutil.LstatTree(t, host)); len(changed) > 0 {
			t.Fatalf("iteration %d: written outside the layer: %v", i, changed)
		}
		if err != nil {
			// The swaps never remove a name, so there is nothing to skip:
			// the copy has no reason to fail.
			t.Errorf("iteration %d: copy: %v", i, err)
		}
		must(t, os.RemoveAll(dst))
	}
	t.Logf("%d copies, %d swaps, no host file read and nothing written outside the layer", i, swaps.Load())
}

// tmpfs mounts a fresh tmpfs, as a Brisk upper is.
func tmpfs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// TestCopyRaceOutcome changes an entry just before the copy opens it and
// checks the rule Copy documents: a removed entry is skipped, a replaced one
// is copied as what it has become, a symlink never followed.
func TestCopyRaceOutcome(t *testing.T) {
	testutil.RequireRoot(t)
	forEachLookup(t, testRaceOutcome)
}

func testRaceOutcome(t *testing.T, newCopier func() *copier) {
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "shadow"), []byte(secret), 0o600))
	for _, tc := range []struct {
		name   string
		entry  string // the entry changed just before it is opened
		change func(p func(string) string) error
		check  func(t *testing.T, dst string)
	}{{
		name:   "removed file skipped",
		entry:  "file",
		change: func(p func(string) string) error { return os.Remove(p("file")) },
		check: func(t *testing.T, dst string) {
			if _, err := os.Lstat(filepath.Join(dst, "file")); !os.IsNotExist(err) {
				t.Errorf("removed file copied: %v", err)
			}
		},
	}, {
		name:   "removed directory skipped",
		entry:  "dir",
		change: func(p func(string) string) error { return os.RemoveAll(p("dir")) },
		check: func(t *testing.T, dst string) {
			if _, err := os.Lstat(filepath.Join(dst, "dir")); !os.IsNotExist(err) {
				t.Errorf("removed directory copied: %v", err)
			}
		},
	}, {
		name:  "file swapped for a symlink to a host file",
		entry: "file",
		change: func(p func(string) string) error {
			return unix.Renameat2(unix.AT_FDCWD, p("file"), unix.AT_FDCWD, p("link-to-host"), unix.RENAME_EXCHANGE)
		},
		check: func(t *testing.T, dst string) {
			if link, err := os.Readlink(filepath.Join(dst, "file")); err != nil || link != filepath.Join(host, "shadow") {
				t.Errorf("file: readlink %q %v, want the symlink copied as a symlink", link, err)
			}
		},
	}, {
		name:  "directory swapped for a symlink to a host directory",
		entry: "dir",
		change: func(p func(string) string) error {
			return unix.Renameat2(unix.AT_FDCWD, p("dir"), unix.AT_FDCWD, p("link-to-host"), unix.RENAME_EXCHANGE)
		},
		check: func(t *testing.T, dst string) {
			if link, err := os.Readlink(filepath.Join(dst, "dir")); err != nil || link != filepath.Join(host, "shadow") {
				t.Errorf("dir: readlink %q %v, want the symlink copied as a symlink", link, err)
			}
			// The directory moved to a name already copied: it is missed,
			// as it would be had the container moved it just before.
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := tmpfs(t)
			p := func(n string) string { return filepath.Join(src, n) }
			// Directory order is the filesystem's: the change happens when
			// tc.entry comes up, whatever was copied before it.
			must(t, os.WriteFile(p("file"), []byte("container"), 0o644))
			must(t, os.Mkdir(p("dir"), 0o755))
			must(t, os.WriteFile(p("dir/inner"), []byte("container"), 0o644))
			must(t, os.Symlink(filepath.Join(host, "shadow"), p("link-to-host")))
			c := newCopier()
			c.beforeOpen = func(rel string) {
				if rel == tc.entry {
					must(t, tc.change(p))
				}
			}
			dst := filepath.Join(t.TempDir(), "layer")
			must(t, c.copy(context.Background(), dst, src))
			tc.check(t, dst)
			if leak := testutil.FileHolding(t, dst, secret); leak != "" {
				t.Errorf("host file content in the layer at %s", leak)
			}
		})
	}
}

// forEachLookup runs test with openat2 and with the stepwise lookup used
// on kernels without it.
func forEachLookup(t *testing.T, test func(t *testing.T, newCopier func() *copier)) {
	for _, tc := range []struct {
		name      string
		noOpenat2 bool
	}{{"openat2", false}, {"stepwise", true}} {
		t.Run(tc.name, func(t *testing.T) {
			test(t, func() *copier {
				c := newCopier()
				c.noOpenat2 = tc.noOpenat2
				return c
			})
		})
	}
}
