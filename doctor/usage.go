package doctor

import (
	"context"
	"fmt"

	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

// budgetWarn is the share of tmpfs_budget reserved past which new
// containers are close to failing or overflowing (BriskTmpfsBudgetNearlySpent).
const budgetWarn = 0.9

// usageCheck asks brisk-snapshotter for its usage report on usage_socket,
// as briskctl usage and briskctl top do: without it they see only what
// statfs of each tmpfs upper shows.
var usageCheck = Check{
	Name: "snapshotter/usage",
	Hint: "brisk-snapshotter does not answer on usage_socket: check systemctl status brisk-snapshotter",
	Run: func(ctx context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		sock := n.Config.Snapshotter.UsageSocket
		if sock == "" {
			return one(Info, "usage_socket is empty: briskctl usage and top fall back to statfs of tmpfs uppers (no dir uppers, no budget)",
				`set snapshotter.usage_socket (default "/run/brisk/usage.sock") and restart brisk-snapshotter`)
		}
		r, err := usageapi.Fetch(ctx, sock)
		if err != nil {
			return one(Warn, err.Error()+": briskctl usage and top cannot read the uppers' fill or the budget",
				"start brisk-snapshotter, and give briskctl the config it runs with (the same usage_socket)")
		}
		found := fmt.Sprintf("usage report on %s: %d snapshots, tmpfs budget %s of %s reserved", sock, len(r.Snapshots), size(r.BudgetInUse), size(r.Budget))
		if r.Budget > 0 && float64(r.BudgetInUse) > budgetWarn*float64(r.Budget) {
			return one(Warn, found+": new containers are about to fail or overflow (on_budget_exceeded)",
				"lower tmpfs_size or the brisk.io/tmpfs.size labels, raise tmpfs_budget within RAM, or set on_budget_exceeded = \"dir\"")
		}
		return pass("%s", found)
	},
}
