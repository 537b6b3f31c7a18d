package installer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// fakeServices records what the installer asks of systemd.
type fakeServices struct{ actions []string }

func (f *fakeServices) Reload(context.Context) error {
	f.actions = append(f.actions, "daemon-reload")
	return nil
}
func (f *fakeServices) EnableNow(_ context.Context, u string) error {
	f.actions = append(f.actions, "enable-now "+u)
	return nil
}
func (f *fakeServices) Restart(_ context.Context, u string) error {
	f.actions = append(f.actions, "restart "+u)
	return nil
}
func (f *fakeServices) DisableNow(_ context.Context, u string) error {
	f.actions = append(f.actions, "disable-now "+u)
	return nil
}

// operatorConfig is a containerd config as a node might have it: systemd
// cgroups for runc and its own unpack list.
const operatorConfig = `# the operator's
version = 3
root = "/var/lib/containerd"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    SystemdCgroup = true
[[plugins."io.containerd.transfer.v1.local".unpack_config]]
  platform = "linux/arm64"
  snapshotter = "overlayfs"
  differ = "walking"
`

type testHost struct {
	in       *Installer
	svc      *fakeServices
	users    []string
	src, cfg string
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "etc/systemd/system", "etc/containerd", "run", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/containerd/config.toml"), []byte(operatorConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for _, b := range Binaries {
		if err := os.WriteFile(filepath.Join(src, b), []byte("binary "+b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := &testHost{svc: &fakeServices{}, src: src, cfg: filepath.Join(src, "config.toml")}
	h.setConfig(t, `tmpfs_size = "64Mi"`)
	l := DefaultLayout()
	l.HostRoot = root
	h.in = &Installer{
		Layout:   l,
		Sources:  Sources{BinDir: src, Config: h.cfg, S3Env: filepath.Join(src, "s3.env"), LogdTokens: filepath.Join(src, "logd-tokens")},
		Services: h.svc,
		Users:    func(context.Context, []string) ([]string, error) { return h.users, nil },
	}
	h.in.PendingLogs = func(string) ([]string, error) { return nil, nil }
	h.in.QuarantinedLogs = spool.QuarantinedDirs
	return h
}

func (h *testHost) setConfig(t *testing.T, snapshotterKeys string) {
	t.Helper()
	if err := os.WriteFile(h.cfg, []byte("[snapshotter]\n"+snapshotterKeys+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *testHost) install(t *testing.T) []string {
	t.Helper()
	h.svc.actions = nil
	if _, err := h.in.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h.svc.actions
}

// hostTree lists every path under the host root with mode and content hash.
func hostTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(root, p)
		e := fmt.Sprintf("%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			e += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		out = append(out, e)
		return nil
	})
	return out
}

// dropinDoc is the part of the drop-in the tests read back.
type dropinDoc struct {
	Version int
	Plugins map[string]struct {
		Containerd struct {
			Runtimes map[string]dropinRuntime `toml:"runtimes"`
		} `toml:"containerd"`
		UnpackConfig []map[string]string `toml:"unpack_config"`
	}
	ProxyPlugins map[string]map[string]any `toml:"proxy_plugins"`
}

type dropinRuntime struct {
	RuntimeType          string         `toml:"runtime_type"`
	RuntimePath          string         `toml:"runtime_path"`
	Snapshotter          string         `toml:"snapshotter"`
	PodAnnotations       []string       `toml:"pod_annotations"`
	ContainerAnnotations []string       `toml:"container_annotations"`
	Options              map[string]any `toml:"options"`
}

func readDropin(t *testing.T, root string) dropinDoc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "etc/containerd/conf.d/brisk.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var d dropinDoc
	if err := toml.Unmarshal(data, &d); err != nil {
		t.Fatalf("drop-in: %v\n%s", err, data)
	}
	return d
}

// TestDropinProfiles: every profile of the installed config is a proxy
// plugin on the one socket and a runtime handler like brisk's, and adding a
// profile rewrites the drop-in and restarts containerd.
func TestDropinProfiles(t *testing.T) {
	h := newTestHost(t)
	root := h.in.Layout.HostRoot
	const small = `tmpfs_size = "64Mi"
[snapshotter.profiles.brisk-small]
tmpfs_size = "16Mi"`
	h.setConfig(t, small+`
[snapshotter.profiles.brisk-large]
tmpfs_size = "256Mi"`)
	h.install(t)
	d := readDropin(t, root)
	cri := d.Plugins["io.containerd.cri.v1.runtime"].Containerd.Runtimes
	brisk := cri["brisk"]
	for _, name := range []string{"brisk", "brisk-small", "brisk-large"} {
		if p := d.ProxyPlugins[name]; p["type"] != "snapshot" || p["address"] != "/run/brisk/snapshotter.sock" {
			t.Errorf("proxy plugin %s: %v", name, p)
		}
		rt, ok := cri[name]
		want := brisk
		want.Snapshotter = name
		if !ok || !reflect.DeepEqual(rt, want) {
			t.Errorf("runtime %s: %+v, want %+v", name, rt, want)
		}
	}
	if brisk.RuntimeType != "io.containerd.runc.v2" || brisk.Options["SystemdCgroup"] != true ||
		!slices.Equal(brisk.PodAnnotations, []string{"brisk.io/*"}) {
		t.Errorf("brisk runtime: %+v", brisk)
	}
	var unpacked []string
	for _, e := range d.Plugins["io.containerd.transfer.v1.local"].UnpackConfig {
		unpacked = append(unpacked, e["snapshotter"])
	}
	if want := []string{"overlayfs", "brisk", "brisk-large", "brisk-small"}; !slices.Equal(unpacked, want) {
		t.Errorf("unpack_config snapshotters: %q, want %q", unpacked, want)
	}
	if len(d.ProxyPlugins) != 3 || len(cri) != 3 {
		t.Errorf("drop-in declares %d plugins and %d runtimes, want 3 each", len(d.ProxyPlugins), len(cri))
	}

	if got := h.install(t); len(got) != 0 {
		t.Errorf("same profiles: %q, want nothing restarted", got)
	}
	h.setConfig(t, small)
	if got, want := h.install(t), []string{"restart brisk-snapshotter.service", "restart containerd.service"}; !slices.Equal(got, want) {
		t.Errorf("profile removed: %q, want %q", got, want)
	}
	if d := readDropin(t, root); d.ProxyPlugins["brisk-large"] != nil || d.ProxyPlugins["brisk-small"] == nil {
		t.Errorf("proxy plugins after removing brisk-large: %v", d.ProxyPlugins)
	}
	// A profile's own keys are the snapshotter's business: containerd
	// is not restarted for them.
	h.setConfig(t, `tmpfs_size = "64Mi"
[snapshotter.profiles.brisk-small]
tmpfs_size = "32Mi"`)
	if got, want := h.install(t), []string{"restart brisk-snapshotter.service"}; !slices.Equal(got, want) {
		t.Errorf("profile size changed: %q, want %q", got, want)
	}
	h.setConfig(t, small+`
[snapshotter.profiles.brisk-large]
tmpfs_size = "256Mi"`)
	if got, want := h.install(t), []string{"restart brisk-snapshotter.service", "restart containerd.service"}; !slices.Equal(got, want) {
		t.Errorf("profile added: %q, want %q", got, want)
	}
}

func TestInstallRestartsOnlyWhatChanged(t *testing.T) {
	h := newTestHost(t)
	root := h.in.Layout.HostRoot
	before := hostTree(t, root)

	if got, want := h.install(t), []string{"daemon-reload", "enable-now brisk-snapshotter.service", "enable-now brisk-logd.service", "restart containerd.service"}; !slices.Equal(got, want) {
		t.Fatalf("first install: %q, want %q", got, want)
	}
	// The drop-in: runc's type and the shim's path, the operator's runc
	// options, the operator's unpack list plus brisk.
	data, err := os.ReadFile(filepath.Join(root, "etc/containerd/conf.d/brisk.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var dropin dropinDoc
	if err := toml.Unmarshal(data, &dropin); err != nil {
		t.Fatalf("drop-in: %v\n%s", err, data)
	}
	rt := dropin.Plugins["io.containerd.cri.v1.runtime"].Containerd.Runtimes["brisk"]
	if dropin.Version != 3 || rt.RuntimeType != "io.containerd.runc.v2" || rt.RuntimePath != "/usr/local/bin/containerd-shim-brisk-v2" ||
		rt.Snapshotter != "brisk" || rt.Options["SystemdCgroup"] != true {
		t.Errorf("drop-in runtime: %+v\n%s", rt, data)
	}
	unpack := dropin.Plugins["io.containerd.transfer.v1.local"].UnpackConfig
	if len(unpack) != 2 || unpack[0]["differ"] != "walking" || unpack[1]["snapshotter"] != "brisk" || unpack[1]["platform"] != "linux/arm64" {
		t.Errorf("drop-in unpack_config: %v", unpack)
	}
	if dropin.ProxyPlugins["brisk"]["address"] != "/run/brisk/snapshotter.sock" {
		t.Errorf("drop-in proxy plugin: %v", dropin.ProxyPlugins)
	}
	ctdCfg, _ := os.ReadFile(filepath.Join(root, "etc/containerd/config.toml"))
	if !strings.HasPrefix(string(ctdCfg), "# the operator's\nversion = 3\nimports = [\"/etc/containerd/conf.d/brisk.toml\"] ") {
		t.Errorf("imports line not after version:\n%s", ctdCfg)
	}

	installed := hostTree(t, root)
	if got := h.install(t); len(got) != 0 || !slices.Equal(hostTree(t, root), installed) {
		t.Errorf("second install: %q, host changed: %v", got, !slices.Equal(hostTree(t, root), installed))
	}
	// A new shim or briskctl needs no restart; a new snapshotter config
	// restarts the snapshotter only; S3 credentials reach shims through
	// containerd's environment, and brisk-logd through its unit's.
	if err := os.WriteFile(filepath.Join(h.src, "containerd-shim-brisk-v2"), []byte("shim v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := h.install(t); len(got) != 0 {
		t.Errorf("new shim: %q, want nothing restarted", got)
	}
	h.setConfig(t, `tmpfs_size = "128Mi"`)
	if got, want := h.install(t), []string{"restart brisk-snapshotter.service"}; !slices.Equal(got, want) {
		t.Errorf("new config: %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(h.src, "s3.env"), []byte("AWS_ACCESS_KEY_ID=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Only brisk-logd holds S3 credentials: containerd and its shims do not.
	if got, want := h.install(t), []string{"restart brisk-logd.service"}; !slices.Equal(got, want) {
		t.Errorf("new credentials: %q, want %q", got, want)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/brisk/s3.env")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("s3.env: %v %v", fi, err)
	}

	// Refused while a container uses brisk, with nothing touched.
	h.users = []string{"k8s.io/abc"}
	installed = hostTree(t, root)
	h.svc.actions = nil
	if _, err := h.in.Uninstall(context.Background()); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "k8s.io/abc") {
		t.Fatalf("uninstall with a user: %v", err)
	}
	if len(h.svc.actions) != 0 || !slices.Equal(hostTree(t, root), installed) {
		t.Errorf("refused uninstall acted: %q", h.svc.actions)
	}
	h.users = nil
	// A snapshot's tmpfs still mounted (containerd's GC not done): refused.
	if os.Geteuid() == 0 {
		busy := filepath.Join(root, "var/lib/brisk-snapshotter/snapshots/1")
		if err := os.MkdirAll(busy, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", busy, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		_, err := h.in.Uninstall(context.Background())
		_ = unix.Unmount(busy, 0)
		if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), busy) || len(h.svc.actions) != 0 {
			t.Fatalf("uninstall with a mount under the root: %v, actions %q", err, h.svc.actions)
		}
	}
	if _, err := h.in.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"daemon-reload", "restart containerd.service", "disable-now brisk-snapshotter.service", "disable-now brisk-logd.service", "daemon-reload"}; !slices.Equal(h.svc.actions, want) {
		t.Errorf("uninstall: %q, want %q", h.svc.actions, want)
	}
	if after := hostTree(t, root); !slices.Equal(after, before) {
		t.Errorf("host after uninstall:\n%q\nbefore:\n%q", after, before)
	}
}

func TestEnsureImports(t *testing.T) {
	for _, tc := range []struct {
		name, config string // "" config: no file
		wantErr      bool
		wantChanged  bool
	}{
		{name: "no file", wantChanged: true},
		{name: "no imports", config: "version = 3\n[grpc]\n  address = \"/x\"\n", wantChanged: true},
		{name: "version only", config: "version = 3\n", wantChanged: true},
		{name: "operator comment first", config: "# mine\nversion = 2\n", wantChanged: true},
		{name: "version last, no trailing newline", config: "# mine\nversion = 3", wantChanged: true},
		{name: "no trailing newline", config: "version = 3\n[grpc]\n  address = \"/x\"", wantChanged: true},
		{name: "glob covers", config: "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"},
		{name: "relative covers", config: "version = 3\nimports = [\"conf.d/brisk.toml\"]\n"},
		{name: "other imports", config: "version = 3\nimports = [\"/etc/containerd/other.toml\"]\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLayout()
			l.HostRoot = t.TempDir()
			path := l.host(l.ContainerdConfig)
			if tc.config != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := readContainerdConfig(l, 3)
			if err != nil {
				t.Fatal(err)
			}
			var st state
			changed, err := ensureImports(l, c, &st)
			if tc.wantErr {
				if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), l.DropinPath()) {
					t.Fatalf("error %v, want one naming %s", err, l.DropinPath())
				}
				return
			}
			if err != nil || changed != tc.wantChanged {
				t.Fatalf("changed %v, err %v", changed, err)
			}
			// What containerd reads imports the drop-in.
			c, err = readContainerdConfig(l, 3)
			if err != nil {
				t.Fatal(err)
			}
			if _, covers := importsCover(c, l); !covers {
				data, _ := os.ReadFile(path)
				t.Fatalf("config does not import the drop-in:\n%s", data)
			}
			if _, err := removeImports(l, &st); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if tc.config == "" && !os.IsNotExist(err) || tc.config != "" && string(data) != tc.config {
				t.Errorf("not restored: %q %v", data, err)
			}
		})
	}
}

