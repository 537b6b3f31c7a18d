// Package usageapi is the contract of brisk-snapshotter's usage API: the
// report GET /v1/usage returns on the usage socket, and a client for it. It
// links neither the snapshot store nor bbolt, so briskctl can import it.
package usageapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/snapshotter/upper"

	"github.com/brisk-containers/brisk/internal/unixsock"
)

// Path is where the report is served.
const Path = "/v1/usage"

// SnapshotUsage is one active snapshot on fast storage.
type SnapshotUsage struct {
	// Key is the snapshot key as containerd namespaces it, in the key
	// space of its profile.
	Key string `json:"key"`
	// Namespace and Name are Key taken apart: the containerd namespace
	// and the key its client chose (for ctr and nerdctl the container ID),
	// so that no client parses keys. A key containerd did not namespace
	// (a client of the socket itself) has no Namespace and is its Name.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Profile is the snapshot's profile ("default" for [snapshotter]).
	Profile string     `json:"profile"`
	ID      string     `json:"id"`
	Upper   upper.Kind `json:"upper"`
	// Path is the overlay upperdir on the host. It is served on the
	// root-only socket alone, never in /metrics.
	Path string `json:"path"`
	usage.Usage
}

// MarshalJSON writes the figures also under the names the report had
// before it carried a usage.Usage ("bytes", "inodes"), for scripts that
// read briskctl usage --json.
func (s SnapshotUsage) MarshalJSON() ([]byte, error) {
	type plain SnapshotUsage // without this method
	return json.Marshal(struct {
		plain
		Bytes  int64 `json:"bytes"`
		Inodes int64 `json:"inodes"`
	}{plain(s), s.BytesUsed, s.InodesUsed})
}

// UsageReport is the body of GET /v1/usage.
type UsageReport struct {
	Snapshots []SnapshotUsage `json:"snapshots"`
	// Budget is the cap on the sum of tmpfs limits, BudgetInUse what is
	// reserved of it.
	Budget      int64 `json:"tmpfs_budget"`
	BudgetInUse int64 `json:"tmpfs_budget_used"`
}

// Fetch asks the brisk-snapshotter serving on the unix socket at socket for
// its report.
func Fetch(ctx context.Context, socket string) (UsageReport, error) {
	var r UsageReport
	client := unixsock.HTTPClient(socket, 0) // the context bounds it
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The host part is ignored: the transport dials the socket.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://brisk-snapshotter"+Path, nil)
	if err != nil {
		return r, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return r, fmt.Errorf("ask brisk-snapshotter on %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return r, fmt.Errorf("brisk-snapshotter on %s answered %s: %s", socket, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("decode usage report from %s: %w", socket, err)
	}
	return r, nil
}
