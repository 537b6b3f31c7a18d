package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/logs/retention"
)

var gcCommand = &cli.Command{
	Name:  "gc",
	Usage: "delete logs in local_dir older than --older-than (retention for nodes without a bucket)",
	Flags: []cli.Flag{&cli.DurationFlag{Name: "older-than", Value: 24 * time.Hour}},
	Action: func(c *cli.Context) error {
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		age := c.Duration("older-than")
		if age <= 0 {
			return fmt.Errorf("--older-than %v: must be positive", age)
		}
		res, err := retention.Collect(c.Context, cfg.Logs.LocalDir, time.Now().Add(-age))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "removed %d files older than %v from %s\n", res.Removed, age, res.Root)
		return nil
	},
}
