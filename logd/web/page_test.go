package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brisk-containers/brisk/internal/testutil/browser"
	"github.com/brisk-containers/brisk/logd/web"
)

// These tests drive the page in a real headless Chromium against a fake node
// log API that speaks the contract's NDJSON: the page's behaviour is in its
// script, so only a browser can show it.

const token = "s3cret"

// t0 is the fake task's start; its exit is 3.2 s later.
var t0 = time.Date(2026, 12, 7, 18, 0, 0, 123456789, time.UTC)

type record struct {
	Time    string `json:"time"`
	Stream  string `json:"stream"`
	Partial bool   `json:"partial"`
	Log     string `json:"log"`
}

type exitRecord struct {
	Exit struct {
		Code     int    `json:"code"`
		Started  string `json:"started"`
		Exited   string `json:"exited"`
		Complete bool   `json:"complete"`
	} `json:"exit"`
}

func exitWith(code int, ran time.Duration) exitRecord {
	var e exitRecord
	e.Exit.Code = code
	e.Exit.Started = t0.Format(time.RFC3339Nano)
	e.Exit.Exited = t0.Add(ran).Format(time.RFC3339Nano)
	e.Exit.Complete = true
	return e
}

func out(text string) record  { return record{Stream: "stdout", Log: text} }
func errl(text string) record { return record{Stream: "stderr", Log: text} }

// ndjson writes the records of one answer, each flushed as the node log API
// flushes after each read of the spool.
type ndjson struct {
	w   http.ResponseWriter
	enc *json.Encoder
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Brisk-Node", "fake-node")
	w.Header().Set("Brisk-Source", "spool")
	w.WriteHeader(http.StatusOK)
	return &ndjson{w: w, enc: json.NewEncoder(w)}
}

func (s *ndjson) send(v any, flush bool) {
	if r, ok := v.(record); ok && r.Time == "" {
		r.Time = t0.Format(time.RFC3339Nano)
		v = r
	}
	_ = s.enc.Encode(v)
	if flush {
		_ = http.NewResponseController(s.w).Flush()
	}
}

