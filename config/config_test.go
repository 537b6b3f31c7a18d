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
		wantNot string   // a substring the error must not contain
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
		{name: "relative usage socket", toml: "[snapshotter]\nusage_socket = \"127.0.0.1:9191\"\n", wantErr: []string{"snapshotter.usage_socket", "127.0.0.1:9191"}},
		{name: "usage socket on the gRPC socket", toml: "[snapshotter]\nusage_socket = \"/run/brisk/snapshotter.sock\"\n", wantErr: []string{"snapshotter.usage_socket", "snapshotter.address"}},
		{name: "relative root", toml: "[snapshotter]\nroot = \"var/lib\"\n", wantErr: []string{"snapshotter.root", "var/lib"}},
		{name: "fsync interval", toml: "[logs]\nfsync = \"250ms\"\n", check: func(t *testing.T, c Config) {
			if c.Logs.FsyncInterval().Milliseconds() != 250 {
				t.Fatalf("interval %v", c.Logs.FsyncInterval())
			}
		}},
		{name: "slow_consumer defaults to wait", toml: "", check: func(t *testing.T, c Config) {
			if c.Logs.SlowConsumer != SlowConsumerWait {
				t.Fatalf("slow_consumer %q", c.Logs.SlowConsumer)
			}
		}},
		{name: "slow_consumer drop", toml: "[logs]\nslow_consumer = \"drop\"\n", check: func(t *testing.T, c Config) {
			if c.Logs.SlowConsumer != SlowConsumerDrop {
				t.Fatalf("slow_consumer %q", c.Logs.SlowConsumer)
			}
		}},
		{name: "bad slow_consumer", toml: "[logs]\nslow_consumer = \"block\"\n", wantErr: []string{"logs.slow_consumer", `"block"`, "wait"}},
		{name: "empty slow_consumer", toml: "[logs]\nslow_consumer = \"\"\n", wantErr: []string{"logs.slow_consumer", `""`}},
		{name: "bad fsync", toml: "[logs]\nfsync = \"sometimes\"\n", wantErr: []string{"logs.fsync", "sometimes"}},
		{name: "bad compression", toml: "[logs.s3]\ncompression = \"lz4\"\n", wantErr: []string{"logs.s3.compression", "lz4"}},
		{name: "bad endpoint", toml: "[logs.s3]\nendpoint = \"localhost:9000\"\n", wantErr: []string{"logs.s3.endpoint", "localhost:9000"}},
		{name: "bad timeout", toml: "[logs]\nupload_timeout = \"soon\"\n", wantErr: []string{"logs.upload_timeout", "soon"}},
		{name: "s3 request timeout too short", toml: "[logs.s3]\nrequest_timeout = \"1ns\"\n", wantErr: []string{"logs.s3.request_timeout", "1ns", "at least 1s"}},
		{name: "unknown s3 key", toml: "[logs.s3]\nsecret_key = \"x\"\n", wantErr: []string{"unknown key", "logs.s3.secret_key"}},
		{name: "size overflows with a unit", toml: "[snapshotter]\ntmpfs_size = \"8192P\"\n", wantErr: []string{"snapshotter.tmpfs_size", "8192P", "overflow"}, wantNot: "negative"},
		{name: "size overflows as a string", toml: "[logs]\nmax_bytes = \"99999999999999999999\"\n", wantErr: []string{"logs.max_bytes", "99999999999999999999", "overflow"}, wantNot: "negative"},
		{name: "size overflows as an integer", toml: "[logs]\nmax_bytes = 99999999999999999999\n", wantErr: []string{"logs.max_bytes", "99999999999999999999", "too large"}, wantNot: "negative"},
		{name: "fraction of a unit", toml: "[logs]\nmax_bytes = \"0.9Ki\"\n", wantErr: []string{"logs.max_bytes", "0.9Ki", "fraction"}},
		{name: "fraction as a string", toml: "[snapshotter]\ntmpfs_size = \"1.5\"\n", wantErr: []string{"snapshotter.tmpfs_size", "1.5", "fraction"}},
		{name: "fraction as a float", toml: "[logs]\nmax_bytes = 1.5\n", wantErr: []string{"logs.max_bytes", "1.5", "fraction"}},
		{name: "inodes past what tmpfs accepts", toml: "[snapshotter]\ntmpfs_inodes = 18014398509481984\n", wantErr: []string{"snapshotter.tmpfs_inodes", `"18014398509481984"`, "to 18014398509481983 (the most tmpfs accepts)"}},
		{name: "inodes past what tmpfs accepts, with a unit", toml: "[snapshotter]\ntmpfs_inodes = \"16Pi\"\n", wantErr: []string{"snapshotter.tmpfs_inodes", `"18014398509481984"`, "to 18014398509481983"}},
		{name: "most inodes tmpfs accepts", toml: "[snapshotter]\ntmpfs_inodes = 18014398509481983\n", check: func(t *testing.T, c Config) {}},
		{name: "too few inodes for a rootfs", toml: "[snapshotter]\ntmpfs_inodes = 3\n", wantErr: []string{"snapshotter.tmpfs_inodes", `"3"`, "from 32 (fewer cannot hold a container's rootfs)"}},
		{name: "fewest inodes for a rootfs", toml: "[snapshotter]\ntmpfs_inodes = 32\n", check: func(t *testing.T, c Config) {}},
		{name: "fractional count", toml: "[snapshotter]\ntmpfs_inodes = \"1.5Ki\"\n", wantErr: []string{"snapshotter.tmpfs_inodes", "1.5Ki", "fraction"}},
		{name: "fsync interval below the minimum", toml: "[logs]\nfsync = \"1ns\"\n", wantErr: []string{"logs.fsync", "1ns", "at least 10ms"}},
		{name: "fsync interval at the minimum", toml: "[logs]\nfsync = \"10ms\"\n", check: func(t *testing.T, c Config) {}},
		{name: "upload_timeout below the minimum", toml: "[logs]\nupload_timeout = \"1ns\"\n", wantErr: []string{"logs.upload_timeout", "1ns", "at least 1s"}},
		{name: "unknown upload mode", toml: "[logs]\nupload = \"batches\"\n", wantErr: []string{"logs.upload", "batches", `"task"`}},
		{name: "batch without a bucket", toml: "[logs]\nupload = \"batch\"\n", wantErr: []string{"logs.upload", "logs.s3.bucket"}},
		{name: "batch interval too short", toml: "[logs]\nupload = \"batch\"\n[logs.s3]\nbucket = \"b\"\n[logs.batch]\ninterval = \"100ms\"\n", wantErr: []string{"logs.batch.interval", "100ms"}},
		{name: "standalone over max_bytes", toml: "[logs]\nupload = \"batch\"\n[logs.s3]\nbucket = \"b\"\n[logs.batch]\nmax_bytes = \"1Mi\"\nstandalone_over = \"2Mi\"\n", wantErr: []string{"logs.batch.standalone_over", "2097152"}},
		{name: "briskctl server, token and CA", toml: "[briskctl]\nserver = \"https://logs.example:7717\"\ntoken_file = \"/home/me/.brisk/token\"\nca_file = \"/home/me/.brisk/ca.pem\"\n", check: func(t *testing.T, c Config) {
			if c.Briskctl.Server != "https://logs.example:7717" || c.Briskctl.TokenFile != "/home/me/.brisk/token" || c.Briskctl.CAFile != "/home/me/.brisk/ca.pem" {
				t.Fatalf("briskctl %+v", c.Briskctl)
			}
		}},
		{name: "briskctl on the node's socket", toml: "[briskctl]\nserver = \"unix:///run/brisk/logd.sock\"\n", check: func(t *testing.T, c Config) {}},
		{name: "briskctl defaults to no server", toml: "", check: func(t *testing.T, c Config) {
			if c.Briskctl != (Briskctl{}) {
				t.Fatalf("briskctl %+v", c.Briskctl)
			}
		}},
		{name: "briskctl server without a scheme", toml: "[briskctl]\nserver = \"logs.example:7717\"\n", wantErr: []string{"briskctl.server", `"logs.example:7717"`, "https://HOST:PORT"}},
		{name: "briskctl server with a query", toml: "[briskctl]\nserver = \"https://logs.example:7717/?x=1\"\n", wantErr: []string{"briskctl.server", `"https://logs.example:7717/?x=1"`, "no user, query"}},
		{name: "briskctl server on a relative socket", toml: "[briskctl]\nserver = \"unix://run/brisk/logd.sock\"\n", wantErr: []string{"briskctl.server", `"unix://run/brisk/logd.sock"`, "absolute socket path"}},
		{name: "briskctl relative token file", toml: "[briskctl]\ntoken_file = \"token\"\n", wantErr: []string{"briskctl.token_file", `"token"`, "absolute"}},
		{name: "briskctl relative CA file", toml: "[briskctl]\nca_file = \"ca.pem\"\n", wantErr: []string{"briskctl.ca_file", `"ca.pem"`, "absolute"}},
		{name: "briskctl CA for an http server", toml: "[briskctl]\nserver = \"http://127.0.0.1:7717\"\nca_file = \"/ca.pem\"\n", wantErr: []string{"briskctl.ca_file", `"/ca.pem"`, `briskctl.server = "http://127.0.0.1:7717"`}},
		{name: "briskctl unknown key", toml: "[briskctl]\ntoken = \"secret\"\n", wantErr: []string{"unknown key", "briskctl.token"}},
		{name: "briskctl server not a string", toml: "[briskctl]\nserver = 7717\n", wantErr: []string{"briskctl.server", "7717"}},
		{name: "largest size", toml: "[logs]\nmax_bytes = \"7Ei\"\n", check: func(t *testing.T, c Config) {
			if c.Logs.MaxBytes != 7<<60 {
				t.Fatalf("max_bytes %d", c.Logs.MaxBytes)
			}
		}},
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
			requireInvalid(t, err, tc.wantErr)
			if tc.wantNot != "" && strings.Contains(err.Error(), tc.wantNot) {
				t.Errorf("error %q says %q", err, tc.wantNot)
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

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want []string // substrings of the one warning; nil: no warning
	}{
		{name: "defaults", toml: ""},
		{name: "prefix in the template", toml: "[logs.s3]\nprefix = \"node-1/\"\n"},
		{name: "template drops the prefix", toml: "[logs.s3]\nprefix = \"node-1/\"\nkey = \"{namespace}/{id}.log\"\n",
			want: []string{"logs.s3.key", `"{namespace}/{id}.log"`, "logs.s3.prefix", `"node-1/"`}},
		{name: "no prefix to drop", toml: "[logs.s3]\nkey = \"{namespace}/{id}.log\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			w := c.Warnings()
			if tc.want == nil {
				if len(w) != 0 {
					t.Fatalf("unexpected warnings %q", w)
				}
				return
			}
			if len(w) != 1 {
				t.Fatalf("warnings %q, want one", w)
			}
			for _, s := range tc.want {
				if !strings.Contains(w[0], s) {
					t.Errorf("warning %q does not contain %q", w[0], s)
				}
			}
		})
	}
}

// requireInvalid checks that err is an invalid-argument error naming every
// string of want (the key and the bad value).
func requireInvalid(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q", want)
	}
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("error is not invalid-argument: %v", err)
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}
