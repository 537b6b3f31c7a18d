// Package layering holds the tests that keep Brisk's imports pointing down:
// cmd -> features (shim, doctor, top, logd) -> logs, snapshotter -> internal ->
// config. They read the import graph with `go list`, as anyone can:
//
//	go list -f '{{.ImportPath}}: {{join .Imports " "}}' ./...
package layering

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/internal/testutil"
)

const module = "github.com/brisk-containers/brisk"

// layers are the top-level folders from the bottom up. A package may import
// packages of its own folder and of lower layers only: a feature does not
// import another feature, logs and snapshotter do not import each other.
// Folders not listed (hack, integration, contrib) are tools and tests: no
// listed package may import them.
var layers = [][]string{
	{"config"},
	{"internal"},
	{"logs", "snapshotter"},
	{"shim", "doctor", "top", "logd"},
	{"cmd"},
}

// leaves import nothing of Brisk, so that every layer may import them.
var leaves = []string{"internal/usage", "internal/backoff"}

// goList runs go list in the module with the template format, one line a
// package.
func goList(t *testing.T, format string, args ...string) []string {
	t.Helper()
	gobin := testutil.RequireCommand(t, "go")
	cmd := exec.Command(gobin, append([]string{"list", "-f", format}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// place returns the folder and layer of a package path relative to the
// module; layer -1 is a folder outside the layers.
func place(rel string) (folder string, layer int) {
	folder, _, _ = strings.Cut(rel, "/")
	for i, l := range layers {
		if slices.Contains(l, folder) {
			return folder, i
		}
	}
	return folder, -1
}

// violation says why from may not import to, or "".
func violation(from, to string) string {
	if slices.Contains(leaves, from) {
		return fmt.Sprintf("%s is a leaf: it imports nothing of Brisk", from)
	}
	ff, fl := place(from)
	tf, tl := place(to)
	switch {
	case fl < 0, ff == tf:
		return ""
	case tl < 0:
		return fmt.Sprintf("%s/ is no layer of the product (tools and tests only)", tf)
	case tl == fl:
		return fmt.Sprintf("%s/ and %s/ are beside each other (%s): move what both need down", ff, tf, strings.Join(layers[fl], ", "))
	case tl > fl:
		return fmt.Sprintf("%s/ is above %s/: imports point down (%s)", tf, ff, order())
	}
	return ""
}

func order() string {
	var s []string
	for i := len(layers) - 1; i >= 0; i-- {
		s = append(s, strings.Join(layers[i], ", "))
	}
	return strings.Join(s, " -> ")
}

// TestImportsPointDown checks every import of every package (test files
// aside) against the layers.
func TestImportsPointDown(t *testing.T) {
	pkgs := goList(t, `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: %q", len(pkgs), pkgs)
	}
	for _, line := range pkgs {
		fields := strings.Fields(line)
		from, ok := strings.CutPrefix(fields[0], module+"/")
		if !ok {
			continue
		}
		for _, imp := range fields[1:] {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if why := violation(from, to); why != "" {
				t.Errorf("%s imports %s: %s", from, to, why)
			}
		}
	}
}

// TestBriskctlLinksNoShim: briskctl is a client. The shim, and with it
// containerd's runc task service, belong in the shim binary alone.
func TestBriskctlLinksNoShim(t *testing.T) {
	deps := goList(t, `{{.ImportPath}}`, "-deps", module+"/cmd/briskctl")
	for _, d := range deps {
		if d == module+"/shim" || strings.HasPrefix(d, module+"/shim/") ||
			strings.HasPrefix(d, "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/") {
			t.Errorf("briskctl links %s", d)
		}
	}
}

// TestShimLinksNoS3Client: the shim hands finished logs to brisk-logd,
// which ships them. The S3 SDK in each shim cost 15 MB of binary, 6 ms of
// Go init and a connection and signer per task, a hundred times in a burst.
func TestShimLinksNoS3Client(t *testing.T) {
	deps := goList(t, `{{.ImportPath}}`, "-deps", module+"/cmd/containerd-shim-brisk-v2")
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/aws/") || d == module+"/logs/ship" || d == module+"/logs/retrier" || d == module+"/logs/store" {
			t.Errorf("the shim links %s", d)
		}
	}
}

// TestViolation keeps the rules themselves honest: each kind of import is
// told apart.
func TestViolation(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		bad      bool
	}{
		{"cmd/briskctl", "doctor", false},
		{"doctor", "snapshotter/usageapi", false},
		{"logs/spool", "internal/usage", false},
		{"internal/installer", "internal/atomicfile", false},
		{"internal/installer", "config", false},
		{"hack/benchreport", "shim", false},
		{"logs/spool", "shim/usage", true},
		{"internal/installer", "logs/spool", true},
		{"doctor", "shim", true},
		{"logd", "shim", true},
		{"cmd/brisk-logd", "logd", false},
		{"snapshotter", "logs/spool", true},
		{"config", "internal/usage", true},
		{"top", "integration/harness", true},
		{"internal/usage", "config", true},
		{"internal/backoff", "internal/usage", true},
		{"logs/retrier", "internal/backoff", false},
		{"shim", "internal/backoff", false},
	} {
		if got := violation(tc.from, tc.to) != ""; got != tc.bad {
			t.Errorf("%s -> %s: violation %v, want %v (%q)", tc.from, tc.to, got, tc.bad, violation(tc.from, tc.to))
		}
	}
}
