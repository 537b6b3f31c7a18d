package main

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// TestGCWithSymlinkedLocalDir runs briskctl gc, twice, on a local_dir that
// is a symlink to another disk's directory: the old logs in the target go,
// the new ones, the link, the target, and what is not a regular file stay.
func TestGCWithSymlinkedLocalDir(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "disk", "logs")
	outside := filepath.Join(base, "outside.log")
	link := filepath.Join(base, "local_dir")
	old := time.Now().Add(-48 * time.Hour)
	write := func(path string, mtime time.Time) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("log"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(target, "ns", "old.log"), old)
	write(filepath.Join(target, "ns", "old.log.meta.json"), old)
	write(filepath.Join(target, "ns", "new.log"), time.Now())
	write(filepath.Join(target, "gone", "deep", "old.log"), old)
	write(outside, old)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	// The link was made long ago, when local_dir moved to its disk.
	ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	// A link in the tree to a file elsewhere, and a FIFO: neither is a log.
	inner := filepath.Join(target, "ns", "elsewhere.log")
	if err := os.Symlink(outside, inner); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(target, "ns", "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(fifo, old, old)
	cfg := filepath.Join(base, "config.toml")
	if err := os.WriteFile(cfg, []byte("[logs]\nlocal_dir = \""+link+"\"\nspool_dir = \""+filepath.Join(base, "spool")+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		var out bytes.Buffer
		app := &cli.App{Name: "briskctl", Writer: &out, ErrWriter: &out,
			Flags:    []cli.Flag{&cli.StringFlag{Name: "config"}},
			Commands: []*cli.Command{gcCommand}}
		if err := app.Run([]string{"briskctl", "--config", cfg, "gc", "--older-than", "24h"}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %s", round, out.String())
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("round %d: local_dir symlink is gone: %v", round, err)
		}
		for _, gone := range []string{"ns/old.log", "ns/old.log.meta.json", "gone"} {
			if _, err := os.Lstat(filepath.Join(target, gone)); !os.IsNotExist(err) {
				t.Errorf("round %d: %s not collected: %v", round, gone, err)
			}
		}
		for _, kept := range []string{target, filepath.Join(target, "ns", "new.log"), inner, fifo, outside} {
			if _, err := os.Lstat(kept); err != nil {
				t.Errorf("round %d: %s removed: %v", round, kept, err)
			}
		}
		// Old logs keep arriving: the next round must collect them too.
		write(filepath.Join(target, "ns", "old.log"), old)
		write(filepath.Join(target, "ns", "old.log.meta.json"), old)
	}
	// An empty local_dir is still there after a collection.
	for _, f := range []string{"ns/new.log", "ns/elsewhere.log", "ns/pipe", "ns/old.log", "ns/old.log.meta.json"} {
		_ = os.Remove(filepath.Join(target, f))
	}
	app := &cli.App{Name: "briskctl", Writer: &bytes.Buffer{}, Flags: []cli.Flag{&cli.StringFlag{Name: "config"}}, Commands: []*cli.Command{gcCommand}}
	if err := app.Run([]string{"briskctl", "--config", cfg, "gc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("local_dir's target removed: %v", err)
	}
}