// serve starts the page and a fake /v1/logs that checks the bearer token as
// brisk-logd does and hands the rest to logs. It is started before the tab, so
// that the tab, closed first, ends the fake's requests before the server's
// Close waits for them.
func serve(t *testing.T, logs func(w http.ResponseWriter, r *http.Request, ns, id string)) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
	mux.HandleFunc("GET /v1/logs/{namespace}/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "no token or an unknown token", http.StatusUnauthorized)
			return
		}
		if q := r.URL.Query(); q.Get("follow") != "1" || q.Get("format") != "ndjson" {
			http.Error(w, "the page must ask for follow=1&format=ndjson, asked "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		logs(w, r, r.PathValue("namespace"), r.PathValue("id"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// pageLine is one line as the page shows it.
type pageLine struct {
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

const linesJS = `[...document.querySelectorAll('#log .line')].map(e => ({
	stream: e.classList.contains('stderr') ? 'stderr' : e.classList.contains('stdout') ? 'stdout' : e.className,
	text: e.textContent}))`

const pendingJS = `[...document.querySelectorAll('#log .line-pending')].map(e => e.textContent)`

const stateJS = `'state: ' + document.getElementById('state').textContent +
	' | exit: ' + document.getElementById('exit').textContent +
	' | error: ' + document.getElementById('error-text').textContent +
	' | lines: ' + document.querySelectorAll('#log .line').length +
	' | hidden: ' + document.getElementById('hidden').textContent`

// eval evaluates expr in the tab. The deadline is for liveness only: a page
// whose script hangs never answers.
func eval[T any](t *testing.T, tab *browser.Tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, tab *browser.Tab, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor waits until expr is true in the page, and fails with what the page
// shows if it never is.
func waitFor(t *testing.T, tab *browser.Tab, what, expr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, timeout+10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("waiting for %s (%s): %v; the page shows %s", what, expr, err, eval[string](t, tab, stateJS))
	}
}

// open follows a task through the page's form, as a user does.
func open(t *testing.T, tab *browser.Tab, base, tok, ns, id string) {
	t.Helper()
	fill := ""
	for box, v := range map[string]string{"token": tok, "ns": ns, "id": id} {
		q, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fill += fmt.Sprintf("document.getElementById(%q).value = %s;\n", box, q)
	}
	do(t, tab, "open the page",
		chromedp.Navigate(base+"/"),
		chromedp.Evaluate[chromedp.Void](fill),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
	)
}

func noProblems(t *testing.T, tab *browser.Tab) {
	t.Helper()
	if p := tab.Problems(); len(p) > 0 {
		t.Errorf("the page had problems:\n%s", strings.Join(p, "\n"))
	}
}

func TestPage(t *testing.T) {
	b := browser.Start(t)
	t.Run("FollowsLive", func(t *testing.T) { testFollowsLive(t, b) })
	t.Run("ShowsErrors", func(t *testing.T) { testShowsErrors(t, b) })
	t.Run("LongLogStaysLive", func(t *testing.T) { testLongLog(t, b) })
	t.Run("ConnectionLost", func(t *testing.T) { testConnectionLost(t, b) })
	t.Run("SwitchTasks", func(t *testing.T) { testSwitchTasks(t, b) })
}

// testFollowsLive: a task prints a record every 100 ms; its lines show while
// it runs (the fake sends no exit until the test has seen them), stderr apart
// from stdout, partial records joined per stream, markup as text; then the
// exit code and the duration; then the /t/ link opens a task directly.
func testFollowsLive(t *testing.T, b *browser.Browser) {
	release := make(chan struct{})
	var exitSent atomic.Bool
	const html = `<img src=x onerror="document.body.dataset.pwned=1"><b id="injected">bold</b>`
	srv := serve(t, func(w http.ResponseWriter, r *http.Request, ns, id string) {
		s := newNDJSON(w)
		switch id {
		case "live":
			for _, rec := range []record{
				out("line 1"),
				errl("warning 1"),
				{Stream: "stdout", Partial: true, Log: "joined "},
				errl("warning 2"),
				out("line"),
				out(html),
				out("line 2"),
				{Stream: "stdout", Partial: true, Log: "progress 10%"},
			} {
				s.send(rec, true)
				select {
				case <-time.After(100 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			s.send(out("... done"), false)
			exitSent.Store(true)
			s.send(exitWith(3, 3200*time.Millisecond), true)
		case "again":
			s.send(out("hello"), true)
			s.send(exitWith(0, 1500*time.Millisecond), true)
		}
	})
	tab := b.Tab(t)
	open(t, tab, srv.URL, token, "default", "live")

	waitFor(t, tab, "the running task's lines", `document.querySelectorAll('#log .line').length >= 6 &&
		document.querySelectorAll('#log .line-pending').length > 0`, 30*time.Second)
	if exitSent.Load() {
		t.Fatal("the exit was sent before the lines were seen")
	}
	if got := eval[string](t, tab, `document.getElementById('state').dataset.state`); got != "following" {
		t.Errorf("while the task runs, the state is %q, want following", got)
	}
	if got := eval[string](t, tab, `document.getElementById('exit').textContent`); got != "" {
		t.Errorf("while the task runs, the page shows an exit: %q", got)
	}
	want := []pageLine{
		{"stdout", "line 1"}, {"stderr", "warning 1"}, {"stderr", "warning 2"},
		{"stdout", "joined line"}, {"stdout", html}, {"stdout", "line 2"},
	}
	if got := eval[[]pageLine](t, tab, linesJS); !slices.Equal(got, want) {
		t.Errorf("the page shows\n%v\nwant\n%v", got, want)
	}
	// A line still being written shows as such, below the others.
	if got := eval[[]string](t, tab, pendingJS); !slices.Equal(got, []string{"progress 10%"}) {
		t.Errorf("the line in progress shows as %q, want [progress 10%%]", got)
	}
	// A log is attacker-controlled: its markup is text, nothing runs.
	type injection struct {
		Elements int    `json:"elements"`
		Pwned    string `json:"pwned"`
	}
	if got := eval[injection](t, tab, `({elements: document.querySelectorAll('#injected, #log img, #log b').length,
		pwned: document.body.dataset.pwned || ''})`); got != (injection{}) {
		t.Errorf("a log line's markup became page content: %+v", got)
	}
	// stderr is told apart by colour and a mark that is not part of the text.
	type looks struct {
		OutColor string `json:"outColor"`
		ErrColor string `json:"errColor"`
		OutMark  string `json:"outMark"`
		ErrMark  string `json:"errMark"`
	}
	l := eval[looks](t, tab, `(() => {
		const o = document.querySelector('#log .line.stdout'), e = document.querySelector('#log .line.stderr');
		return {outColor: getComputedStyle(o).color, errColor: getComputedStyle(e).color,
			outMark: getComputedStyle(o, '::before').content, errMark: getComputedStyle(e, '::before').content};
	})()`)
	if l.OutColor == l.ErrColor || l.ErrMark != `"E"` || l.OutMark != "none" {
		t.Errorf("stderr lines are not marked apart from stdout: %+v", l)
	}
	if got := eval[string](t, tab, `location.pathname`); got != "/t/default/live" {
		t.Errorf("the page's address is %q, want the task's link /t/default/live", got)
	}
	tab.Screenshot(t, "logd-page-running.png")

	close(release)
	waitFor(t, tab, "the exit code", `document.getElementById('exit').textContent === 'exit code 3' &&
		document.querySelectorAll('#log .line').length === 7`, 30*time.Second)
	if got := eval[string](t, tab, `document.getElementById('duration').textContent`); got != "ran 3.20 s" {
		t.Errorf("duration shown: %q, want %q", got, "ran 3.20 s")
	}
	want = append(want, pageLine{"stdout", "progress 10%... done"})
	if got := eval[[]pageLine](t, tab, linesJS); !slices.Equal(got, want) {
		t.Errorf("after the exit the page shows\n%v\nwant\n%v", got, want)
	}
	if got := eval[[]string](t, tab, pendingJS); len(got) != 0 {
		t.Errorf("after the line's end it still shows as in progress: %q", got)
	}
	tab.Screenshot(t, "logd-page-exited.png")

	// The link a CI system prints opens the task directly, with the token
	// the tab already holds.
	do(t, tab, "open the task's link", chromedp.Navigate(srv.URL+"/t/default/again"))
	waitFor(t, tab, "the linked task's exit and line", `document.getElementById('exit').textContent === 'exit code 0' &&
		document.querySelectorAll('#log .line').length === 1`, 30*time.Second)
	if got := eval[[]pageLine](t, tab, linesJS); !slices.Equal(got, []pageLine{{"stdout", "hello"}}) {
		t.Errorf("the linked task shows %v", got)
	}
	if got := eval[[]string](t, tab, `[document.getElementById('ns').value, document.getElementById('id').value]`); !slices.Equal(got, []string{"default", "again"}) {
		t.Errorf("the boxes show %v for the link /t/default/again", got)
	}
	noProblems(t, tab)
}

// testShowsErrors: the API's refusals are shown with their bodies, as text.
func testShowsErrors(t *testing.T, b *browser.Browser) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request, ns, id string) {
		switch {
		case ns != "default":
			http.Error(w, "token not allowed for namespace "+ns, http.StatusForbidden)
		case id == "down":
			http.Error(w, "the object store does not answer", http.StatusServiceUnavailable)
		default:
			http.Error(w, fmt.Sprintf("task %s/%s: not in the spool of node fake-node, not in the store", ns, id), http.StatusNotFound)
		}
	})
	tab := b.Tab(t)
	for _, tc := range []struct {
		name, tok, ns, id string
		want              string
	}{
		{"no token", "", "default", "t1", "HTTP 401: no token or an unknown token"},
		{"wrong token", "guess", "default", "t1", "HTTP 401: no token or an unknown token"},
		{"other namespace", token, "team-b", "t1", "HTTP 403: token not allowed for namespace team-b"},
		{"no such task", token, "default", "gone", "HTTP 404: task default/gone: not in the spool of node fake-node, not in the store"},
		{"markup in the answer", token, "default", `<b id="injected">x</b>`, `HTTP 404: task default/<b id="injected">x</b>: not in the spool`},
		{"store down", token, "default", "down", "HTTP 503: the object store does not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open(t, tab, srv.URL, tc.tok, tc.ns, tc.id)
			waitFor(t, tab, "the error", `document.getElementById('state').dataset.state === 'error'`, 30*time.Second)
			got := eval[string](t, tab, `document.getElementById('error').hidden ? '(hidden) ' : '' + document.getElementById('error-text').textContent`)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("the page shows %q, want it to start %q", got, tc.want)
			}
			if n := eval[int](t, tab, `document.querySelectorAll('#injected, #log .line').length`); n != 0 {
				t.Errorf("%d elements in the log or injected after an error", n)
			}
		})
	}
	noProblems(t, tab)
}

// testLongLog: 100,000 lines in one burst leave the page answering, keep the
// last 50,000 with a note, and scroll along only while the reader is at the
// bottom. The deadlines are liveness checks, not speed assertions.
func testLongLog(t *testing.T, b *browser.Browser) {
	const burst = 100000
	release := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request, ns, id string) {
		s := newNDJSON(w)
		for i := range burst {
			s.send(out(fmt.Sprintf("burst %d", i)), i%1000 == 999)
		}
		s.send(out("end of burst"), true)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		for i := range 10 {
			s.send(out(fmt.Sprintf("tail %d", i)), false)
		}
		s.send(exitWith(0, 12*time.Second), true)
	})
	tab := b.Tab(t)
	open(t, tab, srv.URL, token, "default", "burst")

	waitFor(t, tab, "the end of the burst",
		`(() => { const l = document.querySelectorAll('#log .line'); return l.length && l[l.length-1].textContent === 'end of burst'; })()`,
		2*time.Minute)
	if got := eval[int](t, tab, `1 + 1`); got != 2 {
		t.Fatalf("the page evaluates 1 + 1 = %d", got)
	}
	type kept struct {
		Lines  int    `json:"lines"`
		First  string `json:"first"`
		Hidden string `json:"hidden"`
	}
	k := eval[kept](t, tab, `(() => { const l = document.querySelectorAll('#log .line');
		return {lines: l.length, first: l[0].textContent, hidden: document.getElementById('hidden').hidden ? '' : document.getElementById('hidden').textContent}; })()`)
	if want := (kept{50000, "burst 50001", "50001 earlier lines hidden"}); k.Lines != want.Lines || k.First != want.First || !strings.HasPrefix(k.Hidden, want.Hidden) {
		t.Errorf("after %d lines the page keeps %+v, want %+v", burst+1, k, want)
	}
	waitFor(t, tab, "the log scrolled to its end",
		`(l => l.scrollHeight - l.scrollTop - l.clientHeight < 40)(document.getElementById('log'))`, 30*time.Second)
	tab.Screenshot(t, "logd-page-burst.png")

	// The reader scrolls up: new lines no longer move the view.
	do(t, tab, "scroll to the top", chromedp.Evaluate[chromedp.Void](`document.getElementById('log').scrollTop = 0`))
	close(release)
	waitFor(t, tab, "the exit code", `document.getElementById('exit').textContent === 'exit code 0'`, time.Minute)
	waitFor(t, tab, "the last line", `(l => l[l.length-1].textContent === 'tail 9')(document.querySelectorAll('#log .line'))`, 30*time.Second)
	if top := eval[float64](t, tab, `document.getElementById('log').scrollTop`); top != 0 {
		t.Errorf("the view moved to %v while the reader was at the top", top)
	}
	if got := eval[string](t, tab, `document.getElementById('hidden').textContent`); !strings.HasPrefix(got, "50011 earlier lines hidden") {
		t.Errorf("the note says %q after %d lines", got, burst+11)
	}
	noProblems(t, tab)
}

// testConnectionLost: an answer that ends without the exit record is a lost
// connection, one that ends with an error record is the service's error;
// retry reads the log again from its start.
func testConnectionLost(t *testing.T, b *browser.Browser) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request, ns, id string) {
		s := newNDJSON(w)
		switch calls.Add(1) {
		case 1:
			s.send(out("first 1"), true)
			s.send(errl("first 2"), true)
			s.send(record{Stream: "stdout", Partial: true, Log: "cut mid"}, true)
			// cut: no exit record
		case 2:
			s.send(out("second 1"), true)
			s.send(map[string]string{"error": "reading the store: connection reset by peer"}, true)
		default:
			s.send(out("third 1"), true)
			s.send(exitWith(0, time.Second), true)
		}
	})
	tab := b.Tab(t)
	open(t, tab, srv.URL, token, "default", "flaky")
	waitFor(t, tab, "connection lost", `document.getElementById('state').dataset.state === 'lost' &&
		document.querySelectorAll('#log .line').length === 3`, 30*time.Second)
	if got := eval[[]pageLine](t, tab, linesJS); !slices.Equal(got, []pageLine{{"stdout", "first 1"}, {"stderr", "first 2"}, {"stdout", "cut mid"}}) {
		t.Errorf("before the cut the page shows %v", got)
	}
	if got := eval[string](t, tab, `document.getElementById('error-text').textContent`); !strings.Contains(got, "connection was lost") {
		t.Errorf("the page says %q after the cut", got)
	}

	do(t, tab, "retry", chromedp.Click(chromedp.ID("retry")))
	waitFor(t, tab, "the service's error", `document.getElementById('state').dataset.state === 'error' &&
		document.querySelectorAll('#log .line').length === 1`, 30*time.Second)
	if got := eval[string](t, tab, `document.getElementById('error-text').textContent`); !strings.Contains(got, "reading the store: connection reset by peer") {
		t.Errorf("the page says %q after an error record", got)
	}

	do(t, tab, "retry", chromedp.Click(chromedp.ID("retry")))
	waitFor(t, tab, "the exit after the retry", `document.getElementById('exit').textContent === 'exit code 0' &&
		document.querySelectorAll('#log .line').length >= 1`, 30*time.Second)
	if got := eval[[]pageLine](t, tab, linesJS); !slices.Equal(got, []pageLine{{"stdout", "third 1"}}) {
		t.Errorf("after the retry the page shows %v, want only the new answer's lines", got)
	}
	if got := eval[bool](t, tab, `document.getElementById('error').hidden`); !got {
		t.Error("the error stays shown after the retry succeeded")
	}
	noProblems(t, tab)
}

