package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/plugins"

	"github.com/brisk-containers/brisk/internal/nodestat"
)

// The playbook's thresholds for a device holding containers' writes.
const (
	utilWarn      = 80.0 // %: the device is busy most of the time
	awaitWarnSSD  = 10.0 // ms: an SSD or NVMe answering slower is saturated
	awaitWarnDisk = 50.0 // ms: the same for a rotational disk
)

func diskPaths(ctx context.Context, n *Node) []nodestat.Watched {
	var ps []nodestat.Watched
	if p, err := n.plugin(ctx, string(plugins.ContentPlugin), "content"); err == nil && p != nil && p.Exports["root"] != "" {
		ps = append(ps, nodestat.Watched{What: "containerd root", Path: p.Exports["root"]})
	}
	if n.ConfigErr == nil {
		for _, p := range upperDirs(n.Config.Snapshotter) {
			ps = append(ps, nodestat.Watched{What: dirLabel(p), Path: p.UpperDir})
		}
		ps = append(ps, nodestat.Watched{What: "snapshotter root", Path: n.Config.Snapshotter.Root})
	}
	return ps
}

var diskCheck = Check{
	Name: "disk/load",
	Run: func(ctx context.Context, n *Node) []Result {
		devs, notes := nodestat.DevicesOf(n.sysRoot, diskPaths(ctx, n))
		var res []Result
		for _, note := range notes {
			res = append(res, Result{Status: Info, Found: note})
		}
		if len(devs) == 0 {
			return res
		}
		before, err := nodestat.ReadDiskstats(n.procRoot)
		if err != nil {
			return append(res, Result{Status: Skip, Found: err.Error()})
		}
		start := time.Now()
		select {
		case <-ctx.Done():
			return append(res, Result{Status: Skip, Found: "interrupted while sampling"})
		case <-time.After(n.sample):
		}
		after, err := nodestat.ReadDiskstats(n.procRoot)
		if err != nil {
			return append(res, Result{Status: Skip, Found: err.Error()})
		}
		elapsed := time.Since(start)
		for _, d := range devs {
			l := nodestat.Load(before[d.MajMin], after[d.MajMin], elapsed)
			res = append(res, gradeLoad(d.Device, strings.Join(d.Holds, ", "), l, elapsed))
		}
		return res
	},
}

func gradeLoad(d nodestat.Device, holds string, l nodestat.DiskLoad, over time.Duration) Result {
	kind, awaitWarn := "SSD", awaitWarnSSD
	if d.Rotational {
		kind, awaitWarn = "rotational", awaitWarnDisk
	}
	found := fmt.Sprintf("%s (%s, holds %s) over %v: %%util %.0f, await %.1f ms, queue %.1f, %.0f IOPS, %s/s written",
		d.Name, kind, holds, over.Round(100*time.Millisecond), l.Util, l.Await, l.QueueDepth, l.IOPS, size(int64(l.WriteBps)))
	r := Result{Check: "disk/" + d.Name, Status: Pass, Found: found}
	switch {
	case l.Util > utilWarn && l.Await > awaitWarn:
		r.Status, r.Fix = Warn, "saturated: find the writer with briskctl top; move uppers to tmpfs or a dedicated upper_dir, or set volatile"
	case l.Await > awaitWarn:
		r.Status, r.Fix = Warn, fmt.Sprintf("await above %.0f ms: writes queue behind fsyncs; briskctl top shows which container, see docs/playbook.md", awaitWarn)
	case l.Util > utilWarn:
		r.Status, r.Fix = Warn, "busy most of the time: briskctl top shows which container writes; give uppers their own device or tmpfs"
	}
	return r
}
