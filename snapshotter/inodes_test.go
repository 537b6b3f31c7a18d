//go:build linux

package snapshotter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/brisk-containers/brisk/config"
)

// The inode bounds Prepare accepts are the ones that work: tmpfs takes the
// largest, and the smallest holds what runc and CRI create in a rootfs with
// room for the container's own files.
func TestTmpfsInodeBounds(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")

	ms, err := e.sn.Prepare(e.ctx, "most", base, snapshots.WithLabels(map[string]string{LabelTmpfsInodes: fmt.Sprint(int64(config.MaxTmpfsInodes))}))
	must(t, err)
	id, _, _, _ := e.id("most")
	if tm := tmpfsMount(t, e.sn.tmpfsDir(id)); tm == nil || !strings.Contains(tm.VFSOptions, fmt.Sprintf("nr_inodes=%d", int64(config.MaxTmpfsInodes))) {
		t.Fatalf("tmpfs of the largest inode limit: %+v", tm)
	}
	e.mountTarget("most", ms)

	ms, err = e.sn.Prepare(e.ctx, "fewest", base, snapshots.WithLabels(map[string]string{LabelTmpfsInodes: fmt.Sprint(config.MinTmpfsInodes)}))
	must(t, err)
	root := e.mountTarget("fewest", ms)
	// What runc and CRI create in an image that has none of them.
	for _, d := range []string{"proc", "sys", "dev", "run", "etc"} {
		must(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/termination-log"} {
		must(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
	}
	for i := range 10 {
		must(t, os.WriteFile(filepath.Join(root, fmt.Sprint("file", i)), []byte("data"), 0o644))
	}
}