func TestDropinVersions(t *testing.T) {
	for _, tc := range []struct {
		name, config, criTable string
		unpack                 bool
	}{
		{name: "containerd 2 defaults (no file)", criTable: "io.containerd.cri.v1.runtime", unpack: true},
		{name: "containerd 1.7", config: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n    SystemdCgroup = true\n", criTable: "io.containerd.grpc.v1.cri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLayout()
			l.HostRoot = t.TempDir()
			if tc.config != "" {
				path := l.host(l.ContainerdConfig)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := readContainerdConfig(l, 3)
			if err != nil {
				t.Fatal(err)
			}
			data, err := dropin(l, config.Default(), c)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := toml.Unmarshal(data, &doc); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			rt := table(doc, "plugins", tc.criTable, "containerd", "runtimes", "brisk")
			if rt == nil || rt["runtime_type"] != "io.containerd.runc.v2" || (tc.config != "") != (table(rt, "options")["SystemdCgroup"] == true) {
				t.Errorf("runtime brisk under %s: %v\n%s", tc.criTable, rt, data)
			}
			if _, ok := table(doc, "plugins", "io.containerd.transfer.v1.local")["unpack_config"]; ok != tc.unpack {
				t.Errorf("unpack_config present %v, want %v\n%s", ok, tc.unpack, data)
			}
		})
	}
	l := DefaultLayout()
	l.HostRoot = t.TempDir()
	if err := os.MkdirAll(l.host("/etc/containerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.host(l.ContainerdConfig), []byte("[grpc]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readContainerdConfig(l, 3); !errdefs.IsNotImplemented(err) {
		t.Errorf("version 1 config: %v, want not implemented", err)
	}
}

// TestUnitsMatchContrib keeps the installer's units the ones contrib/systemd
// ships.
func TestUnitsMatchContrib(t *testing.T) {
	l := DefaultLayout()
	for _, tc := range []struct {
		contrib string
		got     []byte
		edit    func(string) string
	}{
		{"brisk-snapshotter.service", SnapshotterUnitFile(l), func(s string) string { return s }},
		{"brisk-logd.service", LogdUnitFile(l), func(s string) string { return s }},
		{"containerd.service.d/brisk.conf", ContainerdEnvFile(l), func(s string) string { return s }},
	} {
		want, err := os.ReadFile(filepath.Join("../../contrib/systemd", tc.contrib))
		if err != nil {
			t.Fatal(err)
		}
		if string(tc.got) != tc.edit(string(want)) {
			t.Errorf("%s differs from contrib:\n%s", tc.contrib, tc.got)
		}
	}
}

func TestNodeLabel(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var patch map[string]map[string]map[string]any
		_ = json.Unmarshal(body, &patch)
		got = append(got, fmt.Sprintf("%s %s %s %s %v", r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), patch["metadata"]["labels"]))
		if r.URL.Path == "/api/v1/nodes/gone" {
			http.Error(w, `nodes "gone" is forbidden`, http.StatusForbidden)
		}
	}))
	defer srv.Close()
	n := &NodeLabel{Server: srv.URL, Token: "tok", Node: "node-1", Client: srv.Client()}
	if err := n.Set(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PATCH /api/v1/nodes/node-1 application/merge-patch+json Bearer tok map[brisk.io/installed:true]",
		"PATCH /api/v1/nodes/node-1 application/merge-patch+json Bearer tok map[brisk.io/installed:<nil>]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	n.Node = "gone"
	if err := n.Set(context.Background()); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("refused patch: %v", err)
	}
}
