package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/config"
)

// TestRuntimeCheckSaysWhatItLookedFor: a handler runs the brisk shim by
// runtime_type or by runtime_path; a FAIL names both forms and the handlers
// it saw, so an operator who wrote one form is not told only of the other.
func TestRuntimeCheckSaysWhatItLookedFor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		runtimes map[string]criRuntime
		status   Status
		found    []string // each in the (first) finding
	}{
		{
			name:     "runc only",
			runtimes: map[string]criRuntime{"runc": {Type: "io.containerd.runc.v2"}},
			status:   Fail,
			found:    []string{`runtime_type = "io.containerd.brisk.v2"`, "runtime_path naming containerd-shim-brisk-v2", "handlers found: runc"},
		},
		{
			name: "a runtime_path that is another shim",
			runtimes: map[string]criRuntime{
				"runc":  {Type: "io.containerd.runc.v2"},
				"kata":  {Type: "io.containerd.runc.v2", Path: "/usr/local/bin/containerd-shim-kata-v2"},
				"brisk": {Type: "io.containerd.runc.v2", Path: "/usr/local/bin/containerd-shim-brisk-v2-old"},
			},
			status: Fail,
			found:  []string{`runtime_type = "io.containerd.brisk.v2"`, "runtime_path naming containerd-shim-brisk-v2", "handlers found: brisk, kata, runc"},
		},
		{
			name:   "no handlers",
			status: Fail,
			found:  []string{"runtime_path naming containerd-shim-brisk-v2", "handlers found: none"},
		},
		{
			name:     "by runtime_path",
			runtimes: map[string]criRuntime{"brisk": {Type: "io.containerd.runc.v2", Path: "/usr/local/bin/containerd-shim-brisk-v2", Snapshotter: "brisk"}},
			status:   Pass,
			found:    []string{`CRI handler "brisk"`, "at /usr/local/bin/containerd-shim-brisk-v2"},
		},
		{
			name:     "by runtime_type",
			runtimes: map[string]criRuntime{"brisk": {Type: "io.containerd.brisk.v2", Snapshotter: "brisk"}},
			status:   Pass,
			found:    []string{`CRI handler "brisk" → io.containerd.brisk.v2`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := NewNode("/brisk.toml", config.Default(), nil)
			var cri criConfig
			cri.Containerd.Runtimes = tc.runtimes
			// CRI's answer as containerd would give it; nothing dials.
			n.criOnce.Do(func() { n.cri = &cri })
			rs := containerdRuntime.Run(context.Background(), n)
			if len(rs) != 1 || rs[0].Status != tc.status {
				t.Fatalf("findings %+v, want one %v", rs, tc.status)
			}
			for _, want := range tc.found {
				if !strings.Contains(rs[0].Found, want) {
					t.Errorf("finding %q does not say %q", rs[0].Found, want)
				}
			}
		})
	}
}
