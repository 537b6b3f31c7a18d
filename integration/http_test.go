package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}

// TestUsageAPIOnRootOnlySocket: the usage report, which names every snapshot
// and its upper on the host, is served on a unix socket only root can dial,
// not on the TCP metrics address; /metrics carries no host path.
func TestUsageAPIOnRootOnlySocket(t *testing.T) {
	s := newStackless(t)
	ctx := context.Background()
	if _, err := s.client.Prepare(ctx, "u1", ""); err != nil {
		t.Fatal(err)
	}
	defer s.client.Remove(ctx, "u1")

	st, err := os.Stat(s.sn.UsageSocket)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 || sys.Uid != 0 {
		t.Errorf("usage socket %s: mode %v uid %d, want a socket 0600 owned by root", s.sn.UsageSocket, st.Mode(), sys.Uid)
	}
	r, err := usageapi.Fetch(ctx, s.sn.UsageSocket)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Snapshots) != 1 || r.Snapshots[0].Key != "u1" || !strings.HasPrefix(r.Snapshots[0].Path, s.sn.Root) || r.BudgetInUse != 8<<20 {
		t.Errorf("usage report %+v", r)
	}

	resp, err := httpClient.Get("http://" + s.sn.MetricsAddress + usageapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s on the TCP metrics address: %s, want 404", usageapi.Path, resp.Status)
	}
	body := httpGet(t, "http://"+s.sn.MetricsAddress+"/metrics")
	if !strings.Contains(body, `key="u1"`) {
		t.Errorf("metrics lack u1")
	}
	if strings.Contains(body, s.env.Dir) {
		t.Errorf("metrics carry a host path:\n%s", grepLines(body, "brisk_"))
	}

	out, _, err := s.env.Run(filepath.Join(s.env.BriskBin, "briskctl"), "--config", s.sn.ConfigPath, "usage")
	if err != nil || !strings.Contains(out, "u1") || !strings.Contains(out, "tmpfs budget: 8Mi") {
		t.Errorf("briskctl usage: %v\n%s", err, out)
	}
}
