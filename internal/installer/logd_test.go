package installer

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/config"
)

// TestLogdRestartsOnlyForItsInputs: brisk-logd is installed and enabled
// beside the snapshotter, and restarted for its binary, its unit, [logs]
// the S3 credentials its unit reads and a first tokens file, never for a
// change only the snapshotter reads nor for new tokens, which it re-reads
// (a restart would cut its followers off).
func TestLogdRestartsOnlyForItsInputs(t *testing.T) {
	h := newTestHost(t)
	root := h.in.Layout.HostRoot
	if got, want := h.install(t), []string{"daemon-reload", "enable-now brisk-snapshotter.service", "enable-now brisk-logd.service", "restart containerd.service"}; !slices.Equal(got, want) {
		t.Fatalf("first install: %q, want %q", got, want)
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/brisk-logd.service")); err != nil ||
		!strings.Contains(string(data), "\nExecStart=/usr/local/bin/brisk-logd --config /etc/brisk/config.toml\n") ||
		!strings.Contains(string(data), "\nEnvironmentFile=-/etc/brisk/s3.env\n") {
		t.Fatalf("brisk-logd's unit: %v\n%s", err, data)
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/brisk-snapshotter.service")); err != nil || strings.Contains(string(data), "EnvironmentFile") {
		t.Errorf("brisk-snapshotter's unit still reads S3 credentials: %v\n%s", err, data)
	}
	if data, err := os.ReadFile(filepath.Join(root, "usr/local/bin/brisk-logd")); err != nil || string(data) != "binary brisk-logd" {
		t.Errorf("brisk-logd not installed: %q %v", data, err)
	}
	writeSrc := func(name, content string, mode os.FileMode) func(t *testing.T) {
		return func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(h.src, name), []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, step := range []struct {
		name   string
		change func(t *testing.T)
		want   []string
	}{
		{"nothing changed", func(*testing.T) {}, nil},
		{"a new brisk-logd", writeSrc("brisk-logd", "brisk-logd v2", 0o755), []string{"restart brisk-logd.service"}},
		{"a snapshotter key", func(t *testing.T) { h.setConfig(t, `tmpfs_size = "128Mi"`) }, []string{"restart brisk-snapshotter.service"}},
		{"a [logs] key", func(t *testing.T) { h.setConfig(t, "tmpfs_size = \"128Mi\"\n[logs]\nupload_timeout = \"1m\"") },
			[]string{"restart brisk-snapshotter.service", "restart brisk-logd.service"}},
		// brisk-logd cannot start while its tokens_file is missing,
		// and systemd gives up after a few tries.
		{"first tokens from the Secret", writeSrc("logd-tokens", "token-a *\n", 0o644), []string{"restart brisk-logd.service"}},
		{"the same tokens", func(*testing.T) {}, nil},
		{"new tokens", writeSrc("logd-tokens", "token-b team-a\n", 0o644), nil},
		{"S3 credentials: brisk-logd's alone", writeSrc("s3.env", "AWS_ACCESS_KEY_ID=x\n", 0o600), []string{"restart brisk-logd.service"}},
		{"its unit edited on the host", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/brisk-logd.service"), []byte("[Service]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"daemon-reload", "restart brisk-logd.service"}},
		{"its unit removed on the host", func(t *testing.T) {
			if err := os.Remove(filepath.Join(root, "etc/systemd/system/brisk-logd.service")); err != nil {
				t.Fatal(err)
			}
		}, []string{"daemon-reload", "enable-now brisk-logd.service"}},
	} {
		step.change(t)
		if got := h.install(t); !slices.Equal(got, step.want) {
			t.Errorf("%s: %q, want %q", step.name, got, step.want)
		}
	}
	tokens := filepath.Join(root, "etc/brisk/logd-tokens")
	if fi, err := os.Stat(tokens); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want mode 0600", tokens, fi, err)
	}
	if data, _ := os.ReadFile(tokens); string(data) != "token-b team-a\n" {
		t.Errorf("%s holds %q", tokens, data)
	}
}

