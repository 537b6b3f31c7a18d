package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter"
)

var usageCommand = &cli.Command{
	Name:      "usage",
	Usage:     "show inode and byte usage of active snapshots on fast storage",
	ArgsUsage: "[KEY]",
	Description: `KEY is the snapshot key a client gave (for ctr and nerdctl, the container ID).
   containerd namespaces keys; -n narrows the table to one namespace.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "only snapshots of this containerd namespace"},
		&cli.StringFlag{Name: "address", Usage: "snapshotter metrics address (default: snapshotter.metrics_address)"},
		&cli.BoolFlag{Name: "json", Usage: "print the raw report"},
	},
	Action: func(c *cli.Context) error {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		addr := cfg.Snapshotter.MetricsAddress
		if c.IsSet("address") {
			addr = c.String("address")
		}
		if addr == "" {
			return fmt.Errorf("snapshotter.metrics_address is empty: briskctl usage reads the snapshotter's /v1/usage there; set it or pass --address")
		}
		report, err := fetchUsage(addr)
		if err != nil {
			return err
		}
		key, ns := c.Args().First(), c.String("namespace")
		if key != "" || ns != "" {
			var kept []snapshotter.SnapshotUsage
			for _, u := range report.Snapshots {
				uns, name := splitKey(u.Key)
				if (ns == "" || ns == uns) && (key == "" || key == name || key == u.Key) {
					kept = append(kept, u)
				}
			}
			if len(kept) == 0 && key != "" {
				return fmt.Errorf("no active snapshot with key %q on fast storage (see `briskctl usage` for all)", key)
			}
			report.Snapshots = kept
		}
		if c.Bool("json") {
			enc := json.NewEncoder(c.App.Writer)
			enc.SetIndent("", "  ")
			return enc.Encode(report)
		}
		printUsage(c.App.Writer, report)
		return nil
	},
}

type usageReport struct {
	Snapshots   []snapshotter.SnapshotUsage `json:"snapshots"`
	Budget      int64                       `json:"tmpfs_budget"`
	BudgetInUse int64                       `json:"tmpfs_budget_used"`
}

func fetchUsage(addr string) (usageReport, error) {
	var r usageReport
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/v1/usage")
	if err != nil {
		return r, fmt.Errorf("ask brisk-snapshotter at %s: %w (is it running? see `systemctl status brisk-snapshotter`)", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return r, fmt.Errorf("brisk-snapshotter at %s answered %s: %s", addr, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("decode usage report from %s: %w", addr, err)
	}
	return r, nil
}

func printUsage(w io.Writer, r usageReport) {
	sort.Slice(r.Snapshots, func(i, j int) bool { return r.Snapshots[i].Key < r.Snapshots[j].Key })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tKEY\tUPPER\tINODES\tINODES%\tBYTES\tBYTES%")
	for _, u := range r.Snapshots {
		ns, name := splitKey(u.Key)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ns, name, u.Upper,
			ofLimit(fmt.Sprint(u.Inodes), u.InodesLimit, fmt.Sprint(u.InodesLimit)), percent(u.Inodes, u.InodesLimit),
			ofLimit(config.FormatSize(u.Bytes), u.BytesLimit, config.FormatSize(u.BytesLimit)), percent(u.Bytes, u.BytesLimit))
	}
	tw.Flush()
	fmt.Fprintf(w, "tmpfs budget: %s of %s reserved (%s)\n", config.FormatSize(r.BudgetInUse), config.FormatSize(r.Budget), percent(r.BudgetInUse, r.Budget))
}

func ofLimit(used string, limit int64, limitText string) string {
	if limit <= 0 {
		return used + "/-"
	}
	return used + "/" + limitText
}

func percent(used, limit int64) string {
	if limit <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(used)/float64(limit))
}

// splitKey undoes containerd's namespacing of snapshot keys that reach a
// proxy snapshotter: "NAMESPACE/N/KEY", where KEY may itself hold slashes.
func splitKey(key string) (namespace, name string) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return "", key
	}
	return parts[0], parts[2]
}
