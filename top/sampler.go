package top

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/moby/sys/mountinfo"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/nodestat"
	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/spool"
)

// BriskRuntime is the brisk shim's runtime type, as ctr users select it.
const BriskRuntime = config.RuntimeType

// Sampler measures containers between two calls of Sample.
type Sampler struct {
	ctd        *client.Client
	cfg        config.Config
	procRoot   string
	sysRoot    string
	cgroupRoot string

	last     time.Time
	lastIO   map[procKey]nodestat.IO
	lastDisk nodestat.DiskCounters
}

// procKey tells a process from a later one that reuses its PID.
type procKey struct {
	pid   int
	start uint64
}

// Opt configures a Sampler.
type Opt func(*Sampler)

// WithRoots points the sampler at other proc, sys and cgroup trees (tests).
func WithRoots(proc, sys, cgroup string) Opt {
	return func(s *Sampler) { s.procRoot, s.sysRoot, s.cgroupRoot = proc, sys, cgroup }
}

// NewSampler samples the containers of ctd, with Brisk's configuration cfg.
func NewSampler(ctd *client.Client, cfg config.Config, opts ...Opt) *Sampler {
	s := &Sampler{
		ctd: ctd, cfg: cfg,
		procRoot: "/proc", sysRoot: "/sys", cgroupRoot: "/sys/fs/cgroup",
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Sample reads every counter and returns the rates since the previous
// call; the first call only sets the baseline (its rates are zero).
func (s *Sampler) Sample(ctx context.Context) (Frame, error) {
	now := time.Now()
	f := Frame{Time: now, TmpfsBudget: int64(s.cfg.Snapshotter.TmpfsBudget), TmpfsBudgetUsed: -1}
	if !s.last.IsZero() {
		f.Window = now.Sub(s.last).Seconds()
	}
	ctrs, err := s.running(ctx)
	if err != nil {
		return f, err
	}
	report, err := fetchUsage(ctx, s.cfg.Snapshotter)
	if err != nil {
		f.Notes = append(f.Notes, err.Error()+": upper fill from statfs of tmpfs uppers only")
	} else if s.cfg.Snapshotter.UsageSocket != "" {
		f.TmpfsBudget, f.TmpfsBudgetUsed = report.Budget, report.BudgetInUse
	}
	spools := s.spools()
	io := map[procKey]nodestat.IO{}
	for _, c := range ctrs {
		row, note := s.row(c, report, spools, io, f.Window)
		if note != "" {
			f.Notes = append(f.Notes, note)
		}
		f.Rows = append(f.Rows, row)
	}
	f.Devices, f.Notes = s.devices(ctx, f.Notes, now)
	s.last, s.lastIO = now, io
	return f, nil
}

// container is what containerd says about one running task.
type container struct {
	ns, id, runtime, snapshotter, snapshotKey string
	pid                                       int
}

// running lists the running tasks of every namespace.
func (s *Sampler) running(ctx context.Context) ([]container, error) {
	nss, err := s.ctd.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containerd namespaces: %w", err)
	}
	var out []container
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := s.ctd.Containers(nctx)
		if err != nil {
			return nil, fmt.Errorf("list containers in %s: %w", ns, err)
		}
		for _, c := range cs {
			task, err := c.Task(nctx, nil)
			if err != nil {
				continue // no task: created, or exited and deleted
			}
			st, err := task.Status(nctx)
			if err != nil || st.Status != client.Running {
				continue
			}
			info, err := c.Info(nctx, client.WithoutRefreshedMetadata)
			if err != nil {
				continue
			}
			out = append(out, container{ns: ns, id: c.ID(), runtime: info.Runtime.Name, snapshotter: info.Snapshotter, snapshotKey: info.SnapshotKey, pid: int(task.Pid())})
		}
	}
	return out, nil
}

// row measures one container. Its processes' counters go into io, keyed
// for the next sample.
func (s *Sampler) row(c container, report usageReport, spools map[taskKey]int64, io map[procKey]nodestat.IO, window float64) (Row, string) {
	r := Row{Namespace: c.ns, ID: c.id, Runtime: c.runtime, Spool: -1}
	// A task of the brisk shim has a live log in the spool. Under CRI its
	// runtime is runc's type (the brisk handler runs the shim through
	// runtime_path, so that pods get runc's features), so the spool tells,
	// and the brisk runtime type only for a task with nothing spooled yet.
	if n, ok := spools[taskKey{c.ns, c.id}]; ok || c.runtime == BriskRuntime {
		r.Spool = n
	}
	s.upper(&r, c, report)
	dir, err := nodestat.CgroupDir(s.procRoot, s.cgroupRoot, c.pid)
	if err != nil {
		return r, fmt.Sprintf("%s/%s: %v", c.ns, c.id, err)
	}
	pids, err := nodestat.CgroupProcs(dir)
	if err != nil {
		return r, fmt.Sprintf("%s/%s: %v", c.ns, c.id, err)
	}
	var d nodestat.IO
	for _, pid := range pids {
		now, start, err := nodestat.ProcIO(s.procRoot, pid)
		if err != nil {
			continue // exited since cgroup.procs was read
		}
		k := procKey{pid, start}
		io[k] = now
		r.Procs++
		if s.lastIO == nil {
			continue
		}
		// A process not there last time started within the window: all
		// its I/O is the window's. One that exited within the window is
		// not seen at all, as with iotop.
		d.Add(now.Since(s.lastIO[k]))
	}
	r.Written, r.WriteCalls = d.WChar, d.SyscW
	if window > 0 {
		r.WriteBps = float64(d.WChar) / window
		r.WriteOps = float64(d.SyscW) / window
		r.ReadBps = float64(d.RChar) / window
		r.DiskWriteBps = float64(d.WriteBytes) / window
		r.DiskReadBps = float64(d.ReadBytes) / window
	}
	return r, ""
}

