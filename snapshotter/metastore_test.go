//go:build linux

package snapshotter

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// TestSecondSnapshotterOnOneRootRefuses: the metadata's lock is held by the
// first snapshotter for as long as it lives; a second one on the same root
// must give up with an error naming the root, not wait for ever.
func TestSecondSnapshotterOnOneRootRefuses(t *testing.T) {
	e := newEnv(t)
	base := e.baseLayer("base")

	second, err := New(e.ctx, e.root)
	if err == nil {
		second.Close()
		t.Fatal("a second snapshotter opened a root the first holds")
	}
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), e.root) || !strings.Contains(err.Error(), "another brisk-snapshotter") {
		t.Fatalf("second snapshotter on the root: %v, want unavailable naming %s and the other snapshotter", err, e.root)
	}
	// The first one is untouched.
	if _, err := e.sn.Prepare(e.ctx, "c", base); err != nil {
		t.Fatalf("first snapshotter after the second gave up: %v", err)
	}
}
