package config

import (
	"testing"
)

func TestProfiles(t *testing.T) {
	const base = "[snapshotter]\ntmpfs_size = \"64Mi\"\ntmpfs_budget = \"4Gi\"\nupper_dir = \"/mnt/nvme\"\nvolatile = true\n"
	for _, tc := range []struct {
		name    string
		toml    string
		wantErr []string // substrings the error must contain; nil means success
		want    []Profile
	}{
		{name: "none", toml: base, want: []Profile{}},
		{
			name: "inherits what it leaves out",
			toml: base + "[snapshotter.profiles.brisk-small]\ntmpfs_size = \"32Mi\"\n[snapshotter.profiles.brisk-large]\ntmpfs_size = \"2Gi\"\ntmpfs_inodes = \"1Mi\"\nupper = \"dir\"\nupper_dir = \"/mnt/big\"\nvolatile = false\non_budget_exceeded = \"dir\"\n",
			want: []Profile{
				{Name: "brisk-large", Upper: UpperDir, UpperDir: "/mnt/big", TmpfsSize: 2 << 30, TmpfsInodes: 1 << 20, Volatile: false, OnBudgetExceeded: OnBudgetDir},
				{Name: "brisk-small", Upper: UpperTmpfs, UpperDir: "/mnt/nvme", TmpfsSize: 32 << 20, TmpfsInodes: 64 << 10, Volatile: true, OnBudgetExceeded: OnBudgetFail},
			},
		},
		{name: "integer size", toml: base + "[snapshotter.profiles.p]\ntmpfs_size = 1048576\n", want: []Profile{
			{Name: "p", Upper: UpperTmpfs, UpperDir: "/mnt/nvme", TmpfsSize: 1 << 20, TmpfsInodes: 64 << 10, Volatile: true, OnBudgetExceeded: OnBudgetFail},
		}},
		{name: "empty table is the default under another name", toml: base + "[snapshotter.profiles.same]\n", want: []Profile{
			{Name: "same", Upper: UpperTmpfs, UpperDir: "/mnt/nvme", TmpfsSize: 64 << 20, TmpfsInodes: 64 << 10, Volatile: true, OnBudgetExceeded: OnBudgetFail},
		}},
		{name: "unknown key", toml: "[snapshotter.profiles.p]\ntmpfs_budget = \"1Gi\"\n", wantErr: []string{"unknown key", "snapshotter.profiles.p.tmpfs_budget"}},
		{name: "bad size", toml: "[snapshotter.profiles.p]\ntmpfs_size = \"lots\"\n", wantErr: []string{"snapshotter.profiles.p.tmpfs_size", `"lots"`}},
		{name: "zero size", toml: "[snapshotter.profiles.p]\ntmpfs_size = 0\n", wantErr: []string{"snapshotter.profiles.p.tmpfs_size", `"0"`, "positive"}},
		{name: "one inode", toml: "[snapshotter.profiles.p]\ntmpfs_inodes = 1\n", wantErr: []string{"snapshotter.profiles.p.tmpfs_inodes", `"1"`, "from 32"}},
		{name: "inodes past what tmpfs accepts", toml: "[snapshotter.profiles.p]\ntmpfs_inodes = \"20Pi\"\n", wantErr: []string{"snapshotter.profiles.p.tmpfs_inodes", "18014398509481983"}},
		{name: "negative inodes", toml: "[snapshotter.profiles.p]\ntmpfs_inodes = -1\n", wantErr: []string{"snapshotter.profiles.p.tmpfs_inodes", `"-1"`}},
		{name: "past the budget", toml: base + "[snapshotter.profiles.p]\ntmpfs_size = \"8Gi\"\n", wantErr: []string{"snapshotter.profiles.p.tmpfs_size", `"8Gi"`, "tmpfs_budget (4Gi)"}},
		{name: "bad upper", toml: "[snapshotter.profiles.p]\nupper = \"ram\"\n", wantErr: []string{"snapshotter.profiles.p.upper", `"ram"`}},
		{name: "dir without any upper_dir", toml: "[snapshotter.profiles.p]\nupper = \"dir\"\n", wantErr: []string{"snapshotter.profiles.p.upper_dir", `""`}},
		{name: "fallback without any upper_dir", toml: "[snapshotter.profiles.p]\non_budget_exceeded = \"dir\"\n", wantErr: []string{"snapshotter.profiles.p.upper_dir"}},
		{name: "relative upper_dir", toml: "[snapshotter.profiles.p]\nupper_dir = \"mnt\"\n", wantErr: []string{"snapshotter.profiles.p.upper_dir", `"mnt"`}},
		{name: "bad on_budget_exceeded", toml: "[snapshotter.profiles.p]\non_budget_exceeded = \"wait\"\n", wantErr: []string{"snapshotter.profiles.p.on_budget_exceeded", `"wait"`}},
		{name: "bad volatile", toml: "[snapshotter.profiles.p]\nvolatile = \"yes\"\n", wantErr: []string{"snapshotter.profiles.p.volatile"}},
		{name: "name of the default", toml: "[snapshotter.profiles.default]\n", wantErr: []string{"snapshotter.profiles.default", `"default"`}},
		{name: "bad name", toml: "[snapshotter.profiles.\"a b\"]\n", wantErr: []string{"snapshotter.profiles.a b", `"a b"`}},
		{name: "default section still checked", toml: "[snapshotter]\nupper = \"ram\"\n[snapshotter.profiles.p]\nupper = \"tmpfs\"\n", wantErr: []string{"snapshotter.upper", `"ram"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.toml))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				got := c.Snapshotter.ProfileList()
				if len(got) != len(tc.want) {
					t.Fatalf("got %d profiles %+v, want %+v", len(got), got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("profile %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
					}
				}
				return
			}
			requireInvalid(t, err, tc.wantErr)
		})
	}
}

func TestProfileLookup(t *testing.T) {
	c, err := Parse([]byte("[snapshotter]\ntmpfs_size = \"64Mi\"\n[snapshotter.profiles.small]\ntmpfs_size = \"8Mi\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.Snapshotter.Profile("small"); !ok || p.TmpfsSize != 8<<20 || p.Name != "small" {
		t.Errorf("Profile(small) = %+v, %v", p, ok)
	}
	if _, ok := c.Snapshotter.Profile("brisk"); ok {
		t.Error("a name without a table is not a profile")
	}
	if d := c.Snapshotter.DefaultProfile(); d.Name != DefaultProfileName || d.TmpfsSize != 64<<20 {
		t.Errorf("default profile %+v", d)
	}
	if !c.Snapshotter.ShareLayers {
		t.Error("share_layers defaults to true")
	}
}