// upper fills the upper's kind and fill: from the snapshotter's report for
// Brisk's snapshots, else from statfs of the rootfs overlay's upperdir,
// which for a tmpfs upper is that container's alone.
func (s *Sampler) upper(r *Row, c container, report usageReport) {
	for _, u := range report.Snapshots {
		if u.Namespace == c.ns && u.Name == c.snapshotKey {
			r.Upper, r.Inodes, r.InodesLimit, r.Bytes, r.BytesLimit = string(u.Upper), u.InodesUsed, u.InodesLimit, u.BytesUsed, u.BytesLimit
			return
		}
	}
	ms, err := s.mounts(c.pid)
	if err != nil {
		return
	}
	for _, m := range ms {
		if m.Mountpoint != "/" || m.FSType != "overlay" {
			continue
		}
		dir, ok := nodestat.OptionValue(m.VFSOptions, "upperdir")
		if !ok {
			return
		}
		u, tmpfs, err := usage.Statfs(dir)
		if err != nil {
			return
		}
		if !tmpfs {
			r.Upper = "dir"
			return
		}
		r.Upper = "tmpfs"
		r.Inodes, r.InodesLimit, r.Bytes, r.BytesLimit = u.InodesUsed, u.InodesLimit, u.BytesUsed, u.BytesLimit
		return
	}
}

// taskKey names a task across namespaces.
type taskKey struct{ namespace, id string }

// spools sizes each live log in spool_dir by (namespace, container ID).
func (s *Sampler) spools() map[taskKey]int64 {
	out := map[taskKey]int64{}
	dirs, _ := spool.Pending(s.cfg.Logs.SpoolDir)
	for _, dir := range dirs {
		m, err := spool.ReadMeta(dir)
		if err != nil || m.State != spool.StateLive {
			continue
		}
		out[taskKey{m.Namespace, m.ContainerID}] += fileSize(spool.LogPath(dir))
	}
	return out
}

// devices samples the devices behind containerd's root and Brisk's storage.
func (s *Sampler) devices(ctx context.Context, notes []string, now time.Time) ([]Device, []string) {
	var paths []nodestat.Watched
	if resp, err := s.ctd.IntrospectionService().Plugins(ctx, fmt.Sprintf("type==%s,id==content", plugins.ContentPlugin)); err == nil {
		for _, p := range resp.Plugins {
			if root := p.Exports["root"]; root != "" {
				paths = append(paths, nodestat.Watched{What: "containerd root", Path: root})
			}
		}
	}
	wds, _ := nodestat.DevicesOf(s.sysRoot, append(paths, storagePaths(s.cfg.Snapshotter)...))
	counters, err := nodestat.ReadDiskstats(s.procRoot)
	if err != nil {
		return nil, append(notes, err.Error())
	}
	var devs []Device
	for _, wd := range wds {
		d := Device{WatchedDevice: wd}
		if s.lastDisk != nil {
			d.DiskLoad = nodestat.Load(s.lastDisk[wd.MajMin], counters[wd.MajMin], now.Sub(s.last))
		}
		devs = append(devs, d)
	}
	s.lastDisk = counters
	return devs, notes
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// storagePaths are where Brisk's snapshots write: every upper_dir (the
// default's and each profile's own) and the snapshotter's root.
func storagePaths(sn config.Snapshotter) []nodestat.Watched {
	var paths []nodestat.Watched
	for _, p := range sn.UpperDirs() {
		what := "upper_dir"
		if p.Name != config.DefaultProfileName {
			what = "upper_dir of " + p.Name
		}
		paths = append(paths, nodestat.Watched{What: what, Path: p.UpperDir})
	}
	return append(paths, nodestat.Watched{What: "snapshotter root", Path: sn.Root})
}

// mounts reads pid's mount table under the sampler's proc root: the
// container's own mount namespace, where its rootfs overlay is "/".
func (s *Sampler) mounts(pid int) ([]*mountinfo.Info, error) {
	f, err := os.Open(filepath.Join(s.procRoot, strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mountinfo.GetMountsFromReader(f, nil)
}
