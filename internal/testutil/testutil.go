// Package testutil holds the few helpers every Brisk test package shares.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, where a missing prerequisite is a
// failure rather than a skip: a suite that silently skips proves nothing.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips the test with reason when ok is false, or fails it in CI.
func Require(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("prerequisite missing in CI: %s", reason)
	}
	t.Skipf("prerequisite missing: %s", reason)
}

// RequireRoot needs root: mounts are the subject of these tests.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "must run as root")
}

// RequireCommand needs name on PATH and returns its path.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" not found on PATH")
	return p
}
