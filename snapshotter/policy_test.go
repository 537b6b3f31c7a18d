//go:build linux

package snapshotter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// TestNewRefusesABadProfileBeforeTouchingDisk: the default profile and every
// other are checked alike, by one function, and before New creates anything,
// so a refused configuration leaves no root behind and names the profile.
func TestNewRefusesABadProfileBeforeTouchingDisk(t *testing.T) {
	small := config.Profile{Name: "small", Upper: "tmpfs", TmpfsSize: 1 << 20, TmpfsInodes: 100, OnBudgetExceeded: "fail"}
	with := func(change func(*config.Profile)) Opt {
		p := small
		change(&p)
		return WithProfiles(p)
	}
	for _, tc := range []struct {
		name string
		opts []Opt
		want string
	}{
		{"default: unknown backend", []Opt{WithBackend("nvme")}, `profile "default": upper backend "nvme"`},
		{"default: dir without upper_dir", []Opt{WithBackend(upper.KindDir)}, `profile "default": the dir backend needs upper_dir`},
		{"default: fallback without upper_dir", []Opt{WithFallbackToDir()}, `profile "default": the dir backend needs upper_dir`},
		{"default: no inodes", []Opt{WithTmpfsLimits(upper.Limits{Bytes: 1 << 20})}, `profile "default": tmpfs limits must be positive`},
		{"profile: unknown backend", []Opt{with(func(p *config.Profile) { p.Upper = "nvme" })}, `profile "small": upper backend "nvme"`},
		{"profile: dir without upper_dir", []Opt{with(func(p *config.Profile) { p.Upper = "dir" })}, `profile "small": the dir backend needs upper_dir`},
		{"profile: fallback without upper_dir", []Opt{with(func(p *config.Profile) { p.OnBudgetExceeded = "dir" })}, `profile "small": the dir backend needs upper_dir`},
		{"profile: no size", []Opt{with(func(p *config.Profile) { p.TmpfsSize = 0 })}, `profile "small": tmpfs limits must be positive`},
		{"profile: the default's name", []Opt{with(func(p *config.Profile) { p.Name = config.DefaultProfileName })}, `profile "default": the name belongs to the default profile`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "brisk")
			sn, err := New(context.Background(), root, append([]Opt{WithTmpfsBudget(1 << 30)}, tc.opts...)...)
			if err == nil {
				sn.Close()
				t.Fatal("New accepted the profile")
			}
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want invalid argument %q", err, tc.want)
			}
			if _, err := os.Stat(root); !os.IsNotExist(err) {
				t.Errorf("a refused configuration left %s behind (%v)", root, err)
			}
		})
	}
}
