package installer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/spool/spooltest"
)

func writeHostFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUninstallDeletesOnlyWhatBriskMade: uninstall removes the layers and
// spool Brisk made, keeps what the snapshotter's root and spool_dir held
// before the install (an operator's data, an earlier Brisk's quarantined
// logs), and keeps quarantined logs, saying where.
func TestUninstallDeletesOnlyWhatBriskMade(t *testing.T) {
	for _, tc := range []struct {
		name        string
		preExisting bool
	}{
		{name: "directories the installer made"},
		{name: "directories there before", preExisting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			root := h.in.Layout.HostRoot
			snapRoot := filepath.Join(root, "var/lib/brisk-snapshotter")
			spoolDir := filepath.Join(root, "run/brisk/spool")
			var oldLog string
			if tc.preExisting {
				writeHostFile(t, filepath.Join(snapRoot, "operator/data.txt"), "mine\n")
				writeHostFile(t, filepath.Join(spoolDir, "operator-notes"), "mine too\n")
				oldLog = spooltest.Quarantined(t, spoolDir, "earlier-task")
			}
			before := hostTree(t, root)
			h.install(t)

			// What the daemons write while Brisk runs.
			writeHostFile(t, filepath.Join(snapRoot, "metadata.db"), "bolt")
			writeHostFile(t, filepath.Join(snapRoot, "snapshots/1/fs/file"), "layer")
			writeHostFile(t, filepath.Join(spoolDir, "retrier-state"), "{}")
			newLog := spooltest.Quarantined(t, spoolDir, "task")

			res, err := h.in.Uninstall(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, dir := range []string{oldLog, newLog} {
				if dir == "" {
					continue
				}
				if _, err := os.Stat(filepath.Join(dir, spool.LogFile)); err != nil {
					t.Errorf("quarantined log removed: %v", err)
				}
				hostDir := "/" + strings.TrimPrefix(dir, root+"/")
				if !slices.ContainsFunc(res.Kept, func(k string) bool { return strings.HasPrefix(k, hostDir+": ") }) {
					t.Errorf("uninstall does not say it kept %s: %q", hostDir, res.Kept)
				}
			}
			for _, p := range []string{"metadata.db", "snapshots"} {
				if _, err := os.Lstat(filepath.Join(snapRoot, p)); !os.IsNotExist(err) {
					t.Errorf("brisk's %s left in the snapshotter's root: %v", p, err)
				}
			}
			if _, err := os.Lstat(filepath.Join(spoolDir, "retrier-state")); !os.IsNotExist(err) {
				t.Errorf("brisk's file left in the spool: %v", err)
			}
			// The rest is as it was, but for the new quarantined log
			// and the directories that hold it.
			rel := strings.TrimPrefix(newLog, root+"/")
			var after []string
			for _, e := range hostTree(t, root) {
				p := strings.Fields(e)[0]
				if p == rel || strings.HasPrefix(p, rel+"/") || strings.HasPrefix(rel, p+"/") && !slices.Contains(before, e) {
					continue
				}
				after = append(after, e)
			}
			if !slices.Equal(after, before) {
				t.Errorf("host after uninstall:\n%q\nbefore:\n%q", after, before)
			}
		})
	}
}

// TestUninstallKeepsUnrecordedData: a data directory that was there before
// an install which recorded nothing of it (an older installer) cannot be
// told apart from what came after: all of it stays, and uninstall says so.
func TestUninstallKeepsUnrecordedData(t *testing.T) {
	h := newTestHost(t)
	root := h.in.Layout.HostRoot
	snapRoot := filepath.Join(root, "var/lib/brisk-snapshotter")
	writeHostFile(t, filepath.Join(snapRoot, "operator/data.txt"), "mine\n")
	h.install(t)
	writeHostFile(t, filepath.Join(snapRoot, "metadata.db"), "bolt")
	st, err := loadState(h.in.Layout)
	if err != nil {
		t.Fatal(err)
	}
	st.PreExisting = nil
	if err := st.save(h.in.Layout); err != nil {
		t.Fatal(err)
	}
	res, err := h.in.Uninstall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"operator/data.txt", "metadata.db"} {
		if _, err := os.Stat(filepath.Join(snapRoot, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !slices.ContainsFunc(res.Kept, func(k string) bool { return strings.HasPrefix(k, "/var/lib/brisk-snapshotter: ") }) {
		t.Errorf("uninstall does not say it kept the root: %q", res.Kept)
	}
}
