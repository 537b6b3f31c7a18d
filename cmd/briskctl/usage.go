package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

var usageCommand = &cli.Command{
	Name:      "usage",
	Usage:     "show inode and byte usage of active snapshots on fast storage",
	ArgsUsage: "[KEY]",
	Description: `KEY is the snapshot key a client gave (for ctr and nerdctl, the container ID).
   containerd namespaces keys; -n narrows the table to one namespace.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "only snapshots of this containerd namespace"},
		&cli.StringFlag{Name: "socket", Usage: "the snapshotter's usage socket (default: snapshotter.usage_socket)"},
		&cli.BoolFlag{Name: "json", Usage: "print the raw report"},
	},
	Action: func(c *cli.Context) error {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		socket := cfg.Snapshotter.UsageSocket
		if c.IsSet("socket") {
			socket = c.String("socket")
		}
		if socket == "" {
			return fmt.Errorf("snapshotter.usage_socket is empty: briskctl usage reads the snapshotter's usage API there; set it or pass --socket")
		}
		report, err := usageapi.Fetch(c.Context, socket)
		if err != nil {
			return fmt.Errorf("%w (is brisk-snapshotter running? are you root? see `systemctl status brisk-snapshotter`)", err)
		}
		key, ns := c.Args().First(), c.String("namespace")
		if key != "" || ns != "" {
			var kept []usageapi.SnapshotUsage
			for _, u := range report.Snapshots {
				if (ns == "" || ns == u.Namespace) && (key == "" || key == u.Name || key == u.Key) {
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

func printUsage(w io.Writer, r usageapi.UsageReport) {
	// Each profile has a key space of its own: one key may show twice.
	sort.Slice(r.Snapshots, func(i, j int) bool {
		a, b := r.Snapshots[i], r.Snapshots[j]
		return a.Key < b.Key || a.Key == b.Key && a.Profile < b.Profile
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tKEY\tPROFILE\tUPPER\tINODES\tINODES%\tBYTES\tBYTES%")
	for _, u := range r.Snapshots {
		profile := u.Profile
		if profile == "" { // a snapshotter from before profiles
			profile = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Namespace, u.Name, profile, u.Upper,
			ofLimit(fmt.Sprint(u.InodesUsed), u.InodesLimit, fmt.Sprint(u.InodesLimit)), percent(u.InodesUsed, u.InodesLimit),
			ofLimit(config.FormatSize(u.BytesUsed), u.BytesLimit, config.FormatSize(u.BytesLimit)), percent(u.BytesUsed, u.BytesLimit))
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
