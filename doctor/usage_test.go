package doctor

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

// serveUsage answers usageapi.Path on a unix socket with r.
func serveUsage(t *testing.T, r usageapi.UsageReport) string {
	sock := filepath.Join(t.TempDir(), "usage.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != usageapi.Path {
			http.NotFound(w, req)
			return
		}
		json.NewEncoder(w).Encode(r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestUsageCheck(t *testing.T) {
	withSocket := func(sock string) *Node {
		cfg := config.Default()
		cfg.Snapshotter.UsageSocket = sock
		return NewNode("/brisk.toml", cfg, nil)
	}
	for _, tc := range []struct {
		name string
		node *Node
		want Status
		has  string
	}{
		{"answers", withSocket(serveUsage(t, usageapi.UsageReport{Snapshots: make([]usageapi.SnapshotUsage, 3), Budget: 1 << 30, BudgetInUse: 256 << 20})), Pass, "3 snapshots, tmpfs budget 256MiB of 1GiB"},
		{"budget nearly spent", withSocket(serveUsage(t, usageapi.UsageReport{Budget: 1 << 30, BudgetInUse: 1000 << 20})), Warn, "about to fail"},
		{"nobody on the socket", withSocket(filepath.Join(t.TempDir(), "none.sock")), Warn, "cannot read"},
		{"no socket configured", withSocket(""), Info, "statfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := usageCheck.Run(context.Background(), tc.node)
			if len(rs) != 1 || rs[0].Status != tc.want || !strings.Contains(rs[0].Found, tc.has) || (tc.want != Pass && rs[0].Fix == "") {
				t.Fatalf("%+v, want %s with %q", rs, tc.want, tc.has)
			}
		})
	}
}