// TestUninstallRemovesOnlyWhatItMade: uninstall stops and removes
// brisk-logd with the rest, and leaves the host as it was before the first
// install: the tokens file goes only when the installer wrote it.
func TestUninstallRemovesOnlyWhatItMade(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before prepares the host and the sources before the install;
		// after runs between the install and the uninstall.
		before, after func(t *testing.T, h *testHost)
		check         func(t *testing.T, h *testHost)
	}{
		{name: "no tokens"},
		{
			name: "tokens from the Secret",
			before: func(t *testing.T, h *testHost) {
				writeTestFile(t, filepath.Join(h.src, "logd-tokens"), "token-a *\n", 0o644)
			},
			check: func(t *testing.T, h *testHost) {
				if _, err := os.Stat(filepath.Join(h.in.Layout.HostRoot, "etc/brisk/logd-tokens")); err == nil {
					t.Errorf("the tokens the installer wrote are still there")
				}
			},
		},
		{
			name: "the operator's own tokens file and no Secret",
			before: func(t *testing.T, h *testHost) {
				writeTestFile(t, filepath.Join(h.in.Layout.HostRoot, "etc/brisk/logd-tokens"), "operator-token *\n", 0o600)
			},
			check: func(t *testing.T, h *testHost) {
				if data, err := os.ReadFile(filepath.Join(h.in.Layout.HostRoot, "etc/brisk/logd-tokens")); string(data) != "operator-token *\n" {
					t.Errorf("the operator's tokens file: %q %v, want it kept", data, err)
				}
			},
		},
		{
			name: "a socket brisk-logd left behind",
			after: func(t *testing.T, h *testHost) {
				// A daemon killed with SIGKILL leaves its socket.
				l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(h.in.Layout.HostRoot, "run/brisk/logd.sock"), Net: "unix"})
				if err != nil {
					t.Fatal(err)
				}
				l.SetUnlinkOnClose(false)
				l.Close()
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			if tc.before != nil {
				tc.before(t, h)
			}
			before := hostTree(t, h.in.Layout.HostRoot)
			h.install(t)
			if tc.after != nil {
				tc.after(t, h)
			}
			h.svc.actions = nil
			if _, err := h.in.Uninstall(context.Background()); err != nil {
				t.Fatal(err)
			}
			if want := []string{"daemon-reload", "restart containerd.service", "disable-now brisk-snapshotter.service", "disable-now brisk-logd.service", "daemon-reload"}; !slices.Equal(h.svc.actions, want) {
				t.Errorf("uninstall: %q, want %q", h.svc.actions, want)
			}
			if after := hostTree(t, h.in.Layout.HostRoot); !slices.Equal(after, before) {
				t.Errorf("host after uninstall:\n%q\nbefore:\n%q", after, before)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

func writeTestFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// TestWithNodeKeys: the installer adds node_name and peers_dns to the
// ConfigMap's [logs.api], under its header or in a table of their own,
// keeps every other byte, leaves a key the operator set, and refuses what
// it cannot add.
func TestWithNodeKeys(t *testing.T) {
	k := NodeKeys{NodeName: "node-1", PeersDNS: "brisk-logd.brisk-system.svc.cluster.local"}
	for _, tc := range []struct {
		name, config string
		keys         NodeKeys
		want         string // "" with wantErr
		wantErr      string
	}{
		{name: "no keys", config: "[logs]\nspool_dir = \"/x\"\n", want: "[logs]\nspool_dir = \"/x\"\n"},
		{name: "no [logs.api]", config: "# mine\n[logs]\nspool_dir = \"/x\"", keys: k,
			want: "# mine\n[logs]\nspool_dir = \"/x\"\n\n[logs.api]\nnode_name = \"node-1\" # set by brisk-installer\npeers_dns = \"brisk-logd.brisk-system.svc.cluster.local\" # set by brisk-installer\n"},
		{name: "empty config", config: "", keys: NodeKeys{NodeName: "n"},
			want: "\n[logs.api]\nnode_name = \"n\" # set by brisk-installer\n"},
		{name: "under the header", config: "[logs.api] # the API\nlisten = \"0.0.0.0:7717\"\n[logs.s3]\nbucket = \"b\"\n", keys: k,
			want: "[logs.api] # the API\nnode_name = \"node-1\" # set by brisk-installer\npeers_dns = \"brisk-logd.brisk-system.svc.cluster.local\" # set by brisk-installer\nlisten = \"0.0.0.0:7717\"\n[logs.s3]\nbucket = \"b\"\n"},
		{name: "header last, no newline", config: "[logs.api]", keys: NodeKeys{PeersDNS: "svc"},
			want: "[logs.api]\npeers_dns = \"svc\" # set by brisk-installer\n"},
		{name: "the operator's node_name stays", config: "[logs.api]\nnode_name = \"mine\"\n", keys: k,
			want: "[logs.api]\npeers_dns = \"brisk-logd.brisk-system.svc.cluster.local\" # set by brisk-installer\nnode_name = \"mine\"\n"},
		{name: "both set by the operator", config: "[logs.api]\nnode_name = \"a\"\npeers_dns = \"b\"\n", keys: k,
			want: "[logs.api]\nnode_name = \"a\"\npeers_dns = \"b\"\n"},
		{name: "an inline table", config: "[logs]\napi = { listen = \"127.0.0.1:7717\" }\n", keys: k, wantErr: "set the key there yourself"},
		{name: "not a DNS name", config: "", keys: NodeKeys{NodeName: "Node 1\"\n[x]"}, wantErr: `logs.api.node_name = "Node 1\"\n[x]"`},
		{name: "not TOML", config: "[logs\n", keys: k, wantErr: "brisk config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withNodeKeys([]byte(tc.config), tc.keys)
			if tc.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

// TestContribConfigShowsLogsAPI: contrib/config/brisk.toml is a valid
// config, and its commented [logs.api] section, uncommented, names every
// key of the section with its default.
func TestContribConfigShowsLogsAPI(t *testing.T) {
	data, err := os.ReadFile("../../contrib/config/brisk.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(data); err != nil {
		t.Fatalf("contrib/config/brisk.toml: %v", err)
	}
	uncommented, keys := commentedSection(t, string(data), "logs.api")
	cfg, err := config.Parse([]byte(uncommented))
	if err != nil {
		t.Fatalf("[logs.api] of contrib/config/brisk.toml, uncommented: %v\n%s", err, uncommented)
	}
	got, want := cfg.Logs.API, config.DefaultLogsAPI()
	if len(got.Peers) == 0 && len(want.Peers) == 0 {
		got.Peers, want.Peers = nil, nil // "peers = []" shows none
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("[logs.api] of contrib/config/brisk.toml shows %+v, the defaults are %+v", got, want)
	}
	typ := reflect.TypeOf(config.LogsAPI{})
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); !slices.Contains(keys, key) {
			t.Errorf("contrib/config/brisk.toml does not show logs.api.%s", key)
		}
	}
}

// TestContribConfigShowsLogsBatch: the commented [logs.batch] section of
// contrib/config/brisk.toml, uncommented, names every key of the section
// with its default, and the commented upload key its default.
func TestContribConfigShowsLogsBatch(t *testing.T) {
	data, err := os.ReadFile("../../contrib/config/brisk.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\n# upload = \""+config.UploadTask+"\" ") {
		t.Errorf("contrib/config/brisk.toml does not show logs.upload = %q", config.UploadTask)
	}
	uncommented, keys := commentedSection(t, string(data), "logs.batch")
	cfg, err := config.Parse([]byte(uncommented))
	if err != nil {
		t.Fatalf("[logs.batch] of contrib/config/brisk.toml, uncommented: %v\n%s", err, uncommented)
	}
	if got, want := cfg.Logs.Batch, config.DefaultBatch(); got != want {
		t.Errorf("[logs.batch] of contrib/config/brisk.toml shows %+v, the defaults are %+v", got, want)
	}
	typ := reflect.TypeOf(config.Batch{})
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); !slices.Contains(keys, key) {
			t.Errorf("contrib/config/brisk.toml does not show logs.batch.%s", key)
		}
	}
}

// commentedSection is the commented section [name] of a config,
// uncommented, and its keys.
func commentedSection(t *testing.T, data, name string) (string, []string) {
	t.Helper()
	_, section, ok := strings.Cut(data, "\n# ["+name+"]\n")
	if !ok {
		t.Fatalf("contrib/config/brisk.toml has no commented [%s] section", name)
	}
	uncommented := "[" + name + "]\n"
	var keys []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "# [") || !strings.HasPrefix(line, "#") {
			break // the next section's
		}
		kv, ok := strings.CutPrefix(line, "# ")
		if !ok || !strings.Contains(kv, " = ") {
			continue
		}
		uncommented += kv + "\n"
		keys = append(keys, strings.Fields(kv)[0])
	}
	return uncommented, keys
}

