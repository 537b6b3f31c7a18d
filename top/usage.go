package top

import (
	"context"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

// usageReport is brisk-snapshotter's usage report.
type usageReport = usageapi.UsageReport

// fetchUsage is the one place top knows where the snapshotter serves its
// usage report (see briskctl usage). Without a usage socket it returns an
// empty report: top falls back to statfs of each container's upper.
func fetchUsage(ctx context.Context, cfg config.Snapshotter) (usageReport, error) {
	if cfg.UsageSocket == "" {
		return usageReport{}, nil
	}
	return usageapi.Fetch(ctx, cfg.UsageSocket)
}
