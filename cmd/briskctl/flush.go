package main

import (
	"fmt"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/logs/ship"
)

var flushCommand = &cli.Command{
	Name:  "flush",
	Usage: "upload every pending log in the spool now; say what is left and why",
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
		for _, d := range res.Shipped {
			fmt.Fprintf(c.App.Writer, "shipped  %s\n", d)
		}
		var dirs []string
		failed := 0
		for d, why := range res.Left {
			dirs = append(dirs, d)
			if why != "owned by a running shim" {
				failed++
			}
		}
		sort.Strings(dirs)
		for _, d := range dirs {
			fmt.Fprintf(c.App.Writer, "left     %s: %s\n", d, res.Left[d])
		}
		fmt.Fprintf(c.App.Writer, "%d shipped to %s, %d running, %d failed\n", len(res.Shipped), shipper.Store(), len(res.Left)-failed, failed)
		if failed > 0 {
			return fmt.Errorf("%d logs could not be shipped; they stay in %s and are retried", failed, cfg.Logs.SpoolDir)
		}
		return nil
	},
}
