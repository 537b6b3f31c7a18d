package doctor

import (
	"context"
	"os"
)

var configCheck = Check{
	Name: "config/valid",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			// The daemons call the same config.Load and stop on this error.
			return one(Fail, n.ConfigErr.Error(), "edit "+n.ConfigPath+": brisk-snapshotter and the shim refuse to start with this error")
		}
		if _, err := os.Stat(n.ConfigPath); os.IsNotExist(err) {
			return pass("no %s: running on the defaults (upper = %s)", n.ConfigPath, n.Config.Snapshotter.Upper)
		}
		c := n.Config
		return pass("%s: valid (upper = %s, spool_dir = %s, fsync = %s, bucket = %q)", n.ConfigPath, c.Snapshotter.Upper, c.Logs.SpoolDir, c.Logs.Fsync, c.Logs.S3.Bucket)
	},
}
