package logd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokensFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, err string
	}{
		{"a line without namespaces", "tok-0123456789abcdef\n", "line 1: want TOKEN NAMESPACE"},
		{"a short token", "# ok\nshort default\n", "line 2: a token of 5 characters is too short"},
		{"an empty namespace", "tok-0123456789abcdef a,,b\n", `line 1: empty namespace in "a,,b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTokens(path)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadTokens: %v; want an error naming the file and %q", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "tok-0123456789abcdef") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// A Secret updated in place (the kubelet swaps the file) is read again: a
// new token works and a removed one stops working, without a restart; a
// file briefly absent keeps the tokens last read.
func TestTokensFileIsReadAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(content string) {
		t.Helper()
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("old-token-0123456789 default\n")
	tokens, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if ns, ok := tokens.Lookup("old-token-0123456789"); !ok || !Allows(ns, "default") || Allows(ns, "other") {
		t.Fatalf("old token: %v %v", ns, ok)
	}
	recheck := func() { tokens.mu.Lock(); tokens.checked = time.Time{}; tokens.mu.Unlock() } // as if tokensRecheck passed
	write("new-token-0123456789 other,default\n")
	later := time.Now().Add(time.Second)
	_ = os.Chtimes(path, later, later) // a new mtime, whatever the file system's resolution
	recheck()
	if _, ok := tokens.Lookup("old-token-0123456789"); ok {
		t.Errorf("a token removed from the file still works")
	}
	if ns, ok := tokens.Lookup("new-token-0123456789"); !ok || !Allows(ns, "other") {
		t.Errorf("the new token: %v %v", ns, ok)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	recheck()
	if _, ok := tokens.Lookup("new-token-0123456789"); !ok {
		t.Errorf("the tokens last read are lost while the file is absent")
	}
}