// testSwitchTasks: opening another task while the first one's lines still
// wait for a frame shows none of them under the second task. The switch is
// made by the page itself, at the first lines of a burst (a mutation
// observer), when most of the burst is still queued.
func testSwitchTasks(t *testing.T, b *browser.Browser) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request, ns, id string) {
		s := newNDJSON(w)
		if id == "calm" {
			s.send(out("calm 1"), true)
			s.send(exitWith(0, time.Second), true)
			return
		}
		for i := range 50000 {
			s.send(out(fmt.Sprintf("flood %d", i)), false)
		}
		s.send(out("flood end"), true)
		<-r.Context().Done()
	})
	tab := b.Tab(t)
	do(t, tab, "arm the switch", chromedp.Navigate(srv.URL+"/"), chromedp.Evaluate[chromedp.Void](`
		new MutationObserver((_, obs) => {
			obs.disconnect();
			document.getElementById('id').value = 'calm';
			document.getElementById('open').requestSubmit();
		}).observe(document.getElementById('log'), {childList: true, subtree: true});`))
	open2 := fmt.Sprintf(`document.getElementById('token').value = %q; document.getElementById('id').value = 'flood';
		document.getElementById('open').requestSubmit();`, token)
	do(t, tab, "open the flood", chromedp.Evaluate[chromedp.Void](open2))
	waitFor(t, tab, "the second task's exit", `document.getElementById('exit').textContent === 'exit code 0' &&
		document.querySelectorAll('#log .line').length >= 1`, 30*time.Second)
	// Let any frame or timer the first task left behind run.
	do(t, tab, "wait a second", chromedp.Evaluate[chromedp.Void](`new Promise(r => setTimeout(r, 1000))`, chromedp.EvalAwaitPromise))
	if got := eval[[]pageLine](t, tab, linesJS); !slices.Equal(got, []pageLine{{"stdout", "calm 1"}}) {
		n := len(got)
		got = got[:min(n, 3)]
		t.Errorf("after switching tasks the page shows %d lines, first %v; want only calm 1", n, got)
	}
	if got := eval[string](t, tab, `location.pathname`); got != "/t/default/calm" {
		t.Errorf("the address is %q after the switch", got)
	}
	noProblems(t, tab)
}
