// Package top measures, per running container, what iotop -aoP and
// pidstat -d measure per process: bytes and calls written and read, summed
// over the processes of the container's cgroup, with the fill of its upper
// and of its log spool, and the load of the devices behind containerd.
package top

import (
	"time"

	"github.com/brisk-containers/brisk/internal/nodestat"
)

// Frame is one refresh: rates over Window, up to Time.
type Frame struct {
	Time    time.Time `json:"time"`
	Window  float64   `json:"window_seconds"`
	Devices []Device  `json:"devices"`
	// Notes say what could not be measured and why.
	Notes       []string `json:"notes,omitempty"`
	TmpfsBudget int64    `json:"tmpfs_budget"`
	// TmpfsBudgetUsed is -1 when the snapshotter's report is unavailable.
	TmpfsBudgetUsed int64 `json:"tmpfs_budget_used"`
	Rows            []Row `json:"containers"`
}

// Device is a device behind containerd's root or Brisk's uppers.
type Device struct {
	nodestat.WatchedDevice
	nodestat.DiskLoad
}

// Row is one running container.
type Row struct {
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
	Runtime   string `json:"runtime"`
	// Upper is "tmpfs" (the container's own tmpfs) or "dir" (an upper on a
	// disk: Brisk's upper_dir, or another snapshotter's), "" when unknown.
	Upper       string `json:"upper"`
	Inodes      int64  `json:"inodes"`
	InodesLimit int64  `json:"inodes_limit"`
	Bytes       int64  `json:"bytes"`
	BytesLimit  int64  `json:"bytes_limit"`
	// Rates from /proc/PID/io of the cgroup's processes. Write and Read
	// count what the processes passed to write and read calls (to tmpfs,
	// pipes or disk); DiskWrite and DiskRead what went to a block device.
	WriteBps     float64 `json:"write_bytes_per_second"`
	WriteOps     float64 `json:"write_calls_per_second"`
	ReadBps      float64 `json:"read_bytes_per_second"`
	DiskWriteBps float64 `json:"disk_write_bytes_per_second"`
	DiskReadBps  float64 `json:"disk_read_bytes_per_second"`
	// Written and WriteCalls are the window's totals behind the rates.
	Written    uint64 `json:"written_bytes"`
	WriteCalls uint64 `json:"write_calls"`
	// Spool is the size of the task's log in spool_dir; -1 for tasks not
	// on the brisk runtime.
	Spool int64 `json:"spool_bytes"`
	Procs int   `json:"processes"`
}

// InodesPercent is the upper's inode fill, -1 without a limit.
func (r Row) InodesPercent() float64 { return pct(r.Inodes, r.InodesLimit) }

// BytesPercent is the upper's byte fill, -1 without a limit.
func (r Row) BytesPercent() float64 { return pct(r.Bytes, r.BytesLimit) }

func pct(used, limit int64) float64 {
	if limit <= 0 {
		return -1
	}
	return 100 * float64(used) / float64(limit)
}
