package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
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
		cutoff := time.Now().Add(-age)
		removed := 0
		var dirs []string
		err = filepath.WalkDir(cfg.Logs.LocalDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, path)
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if info.ModTime().Before(cutoff) {
				if err := os.Remove(path); err == nil {
					removed++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := len(dirs) - 1; i > 0; i-- {
			_ = os.Remove(dirs[i]) // only succeeds when empty
		}
		fmt.Fprintf(c.App.Writer, "removed %d files older than %v from %s\n", removed, age, cfg.Logs.LocalDir)
		return nil
	},
}
