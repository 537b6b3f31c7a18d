package installer

import (
	"context"
	"errors"
	"os"
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

// TestRequestFilesWaitForAWholeAnswer: a server that writes its answer in
// place lets the installer see the file created and still empty. That is
// no answer yet, not a failure with no words: seen in CI as
// "enable-now brisk-snapshotter.service: " when the test's systemd answered
// with os.WriteFile.
func TestRequestFilesWaitForAWholeAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reqs := RequestFiles{Dir: t.TempDir()}
	res := make(chan error, 1)
	go func() { res <- reqs.EnableNow(ctx, "brisk-snapshotter.service") }()
	for ok := false; !ok; time.Sleep(10 * time.Millisecond) {
		var err error
		if _, ok, err = reqs.Pending(1); err != nil {
			t.Fatal(err)
		}
	}
	// The answer half written: created, not yet filled.
	if err := os.WriteFile(reqs.base(1)+answerSuffix, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		t.Fatalf("EnableNow took an empty answer file as its answer: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := reqs.Answer(1, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Errorf("EnableNow: %v, want the answer written after the empty file", err)
	}
}
