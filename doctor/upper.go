package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	units "github.com/docker/go-units"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/nodestat"
	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/brisk-containers/brisk/snapshotter/upper/xfsquota"
)

// upperDirs are the dedicated mounts brisk-snapshotter opens at start and
// stops on: upper_dir of [snapshotter] and each profile's own, once each.
func upperDirs(c config.Snapshotter) []config.Profile { return c.UpperDirs() }

// dirLabel names an upper_dir in a finding: which profile's it is.
func dirLabel(p config.Profile) string {
	if p.Name == config.DefaultProfileName {
		return "upper_dir"
	}
	return "upper_dir of profile " + p.Name
}

// upperMount applies the snapshotter's own test of each upper_dir, so that
// the finding is the error brisk-snapshotter stops on.
var upperMount = Check{
	Name: "upper/mount",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		dirs := upperDirs(n.Config.Snapshotter)
		if len(dirs) == 0 {
			return one(Info, "upper = tmpfs and no upper_dir: every container's upper is its own tmpfs", "")
		}
		var res []Result
		for _, p := range dirs {
			res = append(res, mountResult(p))
		}
		return res
	},
}

func mountResult(p config.Profile) Result {
	label, whose := dirLabel(p), ""
	if p.Name != config.DefaultProfileName {
		whose = "profile " + p.Name + ": "
	}
	if err := upper.CheckDedicatedMount(p.UpperDir); err != nil {
		return Result{Status: Fail, Found: whose + err.Error(),
			Fix: "brisk-snapshotter refuses to start until " + label + " is a dedicated mount with noatime: mount -o noatime,nodiratime DEVICE " + p.UpperDir}
	}
	m, err := nodestat.MountOf(p.UpperDir)
	if err != nil {
		return Result{Status: Fail, Found: whose + err.Error(), Fix: "mount a dedicated filesystem at " + p.UpperDir}
	}
	return Result{Status: Pass, Found: fmt.Sprintf("%s %s: a mount of its own, %s on %s, options %s", label, p.UpperDir, m.FSType, m.Source, m.Options)}
}

// upperQuota asks the snapshotter's own quota code whether it can enforce
// per-container limits on each upper_dir: the same test it makes at start.
var upperQuota = Check{
	Name: "upper/quota",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return nil
		}
		var res []Result
		for _, p := range upperDirs(n.Config.Snapshotter) {
			res = append(res, quotaResult(p))
		}
		return res
	},
}

func quotaResult(p config.Profile) Result {
	limits := fmt.Sprintf("tmpfs_size = %s, tmpfs_inodes = %d", p.TmpfsSize, p.TmpfsInodes)
	if p.Name != config.DefaultProfileName {
		limits = "profile " + p.Name + "'s " + limits
	}
	if !xfsquota.KernelSupportsXFSQuota() {
		return Result{Status: Warn, Found: "this kernel has no XFS quota support (CONFIG_XFS_QUOTA): " + limits + " are not enforced on dir uppers",
			Fix: "run a kernel with CONFIG_XFS_QUOTA, or keep containers on tmpfs uppers, which enforce them"}
	}
	if _, err := xfsquota.Open(p.UpperDir); err != nil {
		return Result{Status: Warn, Found: fmt.Sprintf("%v: %s are not enforced on dir uppers; one container can fill %s", err, limits, p.UpperDir),
			Fix: "put " + dirLabel(p) + " on XFS mounted with -o noatime,prjquota"}
	}
	return Result{Status: Pass, Found: fmt.Sprintf("XFS project quotas on %s: %s enforced per container", p.UpperDir, limits)}
}

// upperExt4 reports ext4's journalling mode on each upper_dir. The
// playbook's data=writeback advice is information: it trades crash
// consistency of file contents for less journal ordering, which suits only
// disposable uppers.
var upperExt4 = Check{
	Name: "upper/ext4",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return nil
		}
		var res []Result
		for _, p := range upperDirs(n.Config.Snapshotter) {
			if r, ok := ext4Result(n, p.UpperDir); ok {
				res = append(res, r)
			}
		}
		return res
	},
}

func ext4Result(n *Node, dir string) (Result, bool) {
	m, err := nodestat.MountOf(dir)
	if err != nil || m.FSType != "ext4" {
		return Result{}, false
	}
	dev, ok := nodestat.BlockDevice(n.sysRoot, m)
	if !ok {
		return Result{Status: Info, Found: fmt.Sprintf("ext4 at %s: block device %s not found in %s", m.Mountpoint, dev.MajMin, n.sysRoot)}, true
	}
	mode, ok := nodestat.OptionValue(m.VFSOptions, "data")
	if !ok {
		// mountinfo omits the default; ext4 lists every option here.
		b, _ := os.ReadFile(filepath.Join(n.procRoot, "fs/ext4", dev.Name, "options"))
		mode, ok = nodestat.OptionValue(string(b), "data")
	}
	if !ok {
		mode = "ordered"
	}
	journal := "no journal"
	if js, _ := filepath.Glob(filepath.Join(n.procRoot, "fs/jbd2", dev.Name+"-*")); len(js) > 0 {
		journal = "journal on"
	}
	return Result{Status: Info, Found: fmt.Sprintf("ext4 on %s at %s: data=%s, %s", dev.Name, m.Mountpoint, mode, journal),
		Fix: "data=writeback shortens fsync (data no longer ordered before metadata) but after a crash files may hold stale data: only for a disposable upper_dir"}, true
}

// Headroom thresholds: the share of bytes or inodes still free.
const (
	headroomWarn = 20.0
	headroomFail = 5.0
)

var headroomCheck = Check{
	Name: "upper/headroom",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		var paths []nodestat.Watched
		for _, p := range upperDirs(n.Config.Snapshotter) {
			paths = append(paths, nodestat.Watched{What: dirLabel(p), Path: p.UpperDir})
		}
		paths = append(paths, nodestat.Watched{What: "snapshotter root", Path: n.Config.Snapshotter.Root})
		var res []Result
		for _, p := range paths {
			res = append(res, headroom(p.What, p.Path))
		}
		return res
	},
}

func headroom(key, path string) Result {
	at := existingParent(path)
	sp, _, err := usage.Statfs(at)
	if err != nil {
		return Result{Check: "upper/headroom", Status: Fail, Found: fmt.Sprintf("%s %s: %v", key, path, err), Fix: "create " + path}
	}
	found := fmt.Sprintf("%s %s: %s free of %s (%.0f%%), %d of %d inodes free (%.0f%%)", key, path,
		units.BytesSize(float64(sp.BytesFree())), units.BytesSize(float64(sp.BytesLimit)), sp.FreeBytesPercent(),
		sp.InodesFree(), sp.InodesLimit, sp.FreeInodesPercent())
	low := min(sp.FreeBytesPercent(), sp.FreeInodesPercent())
	fix := "free space on " + at + ", or move " + key + " to a larger device (inodes run out first with many small files)"
	switch {
	case low < headroomFail:
		return Result{Check: "upper/headroom", Status: Fail, Found: found, Fix: fix}
	case low < headroomWarn:
		return Result{Check: "upper/headroom", Status: Warn, Found: found, Fix: fix}
	}
	return Result{Check: "upper/headroom", Status: Pass, Found: found}
}

func existingParent(path string) string { return nodestat.ExistingParent(path) }
