package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// browser is a headless Chromium a test drives against a console at base.
// It records console errors and script exceptions; reportProblems fails
// the test on them.
type browser struct {
	t      *testing.T
	ctx    context.Context
	base   string
	outDir string

	// stepTimeout bounds each do (0: only the test's 3 minutes).
	stepTimeout time.Duration
	// onFail runs before a failed do fails the test.
	onFail func()

	mu       sync.Mutex
	problems []string
}

// startBrowser starts Chromium for the console at base, or skips (fails
// under CI) without it. Console errors containing one of allowed are
// expected, as are favicon misses and 4xx answers.
func startBrowser(t *testing.T, base string, allowed ...string) *browser {
	t.Helper()
	testutil.SkipShort(t, "drives Chromium")
	chromium := testutil.RequireBinary(t, "chromium")
	b := &browser{t: t, base: base, outDir: testOutDir(t)}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	b.ctx = ctx

	allowed = append([]string{"favicon", "the server responded with a status of 4"}, allowed...)
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && !containsAny(ev.Entry.Text, allowed) {
				msg = "console: " + ev.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.problems = append(b.problems, msg)
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// reportProblems fails the test for every console error and exception so far.
func (b *browser) reportProblems() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser reported %s", p)
	}
}

// logProblems logs what reportProblems would fail on.
func (b *browser) logProblems() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Logf("browser reported %s", p)
	}
}

// do runs steps and fails the test, naming what, if one fails.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx := b.ctx
	if b.stepTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.stepTimeout)
		defer cancel()
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		if b.onFail != nil {
			b.onFail()
		}
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text is the text of the element sel selects.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) evalString(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return s
}

func (b *browser) evalBool(js string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return ok
}

// waitFor evaluates js every 100 ms until it is true, across page loads,
// or fails the test after timeout, logging what the browser reported.
func (b *browser) waitFor(what, js string, timeout time.Duration) {
	b.t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); ok && err == nil {
			return
		}
	}
	b.logProblems()
	b.t.Fatalf("waiting %s for %s (%s): last error %v", timeout, what, js, err)
}

// exists reports whether sel selects an element.
func (b *browser) exists(sel string) bool {
	b.t.Helper()
	return b.evalBool(fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// location is the page's path below base.
func (b *browser) location() string {
	b.t.Helper()
	l, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(l, b.base)
}

// login signs in on the login page, then runs then.
func (b *browser) login(name, password string, then ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.do("login as "+name, append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(b.base + "/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
	}, then...)...)
}

// screenshot saves the page at width (below 500: a phone) to testout/name.png
// and returns to the desktop size.
func (b *browser) screenshot(name string, width int64) {
	b.t.Helper()
	b.do("resize to "+name, chromedp.EmulateViewport(width, 900))
	if width < 500 {
		b.do("emulate phone", chromedp.EmulateViewport(width, 812, chromedp.EmulateMobile))
	}
	b.do("settle", chromedp.Sleep(300*time.Millisecond))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.outDir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	b.do("back to desktop", chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))
}

// testOutDir is testout/ at the repository root.
func testOutDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "testout")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}
