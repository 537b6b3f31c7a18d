package main

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// A task's log is about the size asked, starts with its ID, differs from
// task to task, and gzips as a build log does (about 0.16×: the shim
// bench's burst task stores 48 kB of gzip for its 299 kB), neither as
// repeated lines (far below) nor as random bytes (about 1×).
func TestBuildLog(t *testing.T) {
	out, errs := buildLog("t-1", 1, 300_000)
	n := len(out) + len(errs)
	if n < 300_000 || n > 300_200 {
		t.Errorf("%d bytes, want about 300,000", n)
	}
	if !strings.HasPrefix(string(out), "task t-1: build started\n") {
		t.Errorf("first line %q", strings.SplitN(string(out), "\n", 2)[0])
	}
	if len(errs) == 0 {
		t.Error("nothing on stderr")
	}
	other, _ := buildLog("t-1", 2, 300_000)
	if bytes.Equal(out[100:], other[100:]) {
		t.Error("two seeds, one log")
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(out)
	w.Write(errs)
	w.Close()
	if r := float64(z.Len()) / float64(n); r < 0.1 || r > 0.3 {
		t.Errorf("gzip ratio %.3f, want a build log's (0.1–0.3)", r)
	}
	t.Logf("%d bytes, gzip %.3f", n, float64(z.Len())/float64(n))
}
