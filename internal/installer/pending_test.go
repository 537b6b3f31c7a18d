package installer

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// TestUninstallRefusesPendingLogs: task logs not shipped yet keep Brisk
// installed, and the installer asks about the spool_dir on the host.
func TestUninstallRefusesPendingLogs(t *testing.T) {
	h := newTestHost(t)
	h.install(t)
	installed := hostTree(t, h.in.Layout.HostRoot)

	for _, tc := range []struct {
		name    string
		pending func(string) ([]string, error)
		want    string
	}{
		{"a log not shipped", func(string) ([]string, error) { return []string{"default/c1"}, nil }, "1 task logs in /run/brisk/spool are not shipped yet"},
		{"no PendingLogs", nil, "no PendingLogs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.in.PendingLogs = tc.pending
			h.svc.actions = nil
			_, err := h.in.Uninstall(context.Background())
			if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("uninstall: %v, want a failed precondition saying %q", err, tc.want)
			}
			if len(h.svc.actions) != 0 || !slices.Equal(hostTree(t, h.in.Layout.HostRoot), installed) {
				t.Errorf("refused uninstall acted: %q", h.svc.actions)
			}
		})
	}

	var asked string
	h.in.PendingLogs = func(dir string) ([]string, error) { asked = dir; return nil, nil }
	if _, err := h.in.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(h.in.Layout.HostRoot, "run/brisk/spool"); asked != want {
		t.Errorf("PendingLogs asked about %q, want the host's spool_dir %q", asked, want)
	}
}
