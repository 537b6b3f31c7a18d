package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		toml    string
		wantErr []string // substrings the error must contain; nil means success
		check   func(t *testing.T, c Config)
	}{
		{name: "empty uses defaults", toml: "", check: func(t *testing.T, c Config) {
			if c.Snapshotter.Upper != UpperTmpfs || c.Snapshotter.TmpfsSize != 256<<20 || c.Logs.Fsync != FsyncExit {
				t.Fatalf("unexpected defaults: %+v", c)
			}
		}},
		{name: "suffixed size and integer inodes", toml: "[snapshotter]\ntmpfs_size = \"64Mi\"\ntmpfs_inodes = 1000\n", check: func(t *testing.T, c Config) {
			if c.Snapshotter.TmpfsSize != 64<<20 || c.Snapshotter.TmpfsInodes != 1000 {
				t.Fatalf("got %d %d", c.Snapshotter.TmpfsSize, c.Snapshotter.TmpfsInodes)
			}
		}},
		{name: "integer size and suffixed inodes", toml: "[snapshotter]\ntmpfs_size = 1048576\ntmpfs_inodes = \"4Ki\"\n", check: func(t *testing.T, c Config) {
			if c.Snapshotter.TmpfsSize != 1<<20 || c.Snapshotter.TmpfsInodes != 4096 {
				t.Fatalf("got %d %d", c.Snapshotter.TmpfsSize, c.Snapshotter.TmpfsInodes)
			}
		}},
		{name: "unknown key", toml: "[snapshotter]\ntmpfs_sise = \"1Gi\"\n", wantErr: []string{"unknown key", "snapshotter.tmpfs_sise"}},
		{name: "bad size", toml: "[snapshotter]\ntmpfs_size = \"lots\"\n", wantErr: []string{"snapshotter.tmpfs_size", `"lots"`}},
		{name: "negative size", toml: "[snapshotter]\ntmpfs_size = -5\n", wantErr: []string{"snapshotter.tmpfs_size", "-5"}},
		{name: "negative string size", toml: "[snapshotter]\ntmpfs_size = \"-5Mi\"\n", wantErr: []string{"snapshotter.tmpfs_size", "-5Mi"}},
		{name: "bad upper", toml: "[snapshotter]\nupper = \"ram\"\n", wantErr: []string{"snapshotter.upper", `"ram"`}},
		{name: "dir without upper_dir", toml: "[snapshotter]\nupper = \"dir\"\n", wantErr: []string{"snapshotter.upper_dir"}},
		{name: "budget smaller than size", toml: "[snapshotter]\ntmpfs_size = \"2Gi\"\ntmpfs_budget = \"1Gi\"\n", wantErr: []string{"snapshotter.tmpfs_size", "tmpfs_budget"}},
		{name: "bad on_budget_exceeded", toml: "[snapshotter]\non_budget_exceeded = \"wait\"\n", wantErr: []string{"snapshotter.on_budget_exceeded", "wait"}},
		{name: "bad metrics address", toml: "[snapshotter]\nmetrics_address = \"9190\"\n", wantErr: []string{"snapshotter.metrics_address", "9190"}},
		{name: "relative root", toml: "[snapshotter]\nroot = \"var/lib\"\n", wantErr: []string{"snapshotter.root", "var/lib"}},
		{name: "fsync interval", toml: "[logs]\nfsync = \"250ms\"\n", check: func(t *testing.T, c Config) {
			if c.Logs.FsyncInterval().Milliseconds() != 250 {
				t.Fatalf("interval %v", c.Logs.FsyncInterval())
			}
		}},
		{name: "bad fsync", toml: "[logs]\nfsync = \"sometimes\"\n", wantErr: []string{"logs.fsync", "sometimes"}},
		{name: "bad compression", toml: "[logs.s3]\ncompression = \"lz4\"\n", wantErr: []string{"logs.s3.compression", "lz4"}},
		{name: "bad endpoint", toml: "[logs.s3]\nendpoint = \"localhost:9000\"\n", wantErr: []string{"logs.s3.endpoint", "localhost:9000"}},
		{name: "bad timeout", toml: "[logs]\nupload_timeout = \"soon\"\n", wantErr: []string{"logs.upload_timeout", "soon"}},
		{name: "s3 request timeout too short", toml: "[logs.s3]\nrequest_timeout = \"1ns\"\n", wantErr: []string{"logs.s3.request_timeout", "1ns", "at least 1s"}},
		{name: "unknown s3 key", toml: "[logs.s3]\nsecret_key = \"x\"\n", wantErr: []string{"unknown key", "logs.s3.secret_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.toml))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("expected an error containing %q", tc.wantErr)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error is not invalid-argument: %v", err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	for _, n := range []int64{1, 1023, 1024, 512 << 20, 3 << 30, 1<<20 + 1} {
		got, err := ParseSize(FormatSize(n))
		if err != nil || got != n {
			t.Errorf("FormatSize(%d) = %q parses to %d, %v", n, FormatSize(n), got, err)
		}
	}
}
