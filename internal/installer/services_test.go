package installer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRequestFilesRoundTrip: what RequestFiles writes, Pending reads, and
// what Answer writes, RequestFiles takes as the action's outcome, so the
// end-to-end test that plays systemd shares the protocol instead of copying
// its file names and answers.
func TestRequestFilesRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reqs := RequestFiles{Dir: t.TempDir()}

	for i, tc := range []struct {
		ask    func() error
		want   string
		failed error
	}{
		{func() error { return reqs.Reload(ctx) }, "daemon-reload", nil},
		{func() error { return reqs.Restart(ctx, "containerd.service") }, "restart containerd.service", nil},
		{func() error { return reqs.DisableNow(ctx, "brisk-snapshotter.service") }, "disable-now brisk-snapshotter.service", errors.New("unit not loaded")},
	} {
		n := i + 1
		if _, ok, err := reqs.Pending(n); err != nil || ok {
			t.Fatalf("request %d pending before it was made: %v, %v", n, ok, err)
		}
		res := make(chan error, 1)
		go func() { res <- tc.ask() }()
		var action string
		for ok := false; !ok; {
			var err error
			if action, ok, err = reqs.Pending(n); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if action != tc.want {
			t.Errorf("request %d: %q, want %q", n, action, tc.want)
		}
		if err := reqs.Answer(n, tc.failed); err != nil {
			t.Fatal(err)
		}
		err := <-res
		switch {
		case tc.failed == nil && err != nil:
			t.Errorf("%s answered ok: %v", tc.want, err)
		case tc.failed != nil && (err == nil || !strings.Contains(err.Error(), tc.failed.Error())):
			t.Errorf("%s answered %q: %v", tc.want, tc.failed, err)
		}
	}
}
