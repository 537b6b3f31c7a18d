package nodestat

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/prometheus/procfs"
)

// v1Controllers are the hierarchies whose cgroup holds every process of a
// container under runc on cgroup v1, in the order we try them.
var v1Controllers = []string{"pids", "memory", "cpu", "cpuacct", "blkio"}

// CgroupDir returns the cgroupfs directory of pid's cgroup under cgroupRoot
// (/sys/fs/cgroup outside tests). On cgroup v2 that is the unified
// hierarchy; on v1 (and hybrid) the hierarchy of one controller every
// runc container is placed in. Reading the process's own cgroup, rather
// than the container's spec, works whatever the cgroup driver.
func CgroupDir(procRoot, cgroupRoot string, pid int) (string, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return "", err
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return "", err
	}
	groups, err := p.Cgroups()
	if err != nil {
		return "", fmt.Errorf("cgroups of pid %d: %w", pid, err)
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		for _, g := range groups {
			if g.HierarchyID == 0 {
				return filepath.Join(cgroupRoot, g.Path), nil
			}
		}
		return "", fmt.Errorf("pid %d has no cgroup v2 entry: %w", pid, errdefs.ErrNotFound)
	}
	for _, want := range v1Controllers {
		for _, g := range groups {
			if !slices.Contains(g.Controllers, want) {
				continue
			}
			dir := filepath.Join(cgroupRoot, strings.Join(g.Controllers, ","), g.Path)
			if _, err := os.Stat(dir); err == nil {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("pid %d: none of the cgroup v1 hierarchies %v is mounted under %s: %w", pid, v1Controllers, cgroupRoot, errdefs.ErrNotFound)
}

// CgroupProcs lists the processes in dir and in the cgroups below it (a
// container may create sub-cgroups). A cgroup removed while we walk is
// skipped: its processes are gone too.
func CgroupProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path != dir {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		f, err := os.Open(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
			if err != nil {
				return fmt.Errorf("%s: %q is not a pid", f.Name(), sc.Text())
			}
			pids = append(pids, pid)
		}
		return sc.Err()
	})
	return pids, err
}
