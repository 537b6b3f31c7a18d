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
	Action: func(c *cli.Context) error {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		shipper, err := ship.New(c.Context, cfg.Logs)
		if err != nil {
			return err
		}
		res := shipper.ShipPending(c.Context)
		if res.Err != nil {
			return res.Err
		}
		w := c.App.Writer
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
			return fmt.Errorf("%d logs can never ship as they are; they are kept with the reason under %s until removed", len(quarantined), cfg.Logs.SpoolDir)
		}
		return nil
	},
}
