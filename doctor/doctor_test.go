package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/nodestat"
)

func TestRunKeepsOrderAndTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	checks := []Check{
		{Name: "slow", Hint: "look at the slow thing", Run: func(ctx context.Context, _ *Node) []Result {
			<-release // ignores its deadline, as a hung syscall would
			return pass("too late")
		}},
		{Name: "multi", Run: func(context.Context, *Node) []Result {
			return []Result{{Status: Pass, Found: "a"}, {Check: "multi/b", Status: Warn, Found: "b", Fix: "fix b"}}
		}},
		{Name: "crash", Run: func(context.Context, *Node) []Result { panic("boom") }},
	}
	done := make(chan Report, 1)
	go func() {
		done <- Run(context.Background(), NewNode("/x", config.Default(), nil), checks, 200*time.Millisecond)
	}()
	var r Report
	select {
	case r = <-done:
	case <-time.After(time.Minute): // no timing assertion: only that Run does not wait for the hung check
		t.Fatal("Run waits for a check past its timeout")
	}
	want := []Result{
		{Check: "slow", Status: Fail, Found: "no answer within 200ms", Fix: "look at the slow thing"},
		{Check: "multi", Status: Pass, Found: "a"},
		{Check: "multi/b", Status: Warn, Found: "b", Fix: "fix b"},
	}
	if len(r.Results) != 4 {
		t.Fatalf("results %+v", r.Results)
	}
	for i, w := range want {
		if r.Results[i] != w {
			t.Errorf("result %d = %+v, want %+v", i, r.Results[i], w)
		}
	}
	if c := r.Results[3]; c.Check != "crash" || c.Status != Fail || !strings.Contains(c.Found, "boom") {
		t.Errorf("crash result %+v", c)
	}
	if !r.Failed() || r.Count(Fail) != 2 || r.Count(Warn) != 1 {
		t.Errorf("Failed %v, counts fail %d warn %d", r.Failed(), r.Count(Fail), r.Count(Warn))
	}
}

func TestConfigCheckGivesTheDaemonsError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brisk.toml")
	if err := os.WriteFile(path, []byte("[snapshotter]\ntmpfs_sise = \"1Gi\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, false)
	rs := configCheck.Run(context.Background(), NewNode(path, cfg, err))
	if len(rs) != 1 || rs[0].Status != Fail || rs[0].Found != err.Error() || !strings.Contains(rs[0].Found, "snapshotter.tmpfs_sise") {
		t.Fatalf("got %+v for %v", rs, err)
	}
	// Every check that needs the config says so instead of guessing.
	for _, c := range []Check{upperMount, headroomCheck, tmpfsBudget, spoolFS, spoolPending, logdCheck, s3Check} {
		for _, r := range c.Run(context.Background(), NewNode(path, cfg, err)) {
			if r.Status != Skip {
				t.Errorf("%s with a bad config: %+v", c.Name, r)
			}
		}
	}
}

func TestParseQuantity(t *testing.T) {
	const ram = 8 << 30
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1Gi", 1 << 30, false},
		{"500Mi", 500 << 20, false},
		{"500M", 500e6, false},
		{"1G", 1e9, false},
		{"100k", 100e3, false},
		{"104857600", 100 << 20, false},
		{"10%", ram / 10, false},
		{"lots", 0, true},
		{"-1Gi", 0, true},
		{"x%", 0, true},
	} {
		got, err := parseQuantity(tc.in, ram)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseQuantity(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestKubeletReserved(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       int64
		errHas     string
	}{
		{name: "all three", yaml: "kind: KubeletConfiguration\nsystemReserved:\n  memory: 1Gi\n  cpu: 500m\nkubeReserved:\n  memory: 512Mi\nevictionHard:\n  memory.available: 100Mi\n  nodefs.available: 10%\n", want: 1<<30 + 512<<20 + 100<<20},
		{name: "none", yaml: "kind: KubeletConfiguration\n", want: 0},
		{name: "bad quantity names the key", yaml: "kubeReserved:\n  memory: plenty\n", errHas: "kubeReserved.memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := kubeletReserved(p, 16<<30)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one naming %s", err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestPodAnnotationPatterns(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		want     bool
	}{
		{[]string{"brisk.io/*"}, true},
		{[]string{"example.com/x", "brisk.io/task-id"}, true},
		{[]string{"*"}, false}, // path.Match: * stops at the slash
		{[]string{"*/*"}, true},
		{nil, false},
	} {
		if got := matchesAny(tc.patterns, "brisk.io/task-id"); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.patterns, got, tc.want)
		}
	}
}

func TestRulePrefix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rule   types.LifecycleRule
		prefix string
		ok     bool
	}{
		{"filter prefix", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{Prefix: aws.String("logs/")}}, "logs/", true},
		{"empty filter: whole bucket", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{}}, "", true},
		{"legacy prefix", types.LifecycleRule{Prefix: aws.String("old/")}, "old/", true},
		{"tag filter covers only tagged objects", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("k"), Value: aws.String("v")}}}, "", false},
	} {
		p, ok := rulePrefix(tc.rule)
		if p != tc.prefix || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.name, p, ok, tc.prefix, tc.ok)
		}
	}
}

