//go:build linux

package snapshotter

import (
	"testing"

	"github.com/brisk-containers/brisk/config"
)

// TestReportNamesTheKey: the usage report takes containerd's
// NAMESPACE/SEQ/KEY apart for its clients, in every profile's key space,
// so that briskctl and top never parse keys.
func TestReportNamesTheKey(t *testing.T) {
	e := newProfiledEnv(t)
	for _, tc := range []struct{ profile, key string }{
		{config.DefaultProfileName, "k8s.io/3/ctr"},
		{"small", "default/12/a/b"},
		{"large", "bare"},
	} {
		_, err := e.p.Prepare(e.as(tc.profile), tc.key, "")
		must(t, err)
	}
	report, err := e.sn.Report(e.ctx)
	must(t, err)
	type entry struct{ key, profile, namespace, name string }
	got := map[entry]bool{}
	for _, u := range report {
		got[entry{u.Key, u.Profile, u.Namespace, u.Name}] = true
	}
	for _, want := range []entry{
		{"k8s.io/3/ctr", config.DefaultProfileName, "k8s.io", "ctr"},
		{"default/12/a/b", "small", "default", "a/b"},
		{"bare", "large", "", "bare"},
	} {
		if !got[want] {
			t.Errorf("report lacks %+v: %+v", want, report)
		}
	}
}