// TestInstallWritesNodeKeys: the node's name and the Service's DNS name
// reach brisk-logd through the installed config's [logs.api]; a second
// install changes nothing, a new name restarts brisk-logd, and a name the
// ConfigMap sets itself wins.
func TestInstallWritesNodeKeys(t *testing.T) {
	h := newTestHost(t)
	installed := func(t *testing.T) config.LogsAPI {
		t.Helper()
		cfg, err := config.Load(filepath.Join(h.in.Layout.HostRoot, "etc/brisk/config.toml"), false)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Logs.API
	}
	h.in.NodeKeys = NodeKeys{NodeName: "node-1", PeersDNS: "brisk-logd.brisk-system.svc.cluster.local"}
	h.install(t)
	if api := installed(t); api.NodeName != "node-1" || api.PeersDNS != "brisk-logd.brisk-system.svc.cluster.local" {
		t.Errorf("installed [logs.api]: node_name %q, peers_dns %q", api.NodeName, api.PeersDNS)
	}
	if got := h.install(t); len(got) != 0 {
		t.Errorf("second install: %q, want nothing", got)
	}
	h.in.NodeKeys.PeersDNS = "brisk-logd.other.svc.cluster.local"
	if got, want := h.install(t), []string{"restart brisk-snapshotter.service", "restart brisk-logd.service"}; !slices.Equal(got, want) {
		t.Errorf("new peers_dns: %q, want %q", got, want)
	}
	h.setConfig(t, "tmpfs_size = \"64Mi\"\n[logs.api]\nnode_name = \"the-operators\"")
	h.install(t)
	if api := installed(t); api.NodeName != "the-operators" || api.PeersDNS != "brisk-logd.other.svc.cluster.local" {
		t.Errorf("installed [logs.api] under the ConfigMap's own node_name: node_name %q, peers_dns %q", api.NodeName, api.PeersDNS)
	}
	// A name that is no DNS name stops the install before it writes.
	h.in.NodeKeys.NodeName = "a node"
	if _, err := h.in.Install(context.Background()); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `logs.api.node_name = "a node"`) {
		t.Errorf("install with node name %q: %v", h.in.NodeKeys.NodeName, err)
	}
}
