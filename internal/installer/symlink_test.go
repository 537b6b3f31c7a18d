package installer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

func TestContainerdConfigThroughLinks(t *testing.T) {
	const target = "/srv/cm/containerd.toml" // the file containerd reads, unless a case says
	for _, tc := range []struct {
		name   string
		links  map[string]string // host path → link text
		target string            // "": target
		config string            // content of the target; "": none
	}{
		{name: "regular file: owner, mode and xattrs", target: "/etc/containerd/config.toml", config: operatorConfig},
		{name: "relative link", links: map[string]string{"/etc/containerd/config.toml": "../../srv/cm/containerd.toml"}, config: operatorConfig},
		{name: "absolute link", links: map[string]string{"/etc/containerd/config.toml": target}, config: operatorConfig},
		{name: "link chain through a linked directory", links: map[string]string{
			"/etc/containerd/config.toml": "/etc/alt/config.toml", // absolute
			"/etc/alt":                    "../srv/cm",            // relative, a directory
			"/srv/cm/config.toml":         "containerd.toml",      // relative
		}, config: operatorConfig},
		// On the host ".." stops at /: so it does at the host root, and
		// the decoy one level above it, where the link leads when
		// followed from outside, is never read or written.
		{name: "link escaping the root", links: map[string]string{"/etc/containerd/config.toml": "../../../srv/cm/containerd.toml"}, config: operatorConfig},
		{name: "no trailing newline", links: map[string]string{"/etc/containerd/config.toml": target}, config: "# mine\nversion = 3"},
		{name: "dangling link", links: map[string]string{"/etc/containerd/config.toml": target}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			root := h.in.Layout.HostRoot
			if err := os.Remove(filepath.Join(root, "etc/containerd/config.toml")); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(root, "srv/cm"), 0o755); err != nil {
				t.Fatal(err)
			}
			for p, to := range tc.links {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(to, filepath.Join(root, p)); err != nil {
					t.Fatal(err)
				}
			}
			// Where the escaping link leads without the host root.
			decoy := filepath.Join(filepath.Dir(root), "srv/cm/containerd.toml")
			_ = os.MkdirAll(filepath.Dir(decoy), 0o755)
			if err := os.WriteFile(decoy, []byte("version = 2\n# decoy outside the host root\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(filepath.Join(filepath.Dir(root), "srv"))
			hostTarget := filepath.Join(root, target)
			if tc.target != "" {
				hostTarget = filepath.Join(root, tc.target)
			}
			var want testutil.FileAttrs
			if tc.config != "" {
				if err := os.WriteFile(hostTarget, []byte(tc.config), 0o640); err != nil {
					t.Fatal(err)
				}
				if os.Geteuid() == 0 {
					if err := os.Chown(hostTarget, 1234, 5678); err != nil {
						t.Fatal(err)
					}
				}
				if err := unix.Lsetxattr(hostTarget, testutil.TestXattr, []byte("kept"), 0); err != nil {
					t.Fatalf("this filesystem takes no user xattrs: %v", err)
				}
				want = testutil.AttrsOf(t, hostTarget)
			}
			before := hostTree(t, root)

			h.install(t)
			for p, to := range tc.links {
				if got, err := os.Readlink(filepath.Join(root, p)); err != nil || got != to {
					t.Errorf("link %s is now %q %v, want it kept → %s", p, got, err, to)
				}
			}
			data, err := os.ReadFile(hostTarget)
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if !strings.Contains(string(data), `imports = ["/etc/containerd/conf.d/brisk.toml"]`) {
				t.Errorf("config has no imports line after install:\n%s", data)
			}
			for _, line := range strings.Split(tc.config, "\n") {
				if !strings.Contains(string(data), line) {
					t.Errorf("config lost the operator's %q:\n%s", line, data)
				}
			}
			if tc.config == operatorConfig {
				// The drop-in is derived from the operator's settings.
				if rt := readDropin(t, root).Plugins["io.containerd.cri.v1.runtime"].Containerd.Runtimes["brisk"]; rt.Options["SystemdCgroup"] != true {
					t.Errorf("drop-in did not read the operator's config: %+v", rt)
				}
			}
			if tc.config != "" {
				if got := testutil.AttrsOf(t, hostTarget); got != want {
					t.Errorf("config attributes after install %+v, want %+v", got, want)
				}
			}
			if d, _ := os.ReadFile(decoy); !bytes.Contains(d, []byte("decoy")) || bytes.Contains(d, []byte("imports")) {
				t.Errorf("the file outside the host root was written:\n%s", d)
			}

			if _, err := h.in.Uninstall(context.Background()); err != nil {
				t.Fatal(err)
			}
			if after := hostTree(t, root); !slicesEqual(after, before) {
				t.Errorf("host after uninstall:\n%q\nbefore:\n%q", after, before)
			}
			if tc.config != "" {
				if data, _ := os.ReadFile(hostTarget); string(data) != tc.config {
					t.Errorf("config not restored byte for byte: %q, want %q", data, tc.config)
				}
				if got := testutil.AttrsOf(t, hostTarget); got != want {
					t.Errorf("config attributes after uninstall %+v, want %+v", got, want)
				}
			}
		})
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestContainerdConfigLinkLoop: a loop of links is an error naming the
// config, not a hang, and nothing is written.
func TestContainerdConfigLinkLoop(t *testing.T) {
	h := newTestHost(t)
	root := h.in.Layout.HostRoot
	cfg := filepath.Join(root, "etc/containerd/config.toml")
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/containerd/other.toml", cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("config.toml", filepath.Join(root, "etc/containerd/other.toml")); err != nil {
		t.Fatal(err)
	}
	before := hostTree(t, root)
	_, err := h.in.Install(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/etc/containerd/config.toml") || !strings.Contains(err.Error(), unix.ELOOP.Error()) {
		t.Fatalf("install with a link loop: %v", err)
	}
	if after := hostTree(t, root); !slicesEqual(after, before) || len(h.svc.actions) != 0 {
		t.Errorf("install with a link loop acted: %q", h.svc.actions)
	}
}
