// Package nodestat reads what the kernel says about the node's devices,
// mounts, cgroups and processes, for briskctl doctor and briskctl top.
package nodestat

import (
	"fmt"
	"time"

	"github.com/prometheus/procfs/blockdevice"
)

// DiskCounters are /proc/diskstats counters keyed by "MAJOR:MINOR".
type DiskCounters map[string]blockdevice.IOStats

// ReadDiskstats reads procRoot/diskstats (procRoot is /proc outside tests).
func ReadDiskstats(procRoot string) (DiskCounters, error) {
	fs, err := blockdevice.NewFS(procRoot, "/sys")
	if err != nil {
		return nil, err
	}
	stats, err := fs.ProcDiskstats()
	if err != nil {
		return nil, fmt.Errorf("read %s/diskstats: %w", procRoot, err)
	}
	c := DiskCounters{}
	for _, s := range stats {
		c[fmt.Sprintf("%d:%d", s.MajorNumber, s.MinorNumber)] = s.IOStats
	}
	return c, nil
}

// DiskLoad is what iostat -x shows for one device over a window.
type DiskLoad struct {
	// Util is the share of the window the device had I/O in flight, in %.
	Util float64 `json:"util_percent"`
	// Await is the mean time an I/O completed in the window took, queueing
	// included, in ms (iostat's r_await and w_await combined).
	Await float64 `json:"await_ms"`
	// QueueDepth is the mean number of I/Os in flight (iostat's aqu-sz).
	QueueDepth float64 `json:"queue_depth"`
	IOPS       float64 `json:"iops"`
	ReadBps    float64 `json:"read_bytes_per_second"`
	WriteBps   float64 `json:"write_bytes_per_second"`
}

// Load computes the load between two readings of one device taken elapsed
// apart. Counters that went backwards (a device re-created) give zeros.
func Load(before, after blockdevice.IOStats, elapsed time.Duration) DiskLoad {
	ms := float64(elapsed) / float64(time.Millisecond)
	if ms <= 0 {
		return DiskLoad{}
	}
	d := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b - a)
	}
	ios := d(before.ReadIOs, after.ReadIOs) + d(before.WriteIOs, after.WriteIOs)
	ticks := d(before.ReadTicks, after.ReadTicks) + d(before.WriteTicks, after.WriteTicks)
	l := DiskLoad{
		Util:       min(100, 100*d(before.IOsTotalTicks, after.IOsTotalTicks)/ms),
		QueueDepth: d(before.WeightedIOTicks, after.WeightedIOTicks) / ms,
		IOPS:       ios * 1000 / ms,
		// diskstats counts 512-byte sectors whatever the device's own size.
		ReadBps:  d(before.ReadSectors, after.ReadSectors) * 512 * 1000 / ms,
		WriteBps: d(before.WriteSectors, after.WriteSectors) * 512 * 1000 / ms,
	}
	if ios > 0 {
		l.Await = ticks / ios
	}
	return l
}
