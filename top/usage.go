package top

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter"
)

// usageReport is brisk-snapshotter's /v1/usage answer.
type usageReport struct {
	Snapshots   []snapshotter.SnapshotUsage `json:"snapshots"`
	Budget      int64                       `json:"tmpfs_budget"`
	BudgetInUse int64                       `json:"tmpfs_budget_used"`
}

// fetchUsage is the one place top knows where the snapshotter serves its
// usage report and in what shape (see briskctl usage). Without a usage
// address it returns an empty report: top falls back to statfs of each
// container's upper.
func fetchUsage(ctx context.Context, httpc *http.Client, cfg config.Snapshotter) (usageReport, error) {
	var r usageReport
	if cfg.MetricsAddress == "" {
		return r, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.MetricsAddress+"/v1/usage", nil)
	if err != nil {
		return r, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return r, fmt.Errorf("brisk-snapshotter usage at %s: %w", cfg.MetricsAddress, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return r, fmt.Errorf("brisk-snapshotter usage at %s: %s: %s", cfg.MetricsAddress, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("decode usage from %s: %w", cfg.MetricsAddress, err)
	}
	return r, nil
}
