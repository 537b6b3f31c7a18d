// Package browser runs a real, headless Chromium for tests of Brisk's pages
// (Debian's chromium, driven over the DevTools protocol by chromedp). Nothing
// can be downloaded at run time, so it uses the browser on the machine.
package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// ExecEnv names another Chromium binary than chromium on PATH.
const ExecEnv = "BRISK_CHROMIUM"

// ArtifactsEnv names the directory where tests leave artifacts, screenshots
// among them, for CI to keep.
const ArtifactsEnv = "BRISK_ARTIFACTS_DIR"

// Browser is one headless Chromium, stopped when the test ends.
type Browser struct {
	ctx context.Context
}

// Start launches Chromium for t. A missing chromium skips the test, and fails
// it in CI.
func Start(t testing.TB) *Browser {
	t.Helper()
	exe := os.Getenv(ExecEnv)
	if exe == "" {
		exe = testutil.RequireCommand(t, "chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		// Root in a container: Chromium's sandbox needs user namespaces
		// that are not there.
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 800),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Cleanups run last in, first out: the browser stops before its user
	// data directory is removed.
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Do starts the browser; it must have no deadline, which
	// would stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return &Browser{ctx: ctx}
}

// Tab is one tab of a Browser.
type Tab struct {
	Ctx context.Context

	mu       sync.Mutex
	done     bool
	problems []string
}

// Tab opens a new tab that closes when the test ends. Its console goes to the
// test's log; exceptions and Content-Security-Policy violations are also kept
// for Problems.
func (b *Browser) Tab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tab := &Tab{Ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.record(t, m)
		}
	})
	t.Cleanup(func() {
		tab.mu.Lock()
		tab.done = true // the test is over: t.Logf may no longer be called
		tab.mu.Unlock()
		cancel()
		wg.Wait()
	})
	return tab
}

func (tab *Tab) record(t testing.TB, m chromedp.ConsoleMessage) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if tab.done {
		return
	}
	t.Logf("browser console: %s", m)
	if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
		tab.problems = append(tab.problems, m.String())
	}
}

// Problems are the exceptions the page did not catch and the policy
// violations seen so far.
func (tab *Tab) Problems() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.problems...)
}

// Screenshot writes the tab's viewport as a PNG into the artifacts directory
// ($BRISK_ARTIFACTS_DIR, or the test's temporary directory) and logs its path.
func (tab *Tab) Screenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := chromedp.Run(tab.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := ArtifactDir(t)
	path := filepath.Join(dir, name)
	testutil.Must(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
	return path
}

// ArtifactDir is where the test leaves files for people to look at:
// $BRISK_ARTIFACTS_DIR when set (made if missing), else a temporary directory.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		return t.TempDir()
	}
	testutil.Must(t, os.MkdirAll(dir, 0o755))
	return dir
}
