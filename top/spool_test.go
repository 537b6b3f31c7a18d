package top

import (
	"testing"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/nodestat"
)

// TestRowSpoolUnderEitherRuntimeType: a pod on the brisk RuntimeClass runs
// the brisk shim under runc's runtime type (runtime_path), so its spool must
// show whatever the runtime name says; a runc container has none.
func TestRowSpoolUnderEitherRuntimeType(t *testing.T) {
	s := NewSampler(nil, config.Config{}, WithRoots(t.TempDir(), t.TempDir(), t.TempDir()))
	spools := map[taskKey]int64{{"k8s.io", "brisk-pod"}: 4096, {"default", "t1"}: 10}
	for _, tc := range []struct {
		c    container
		want int64
	}{
		{container{ns: "k8s.io", id: "brisk-pod", runtime: "io.containerd.runc.v2"}, 4096},
		{container{ns: "k8s.io", id: "runc-pod", runtime: "io.containerd.runc.v2"}, -1},
		{container{ns: "default", id: "t1", runtime: BriskRuntime}, 10},
		{container{ns: "default", id: "t2", runtime: BriskRuntime}, 0},
	} {
		r, _ := s.row(tc.c, usageReport{}, spools, map[procKey]nodestat.IO{}, 1)
		if r.Spool != tc.want {
			t.Errorf("%s/%s on %s: spool %d, want %d", tc.c.ns, tc.c.id, tc.c.runtime, r.Spool, tc.want)
		}
	}
}
