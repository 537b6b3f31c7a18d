package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/config"
)

// TestLoadLogs: the command, not the shim library, finds and reads the
// configuration, and an error names the file or the key.
func TestLoadLogs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", "[logs]\nspool_dir = \"/var/tmp/brisk-test-spool\"\n")
	bad := write("bad.toml", "[logs]\nspool_dri = \"/x\"\n")
	missing := filepath.Join(dir, "missing.toml")
	for _, tc := range []struct {
		name      string
		env       string
		wantSpool string
		wantErr   string
	}{
		{"the file $BRISK_CONFIG names", good, "/var/tmp/brisk-test-spool", ""},
		{"an unknown key is named", bad, "", "spool_dri"},
		{"a named file must exist", missing, "", missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == config.EnvPath {
					return tc.env
				}
				return ""
			}
			l, err := loadLogs(context.Background(), getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadLogs = %v, want an error naming %q", err, tc.wantErr)
				}
				if opts := serviceOpts(context.Background(), getenv); len(opts) != 1 {
					t.Fatalf("%d service options for a bad configuration, want the error alone", len(opts))
				}
				return
			}
			if err != nil || l.SpoolDir != tc.wantSpool {
				t.Fatalf("loadLogs = spool_dir %q, %v; want %q", l.SpoolDir, err, tc.wantSpool)
			}
		})
	}
}
