package doctor

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
)

// A containerd that accepts connections and never answers (hung, or a
// wrong socket) must not hang doctor: every check that needs it reports.
func TestContainerdThatNeverAnswers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // accepted, never read or written
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	n := NewNode("/brisk.toml", config.Default(), nil, WithContainerdAddress(sock))
	defer n.Close()
	checks := []Check{containerdReachable, containerdSnapshotter, containerdRuntime, criAnnotations}
	done := make(chan Report, 1)
	go func() { done <- Run(context.Background(), n, checks, 2*time.Second) }()
	var r Report
	select {
	case r = <-done:
	case <-time.After(time.Minute): // far past any per-check timeout, however loaded the machine
		t.Fatal("doctor still waiting for a containerd that never answers")
	}
	if len(r.Results) != len(checks) {
		t.Fatalf("want one finding per check, got %+v", r.Results)
	}
	if x := r.Results[0]; x.Check != "containerd/reachable" || x.Status != Fail || x.Found == "" || !strings.Contains(x.Fix, "--address") {
		t.Errorf("containerd/reachable: %+v", x)
	}
	for _, x := range r.Results[1:] {
		if x.Status == Pass || x.Found == "" {
			t.Errorf("%s: %+v, want it to say why it could not check", x.Check, x)
		}
	}
}
