package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

var flushCommand = &cli.Command{
	Name:  "flush",
	Usage: "upload every pending log in the spool now; say what is left and why, and list quarantined logs",
	Description: `A log that can never ship as it is (an unreadable meta.json, a key or metadata the store
refuses whatever the time) is quarantined under spool_dir/.quarantine with a reason file, and
never retried. Once its cause is fixed, --requeue puts every quarantined log back among the
pending ones and ships them in the same pass; a log whose cause remains is quarantined again
with the reason of the day.

Under logs.upload = "batch", flush stores each pending log as its own object, as in per-task
mode (briskctl logs finds it by ID either way): it is for a node whose brisk-logd cannot run.`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "requeue", Usage: "first put every quarantined log back to pending (after fixing what kept it from shipping)"},
	},
	Action: func(c *cli.Context) error {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		shipper, err := ship.New(c.Context, cfg.Logs)
		if err != nil {
			return err
		}
		w := c.App.Writer
		if c.Bool("requeue") {
			if err := requeue(c, cfg.Logs.SpoolDir); err != nil {
				return err
			}
		}
		res := shipper.ShipPending(c.Context)
		if res.Err != nil {
			return res.Err
		}
		for _, o := range res.Entries {
			switch o.Status {
			case ship.Shipped:
				fmt.Fprintf(w, "shipped      %s\n", o.Dir)
			case ship.Owned:
				fmt.Fprintf(w, "left         %s: owned by a running shim\n", o.Dir)
			case ship.Failed:
				fmt.Fprintf(w, "left         %s: %v\n", o.Dir, o.Err)
			}
		}
		// Quarantined by this pass or an earlier one, by any process.
		quarantined, err := spool.Quarantined(cfg.Logs.SpoolDir)
		if err != nil {
			return err
		}
		for _, q := range quarantined {
			fmt.Fprintf(w, "quarantined  %s: %s\n", q.Dir, q.Reason)
		}
		failed := res.Count(ship.Failed)
		fmt.Fprintf(w, "%d shipped to %s, %d running, %d failed, %d quarantined\n",
			res.Count(ship.Shipped), shipper.Store(), res.Count(ship.Owned), failed, len(quarantined))
		switch {
		case failed > 0:
			return fmt.Errorf("%d logs could not be shipped; they stay in %s and are retried", failed, cfg.Logs.SpoolDir)
		case len(quarantined) > 0:
			return fmt.Errorf("%d logs can never ship as they are; they are kept with the reason under %s until removed, or until --requeue once the cause is fixed", len(quarantined), cfg.Logs.SpoolDir)
		}
		return nil
	},
}

// requeue puts every quarantined entry back to pending.
func requeue(c *cli.Context, spoolDir string) error {
	quarantined, err := spool.Quarantined(spoolDir)
	if err != nil {
		return err
	}
	for _, q := range quarantined {
		dir, err := spool.Requeue(q.Dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "requeued     %s (was: %s)\n", dir, q.Reason)
	}
	return nil
}
