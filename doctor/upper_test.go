package doctor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/config"
)

// A profile's own upper_dir is opened by brisk-snapshotter at start, which
// stops on it as on [snapshotter]'s: doctor must check it the same way.
func TestUpperChecksCoverProfilesUpperDirs(t *testing.T) {
	own, shared := t.TempDir(), t.TempDir() // directories, not mounts
	cfg, err := config.Parse([]byte(fmt.Sprintf(`[snapshotter]
upper_dir = %q
[snapshotter.profiles.big]
upper = "dir"
upper_dir = %q
[snapshotter.profiles.same]
upper = "dir"
`, shared, own)))
	if err != nil {
		t.Fatal(err)
	}
	n := NewNode("/brisk.toml", cfg, nil)
	got := upperMount.Run(context.Background(), n)
	if len(got) != 2 {
		t.Fatalf("want one finding per distinct upper_dir (2), got %+v", got)
	}
	for i, want := range []struct{ label, dir string }{{`upper_dir "`, shared}, {`profile big: upper_dir "`, own}} {
		r := got[i]
		if r.Status != Fail || !strings.HasPrefix(r.Found, want.label) || !strings.Contains(r.Found, want.dir) || !strings.Contains(r.Fix, "noatime") {
			t.Errorf("finding %d: %+v, want a FAIL for %s %s", i, r, want.label, want.dir)
		}
	}
	var paths []string
	for _, r := range headroomCheck.Run(context.Background(), n) {
		paths = append(paths, r.Found)
	}
	if s := strings.Join(paths, "\n"); !strings.Contains(s, "upper_dir of profile big "+own) || !strings.Contains(s, "upper_dir "+shared) {
		t.Errorf("headroom does not cover every upper_dir:\n%s", s)
	}
}
