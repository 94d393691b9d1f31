package browsertest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel"
)

// artifactsEnv names a directory where the test saves its screenshot; by
// default, a temporary directory of the test's.
const artifactsEnv = "LEAKSENTINEL_ARTIFACTS"

// chromium returns the path of a Chromium binary, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// windowWidth is the browser window's width, in CSS pixels: a laptop
// screen's, at which the page must not scroll sideways.
const windowWidth = 1300

// leakHere leaks a goroutine until release is closed.
func leakHere(release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release
	}()
}

const leakingFunction = "github.com/leaksentinel/leaksentinel/internal/browsertest.leakHere.func1"

// TestPageInChromium loads the handler's page in a headless Chromium while
// the sentinel watches a real leak in this process: the leaking row comes
// first and is highlighted by the page's own style sheet (which the
// Content-Security-Policy must let through), its sparkline rises, its stack
// opens, and a screenshot is saved.
func TestPageInChromium(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium binary found (Debian: apt-get install chromium); skipping the browser test")
	}
	s, stop := watchLeak(t)
	defer stop()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The network is closed here: everything that makes Chromium call
	// home is turned off, and the profile is new.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(windowWidth, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()

	// The console, browser log included: a style the policy blocked would
	// show there.
	var mu sync.Mutex
	var console []string
	messages := chromedp.Console(tab)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, string(m.Type)+": "+m.Text)
			mu.Unlock()
		}
	}()

	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(srv.URL),
		chromedp.WaitVisible(chromedp.CSS("tr.leak")),
	))

	first, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("tbody tr").className`))
	require.NoError(t, err)
	assert.Equal(t, "leak", first, "the leaking row comes first")
	function, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("tr.leak summary")))
	require.NoError(t, err)
	assert.Equal(t, leakingFunction, function)
	background, err := chromedp.Run(tab, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("tr.leak")).backgroundColor`))
	require.NoError(t, err)
	assert.Equal(t, "rgb(255, 235, 233)", background, "highlighted by the page's style sheet")
	other, err := chromedp.Run(tab, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("tr.site")).backgroundColor`))
	require.NoError(t, err)
	assert.NotEqual(t, background, other, "other rows are not highlighted")

	points, err := chromedp.Run(tab, chromedp.AttributeValue(chromedp.CSS("tr.leak polyline"), "points"))
	require.NoError(t, err)
	ys := yCoordinates(t, points.Value)
	require.GreaterOrEqual(t, len(ys), 2, points.Value)
	assert.Less(t, ys[len(ys)-1], ys[0], "the sparkline rises (SVG y grows downwards): %s", points.Value)
	width, err := chromedp.Run(tab, chromedp.Evaluate[float64](`document.querySelector("tr.leak svg").getBoundingClientRect().width`))
	require.NoError(t, err)
	assert.Equal(t, 120.0, width, "the sparkline is drawn")

	// The sentinel's own goroutines (its sampler in the middle of a
	// capture, its OnLeak delivery) are never shown as sites.
	own, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tbody summary")].map(e => e.textContent).filter(f => f.startsWith("github.com/leaksentinel/leaksentinel.") || f.includes("leaksentinel/internal/capture"))`))
	require.NoError(t, err)
	assert.Empty(t, own, "the page shows the sentinel's own goroutines")

	assertFits(t, tab, "with every stack closed")

	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.CSS("tr.leak summary")),
		chromedp.WaitVisible(chromedp.CSS("tr.leak pre")),
	))
	stack, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("tr.leak pre")))
	require.NoError(t, err)
	assert.Contains(t, stack, leakingFunction, "the stack opens")

	assertFits(t, tab, "with the leak's stack open")

	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := os.Getenv(artifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "leaksentinel-handler.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s (set %s to keep it)", path, artifactsEnv)

	require.NoError(t, chromedp.Cancel(tab))
	cancelTab()
	cancelAlloc()
	<-drained
	mu.Lock()
	defer mu.Unlock()
	for _, m := range console {
		assert.NotContains(t, m, "Content Security Policy")
		assert.False(t, strings.HasPrefix(m, "error"), m)
	}
}

// assertFits checks that the page needs no horizontal scrolling at the
// window's width (a laptop's, 1300 px): long function names and paths wrap.
func assertFits(t *testing.T, tab context.Context, when string) {
	t.Helper()
	w, err := chromedp.Run(tab, chromedp.Evaluate[[2]float64](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
	require.NoError(t, err)
	assert.Equal(t, float64(windowWidth), w[1], "the window's width")
	assert.LessOrEqual(t, w[0], w[1], "the page scrolls sideways %s: scrollWidth %v > clientWidth %v", when, w[0], w[1])
}

// watchLeak starts a sentinel and leaks goroutines until it reports them,
// then on, more slowly, until stop: the leak goes on while the browser
// loads the page, so the site's history rises to its last sample whichever
// samples it spans. stop ends the leak and the sentinel, and releases the
// goroutines.
func watchLeak(t *testing.T) (s *leaksentinel.Sentinel, stop func()) {
	t.Helper()
	release := make(chan struct{})
	var wg sync.WaitGroup
	alerted := make(chan struct{})
	var once sync.Once
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval:  5 * time.Millisecond,
		Logger:    slog.New(slog.DiscardHandler),
		NoConfirm: true,
		OnLeak:    func(leaksentinel.Leak) { once.Do(func() { close(alerted) }) },
	})
	require.NoError(t, err)
	stopLeak := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(time.Millisecond)
		defer ticker.Stop()
		slow := alerted
		for {
			select {
			case <-stopLeak:
				return
			case <-slow:
				ticker.Reset(10 * time.Millisecond)
				slow = nil
			case <-ticker.C:
				leakHere(release, &wg)
			}
		}
	}()
	stop = func() {
		close(stopLeak)
		<-done
		s.Stop()
		close(release)
		wg.Wait()
	}
	select {
	case <-alerted:
	case <-time.After(30 * time.Second):
		stop()
		t.Fatal("no alert")
	}
	return s, stop
}

// yCoordinates returns the y coordinates of an SVG points attribute.
func yCoordinates(t *testing.T, points string) []float64 {
	t.Helper()
	var ys []float64
	for p := range strings.FieldsSeq(points) {
		_, y, ok := strings.Cut(p, ",")
		require.True(t, ok, points)
		v, err := strconv.ParseFloat(y, 64)
		require.NoError(t, err, points)
		ys = append(ys, v)
	}
	return ys
}
