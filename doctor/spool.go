package doctor

import (
	"context"
	"fmt"
	"time"

	units "github.com/docker/go-units"

	"github.com/brisk-containers/brisk/internal/nodestat"
	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/spool"
)

var spoolFS = Check{
	Name: "spool/tmpfs",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		dir := n.Config.Logs.SpoolDir
		at := existingParent(dir)
		sp, tmpfs, err := usage.Statfs(at)
		if err != nil {
			return one(Fail, err.Error(), "create "+dir)
		}
		free := fmt.Sprintf("%s free, %d inodes free", units.BytesSize(float64(sp.BytesFree())), sp.InodesFree())
		if !tmpfs {
			fs := "a disk"
			if m, err := nodestat.MountOf(at); err == nil {
				fs = fmt.Sprintf("%s on %s at %s", m.FSType, m.Source, m.Mountpoint)
			}
			return one(Warn, fmt.Sprintf("spool_dir %s is on %s, not tmpfs (%s): every line a task prints is a write to it", dir, fs, free),
				"set logs.spool_dir under /run (tmpfs), or mount a tmpfs at "+dir)
		}
		if low := min(sp.FreeBytesPercent(), sp.FreeInodesPercent()); low < headroomWarn {
			return one(Warn, fmt.Sprintf("spool_dir %s on tmpfs is nearly full: %s (%.0f%% left)", dir, free, low),
				"briskctl flush ships what is pending; or give the tmpfs more room (mount -o remount,size=...)")
		}
		return pass("spool_dir %s on tmpfs: %s", dir, free)
	},
}

// pendingWarn is how long a finished log may wait for its upload before
// we call it stuck: a shim uploads at exit and retries within minutes.
const pendingWarn = 10 * time.Minute

var spoolPending = Check{
	Name: "spool/pending",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		st, err := spool.ReadStats(n.Config.Logs.SpoolDir)
		if err != nil {
			return one(Fail, "read spool: "+err.Error(), "check the permissions of "+n.Config.Logs.SpoolDir)
		}
		if st.Done == 0 {
			return pass("no finished log waiting for upload (%d live, %s held)", st.Live, units.BytesSize(float64(st.Bytes)))
		}
		age := time.Since(st.OldestDone).Round(time.Second)
		found := fmt.Sprintf("%d finished logs waiting for upload, oldest exited %v ago (%d live, %s held)", st.Done, age, st.Live, units.BytesSize(float64(st.Bytes)))
		if age > pendingWarn {
			return one(Warn, found+": logs are not reaching the store", "briskctl flush ships them and says why it can't; see the s3 checks")
		}
		return pass("%s", found)
	},
}
