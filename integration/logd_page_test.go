package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/testutil/browser"
	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/spool"
)

// pageTicker prints a line on stdout and one on stderr every 100 ms for
// about 3 s, then exits 3.
var pageTicker = []string{"sh", "-c", `for i in $(seq 1 30); do echo "out $i"; echo "err $i" >&2; sleep 0.1; done; exit 3`}

// TestLogdPage follows a real task (containerd, the brisk shim, MinIO) in
// brisk-logd's own page, in headless Chromium: its lines appear while it
// runs, stderr apart; the exit code ends it; once the spool entry has
// shipped, the task's link reads the same log from the store.
func TestLogdPage(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ns := s.ctd.Namespace
	l := s.logd // the node's brisk-logd serves the page
	token := harness.LogdTokenFor(ns)

	resp, err := http.Get(l.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("brisk-logd's GET /: %d %q, policy %q; want the log page (cmd/brisk-logd passes logd/web.Handler() to logd.WithPage)", resp.StatusCode,
			resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}

	b := browser.Start(t)
	tab := b.Tab(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	lines := func() (out, errs []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
		defer cancel()
		ls, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]string](
			`[...document.querySelectorAll('#log .line')].map(e => [e.classList.contains('stderr') ? 'stderr' : 'stdout', e.textContent])`))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l[0] == "stderr" {
				errs = append(errs, l[1])
			} else {
				out = append(out, l[1])
			}
		}
		return out, errs
	}
	text := func(id string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById(%q).textContent`, id)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	waitFor := func(what, expr string, timeout time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab.Ctx, timeout+10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
			out, errs := lines()
			t.Fatalf("waiting for %s: %v; the page shows state %q, error %q, %d stdout and %d stderr lines",
				what, err, text("state"), text("error-text"), len(out), len(errs))
		}
	}
	wantOut, wantErr := make([]string, 30), make([]string, 30)
	for i := range 30 {
		wantOut[i], wantErr[i] = fmt.Sprintf("out %d", i+1), fmt.Sprintf("err %d", i+1)
	}
	checkLines := func(when string) {
		t.Helper()
		out, errs := lines()
		if strings.Join(out, "\n") != strings.Join(wantOut, "\n") || strings.Join(errs, "\n") != strings.Join(wantErr, "\n") {
			t.Errorf("%s the page shows stdout %q and stderr %q; want out 1..30 and err 1..30", when, out, errs)
		}
	}

	id := "page-ticker"
	s.runLive(t, id, pageTicker...)

	// Through the page's form, as a person does.
	run("open the page",
		chromedp.Navigate(l.URL+"/"),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById('token').value = %q;
			document.getElementById('ns').value = %q; document.getElementById('id').value = %q;`, token, ns, id)),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
	)
	waitFor("lines while the task runs", `document.querySelectorAll('#log .line.stdout').length >= 2 &&
		document.querySelectorAll('#log .line.stderr').length >= 2`, 30*time.Second)
	shownAt := text("exit")
	status, _, _ := s.ctd.Ctr("tasks", "ls")
	running := false
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id && f[2] == "RUNNING" {
			running = true
		}
	}
	if shownAt != "" || !running {
		t.Fatalf("lines were seen only after the task's end: the page showed exit %q, containerd's tasks:\n%s", shownAt, status)
	}
	tab.Screenshot(t, "logd-page-e2e-running.png")

	waitFor("the exit code", `document.getElementById('exit').textContent === 'exit code 3' &&
		document.querySelectorAll('#log .line').length === 60`, time.Minute)
	checkLines("at the task's end")
	if d := text("duration"); !strings.HasPrefix(d, "ran ") {
		t.Errorf("the duration shows %q", d)
	}
	if src, want := text("source"), "node "+l.Name+" · from "+logd.SourceSpool; src != want {
		t.Errorf("the source shows %q, want %q", src, want)
	}
	tab.Screenshot(t, "logd-page-e2e-exited.png")

	// The link a CI system prints, after the spool entry has shipped: the
	// same log, from the store.
	if !harness.WaitFor(60*time.Second, func() bool { runs, _ := spool.Runs(s.cfg.SpoolDir, ns, id); return len(runs) == 0 }) {
		t.Fatal("the entry stays in the spool")
	}
	run("open the task's link", chromedp.Navigate(fmt.Sprintf("%s/t/%s/%s", l.URL, ns, id)))
	waitFor("the stored log's exit code", `document.getElementById('exit').textContent === 'exit code 3' &&
		document.querySelectorAll('#log .line').length === 60`, time.Minute)
	checkLines("from the store")
	if src, want := text("source"), "node "+l.Name+" · from "+logd.SourceStore; src != want {
		t.Errorf("the source shows %q, want %q", src, want)
	}
	tab.Screenshot(t, "logd-page-e2e-stored.png")
	if p := tab.Problems(); len(p) > 0 {
		t.Errorf("the page had problems:\n%s", strings.Join(p, "\n"))
	}
}
