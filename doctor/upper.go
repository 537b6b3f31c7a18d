package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	units "github.com/docker/go-units"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/nodestat"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/brisk-containers/brisk/snapshotter/upper/xfsquota"
)

// upperDir is the dedicated mount "dir" uppers (and tmpfs overflow) use,
// empty when the node uses tmpfs uppers only; the snapshotter opens it
// whenever it is set.
func upperDir(c config.Snapshotter) string { return c.UpperDir }

// upperMount applies the snapshotter's own test of upper_dir, so that the
// finding is the error brisk-snapshotter stops on.
var upperMount = Check{
	Name: "upper/mount",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		dir := upperDir(n.Config.Snapshotter)
		if dir == "" {
			return one(Info, "upper = tmpfs and no upper_dir: every container's upper is its own tmpfs", "")
		}
		if err := upper.CheckDedicatedMount(dir); err != nil {
			return one(Fail, err.Error(), "brisk-snapshotter refuses to start until upper_dir is a dedicated mount with noatime: mount -o noatime,nodiratime DEVICE "+dir)
		}
		m, err := nodestat.MountOf(dir)
		if err != nil {
			return one(Fail, err.Error(), "mount a dedicated filesystem at "+dir)
		}
		return pass("upper_dir %s: a mount of its own, %s on %s, options %s", dir, m.FSType, m.Source, m.Options)
	},
}

// upperQuota asks the snapshotter's own quota code whether it can enforce
// per-container limits on upper_dir: the same test it makes at start.
var upperQuota = Check{
	Name: "upper/quota",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return nil
		}
		dir := upperDir(n.Config.Snapshotter)
		if dir == "" {
			return nil
		}
		limits := fmt.Sprintf("tmpfs_size = %s, tmpfs_inodes = %d", n.Config.Snapshotter.TmpfsSize, n.Config.Snapshotter.TmpfsInodes)
		if !xfsquota.KernelSupportsXFSQuota() {
			return one(Warn, "this kernel has no XFS quota support (CONFIG_XFS_QUOTA): "+limits+" are not enforced on dir uppers",
				"run a kernel with CONFIG_XFS_QUOTA, or keep containers on tmpfs uppers, which enforce them")
		}
		if _, err := xfsquota.Open(dir); err != nil {
			return one(Warn, fmt.Sprintf("%v: %s are not enforced on dir uppers; one container can fill upper_dir", err, limits),
				"put upper_dir on XFS mounted with -o noatime,prjquota")
		}
		return pass("XFS project quotas on %s: %s enforced per container", dir, limits)
	},
}

// upperExt4 reports ext4's journalling mode on upper_dir. The playbook's
// data=writeback advice is information: it trades crash consistency of file
// contents for less journal ordering, which suits only disposable uppers.
var upperExt4 = Check{
	Name: "upper/ext4",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return nil
		}
		dir := upperDir(n.Config.Snapshotter)
		if dir == "" {
			return nil
		}
		m, err := nodestat.MountOf(dir)
		if err != nil || m.FSType != "ext4" {
			return nil
		}
		dev, ok := nodestat.BlockDevice(n.sysRoot, m)
		if !ok {
			return one(Info, fmt.Sprintf("ext4 at %s: block device %s not found in %s", m.Mountpoint, dev.MajMin, n.sysRoot), "")
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
		return one(Info, fmt.Sprintf("ext4 on %s at %s: data=%s, %s", dev.Name, m.Mountpoint, mode, journal),
			"data=writeback shortens fsync (data no longer ordered before metadata) but after a crash files may hold stale data: only for a disposable upper_dir")
	},
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
		if dir := upperDir(n.Config.Snapshotter); dir != "" {
			paths = append(paths, nodestat.Watched{What: "upper_dir", Path: dir})
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
	sp, err := nodestat.Statfs(at)
	if err != nil {
		return Result{Check: "upper/headroom", Status: Fail, Found: fmt.Sprintf("%s %s: %v", key, path, err), Fix: "create " + path}
	}
	found := fmt.Sprintf("%s %s: %s free of %s (%.0f%%), %d of %d inodes free (%.0f%%)", key, path,
		units.BytesSize(float64(sp.BytesFree)), units.BytesSize(float64(sp.BytesTotal)), sp.FreeBytesPercent(),
		sp.InodesFree, sp.InodesTotal, sp.FreeInodesPercent())
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