func TestGradeLoad(t *testing.T) {
	ssd := nodestat.Device{Name: "nvme0n1"}
	hdd := nodestat.Device{Name: "sda", Rotational: true}
	for _, tc := range []struct {
		name string
		dev  nodestat.Device
		load nodestat.DiskLoad
		want Status
	}{
		{"quiet SSD", ssd, nodestat.DiskLoad{Util: 5, Await: 0.3}, Pass},
		{"SSD await over 10 ms", ssd, nodestat.DiskLoad{Util: 40, Await: 25}, Warn},
		{"SSD saturated", ssd, nodestat.DiskLoad{Util: 95, Await: 30}, Warn},
		{"busy but fast", ssd, nodestat.DiskLoad{Util: 90, Await: 0.5}, Warn},
		{"disk at 25 ms is normal", hdd, nodestat.DiskLoad{Util: 30, Await: 25}, Pass},
		{"disk at 80 ms", hdd, nodestat.DiskLoad{Util: 30, Await: 80}, Warn},
	} {
		r := gradeLoad(tc.dev, "upper_dir", tc.load, 2*time.Second)
		if r.Status != tc.want || (r.Status == Warn) != (r.Fix != "") {
			t.Errorf("%s: %+v, want %s", tc.name, r, tc.want)
		}
	}
}

func TestHeadroomOfAPathNotCreatedYet(t *testing.T) {
	r := headroom("snapshotter root", filepath.Join(t.TempDir(), "not/yet"))
	if r.Status == Fail || !strings.Contains(r.Found, "free of") {
		t.Fatalf("%+v", r)
	}
}

func TestProfileResults(t *testing.T) {
	cfg, err := config.Parse([]byte("[snapshotter]\naddress = \"/s.sock\"\n[snapshotter.profiles.small]\ntmpfs_size = \"32Mi\"\n[snapshotter.profiles.large]\ntmpfs_size = \"2Gi\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	n := NewNode("/brisk.toml", cfg, nil)
	rs := profileResults(n, map[string]proxy{"brisk": {address: "/s.sock"}, "small": {address: "/s.sock"}, "large": {address: "/other.sock"}})
	if len(rs) != 2 || rs[0].Status != Fail || !strings.Contains(rs[0].Found, "/other.sock") || rs[1].Status != Pass {
		t.Fatalf("%+v", rs)
	}
	if rs := profileResults(NewNode("/brisk.toml", config.Default(), nil), nil); len(rs) != 0 {
		t.Fatalf("no profiles, findings %+v", rs)
	}
	// A name on the socket that is no profile's is refused by the daemon.
	rs = profileResults(n, map[string]proxy{"brisk": {address: "/s.sock"}, "small": {address: "/s.sock"}, "large": {address: "/s.sock"}, "brisk-typo": {address: "/s.sock"}, "other": {address: "/other.sock"}})
	if len(rs) != 3 || rs[2].Status != Fail || !strings.Contains(rs[2].Found, `"brisk-typo"`) || !strings.Contains(rs[2].Fix, "[proxy_plugins.brisk-typo]") {
		t.Fatalf("%+v", rs)
	}
}
