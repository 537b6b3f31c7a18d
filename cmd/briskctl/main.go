// Command briskctl looks up a task's log by ID, shows per-snapshot usage, and
// helps set Brisk up and diagnose it on a node.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/version"
)

func main() {
	app := &cli.App{
		Name:    "briskctl",
		Usage:   "inspect Brisk on this node: task logs, snapshot usage, setup",
		Version: version.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Value: config.DefaultPath, EnvVars: []string{config.EnvPath}, Usage: "Brisk configuration file"},
		},
		Commands: []*cli.Command{
			usageCommand,
			logsCommand,
			flushCommand,
			bucketCommand,
			gcCommand,
			doctorCommand,
			topCommand,
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "briskctl: %v\n", err)
		os.Exit(1)
	}
}

// loadConfig reads the file named by --config; the default path may be
// missing on a node that runs on defaults.
func loadConfig(c *cli.Context) (config.Config, error) {
	cfg, err := config.Load(c.String("config"), !c.IsSet("config"))
	if err == nil {
		for _, w := range cfg.Warnings() {
			fmt.Fprintf(c.App.ErrWriter, "briskctl: warning: %s\n", w)
		}
	}
	return cfg, err
}
