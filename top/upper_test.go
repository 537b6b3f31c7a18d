package top

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/brisk-containers/brisk/config"
)

// Without a usage report, the upper's kind comes from the container's own
// mount table, read under the sampler's proc root like every other figure.
func TestUpperFromTheContainersMountTable(t *testing.T) {
	proc, upperdir := t.TempDir(), t.TempDir() // upperdir on a disk, not a tmpfs
	const pid = 4242424
	line := fmt.Sprintf("1234 1000 0:99 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=%s,workdir=/w\n", upperdir)
	if err := os.MkdirAll(filepath.Join(proc, fmt.Sprint(pid)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, fmt.Sprint(pid), "mountinfo"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewSampler(nil, config.Default(), WithRoots(proc, t.TempDir(), t.TempDir()))
	var r Row
	s.upper(&r, container{ns: "default", id: "c", pid: pid}, usageReport{})
	if r.Upper != "dir" {
		t.Fatalf("upper %q from %s/%d/mountinfo, want dir", r.Upper, proc, pid)
	}
}
