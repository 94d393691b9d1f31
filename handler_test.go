package leaksentinel

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evilSite is a site whose names are markup: they are data and must reach
// the page escaped.
var evilSite = Site{State: "chan <b>send</b>", Function: `main.<script>alert("x")</script>`, File: `/src/"><img src=x>.go`, Line: 1}

// leakyHandlerSentinel returns a sentinel fed by f that reports leakySite
// and sees healthySite and evilSite too.
func leakyHandlerSentinel(t *testing.T, f *fake, opts Options) *Sentinel {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.NoConfirm = true
	s, err := Start(f.options(opts))
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	f.tick(t, s)
	for i := range 20 {
		f.set(healthySite, 10+i%3)
		f.set(leakySite, 3+i)
		f.set(evilSite, 2)
		f.tick(t, s)
	}
	require.Len(t, s.Leaks(), 1)
	return s
}

func request(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func TestHandlerHTML(t *testing.T) {
	s := leakyHandlerSentinel(t, newFake(), Options{})
	w := request(t, s.Handler(), http.MethodGet, "/debug/leaksentinel")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	csp := w.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.NotContains(t, csp, "unsafe")
	body := w.Body.String()
	// Long names and paths may wrap after slashes and dots (<wbr>): the
	// page's text is the same without them.
	assert.Contains(t, body, `<td class="loc">/<wbr>src/<wbr>main.go:42</td>`)
	assert.Contains(t, body, `<summary>main.<wbr>handle.<wbr>func1</summary>`)
	body = strings.ReplaceAll(body, "<wbr>", "")

	// Everything from the snapshot is escaped.
	assert.NotContains(t, body, "<script")
	assert.NotContains(t, body, "<img")
	assert.NotContains(t, body, "<b>")
	assert.Contains(t, body, "main.&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.Contains(t, body, "chan &lt;b&gt;send&lt;/b&gt;")

	rows := regexp.MustCompile(`(?s)<tr class="(\w+)">(.*?)</tr>`).FindAllStringSubmatch(body, -1)
	require.Len(t, rows, 3)
	assert.Equal(t, "leak", rows[0][1], "the leaking site comes first, highlighted")
	assert.Contains(t, rows[0][2], leakySite.Function)
	assert.Contains(t, rows[0][2], "/src/main.go:42")
	assert.Contains(t, rows[0][2], "<details><summary>main.handle.func1</summary><pre>main.handle.func1\n\t/src/main.go:42\n</pre></details>")
	assert.Contains(t, rows[0][2], "+")
	assert.Equal(t, "site", rows[1][1])
	assert.Contains(t, rows[1][2], healthySite.Function, "then the others, largest first")
	assert.Equal(t, "site", rows[2][1])

	ys := sparkYs(t, rows[0][2])
	require.Greater(t, len(ys), 10)
	assert.Less(t, ys[len(ys)-1], ys[0], "the leaking site's sparkline rises (SVG y grows downwards)")
	assert.InDelta(t, float64(sparkPad), ys[len(ys)-1], 0.01, "scaled to its maximum")

	// The style sheet is the one the policy allows.
	assert.Contains(t, body, "<style>"+pageCSS+"</style>")
}

// sparkYs returns the y coordinates of the sparkline in row.
func sparkYs(t *testing.T, row string) []float64 {
	t.Helper()
	m := regexp.MustCompile(`<polyline points="([^"]*)"`).FindStringSubmatch(row)
	require.NotNil(t, m, row)
	var ys []float64
	for p := range strings.FieldsSeq(m[1]) {
		_, y, ok := strings.Cut(p, ",")
		require.True(t, ok, p)
		v, err := strconv.ParseFloat(y, 64)
		require.NoError(t, err)
		ys = append(ys, v)
	}
	return ys
}

// TestHandlerJSON compares the JSON view with testdata/golden/handler.json;
// go test -run TestHandlerJSON -update rewrites it, indented. Stack bytes
// are estimated from the test process's own stacks and are zeroed first.
func TestHandlerJSON(t *testing.T) {
	s := leakyHandlerSentinel(t, newFake(), Options{})
	w := request(t, s.Handler(), http.MethodGet, "/?format=json")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))

	var got view
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	require.Len(t, got.Sites, 3)
	assert.True(t, got.Sites[0].Leaking)
	assert.Positive(t, got.Sites[0].StackBytes)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, w.Body.Bytes(), "", "  "))

	golden := filepath.Join("testdata", "golden", "handler.json")
	if updating() {
		require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test -run TestHandlerJSON -update")
	assert.Equal(t, string(want), out.String())
}

// updating reports whether -update was given. The flag is the package's
// golden-file flag, defined once for all its tests; it is looked up by name
// so that this file does not depend on the file that defines it.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func TestHandlerRequests(t *testing.T) {
	s := leakyHandlerSentinel(t, newFake(), Options{})
	tests := []struct {
		name       string
		giveMethod string
		giveTarget string
		wantCode   int
		wantBody   string
	}{
		{name: "html", giveMethod: http.MethodGet, giveTarget: "/?format=html", wantCode: http.StatusOK, wantBody: "<!DOCTYPE html>"},
		{name: "head", giveMethod: http.MethodHead, giveTarget: "/", wantCode: http.StatusOK},
		{name: "post", giveMethod: http.MethodPost, giveTarget: "/", wantCode: http.StatusMethodNotAllowed, wantBody: "method not allowed"},
		{name: "unknown format", giveMethod: http.MethodGet, giveTarget: "/?format=xml", wantCode: http.StatusBadRequest, wantBody: `unknown format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := request(t, s.Handler(), tt.giveMethod, tt.giveTarget)
			assert.Equal(t, tt.wantCode, w.Code)
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			if tt.wantBody == "" {
				assert.Empty(t, w.Body.String())
				assert.NotEmpty(t, w.Header().Get("Content-Length"))
			} else {
				assert.Contains(t, w.Body.String(), tt.wantBody)
			}
		})
	}
}

// Before the first capture the page and the JSON say so.
func TestHandlerBeforeFirstCapture(t *testing.T) {
	s := newSentinel(Options{Logger: slog.New(slog.DiscardHandler)}.withDefaults())
	w := request(t, s.Handler(), http.MethodGet, "/")
	assert.Contains(t, w.Body.String(), "No capture yet.")
	w = request(t, s.Handler(), http.MethodGet, "/?format=json")
	assert.JSONEq(t, `{"time": null, "total": 0, "ticks": 0, "captures": 0, "leaks": 0, "leaking": 0,
		"alerts_dropped": 0, "sites_omitted": 0, "memory": null, "heap_alerts": 0, "turned_over": 0, "failed": 0, "sites": []}`, w.Body.String())
}

// The page lists the leaking sites and the largest others; the rest are
// counted, not shown.
func TestHandlerBoundsSites(t *testing.T) {
	f := newFake()
	for i := range handlerSites + 30 {
		f.set(Site{State: StateSelect, Function: "main.pool", File: "/src/pool.go", Line: i + 1}, 1+i)
	}
	s := leakyHandlerSentinel(t, f, Options{})
	rep := s.buildView(handlerSites, true)
	assert.Len(t, rep.Sites, handlerSites+1)
	assert.Equal(t, 32, rep.Omitted, "30 pool sites, the healthy one and the markup one")
	assert.True(t, rep.Sites[0].Leaking)
	for i, r := range rep.Sites[1:] {
		assert.False(t, r.Leaking)
		if i > 0 {
			assert.LessOrEqual(t, r.Count, rep.Sites[i].Count, "largest first")
		}
	}
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		name string
		give []int
		want string
	}{
		{name: "no history", give: nil, want: "0,22 120,22"},
		{name: "all zero", give: []int{0, 0, 0}, want: "0.0,22.0 60.0,22.0 120.0,22.0"},
		{name: "one sample", give: []int{7}, want: "0,2 120,2"},
		{name: "rising", give: []int{0, 5, 10}, want: "0.0,22.0 60.0,12.0 120.0,2.0"},
		{name: "falling", give: []int{4, 0}, want: "0.0,2.0 120.0,22.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, sparkline(tt.give))
		})
	}
}

func TestPageCSPMatchesStyle(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, pageTemplate.Execute(&b, view{}))
	assert.Contains(t, b.String(), "<style>"+pageCSS+"</style>", "the template must not alter the hashed style sheet")
	assert.Regexp(t, `style-src 'sha256-[A-Za-z0-9+/]{43}='`, pageCSP)
}

func TestWrapPoints(t *testing.T) {
	tests := []struct {
		give     string
		function bool
		want     []string
	}{
		{give: "", want: []string{""}},
		{give: "main", function: true, want: []string{"main"}},
		{give: "main.handle.func1", function: true, want: []string{"main.", "handle.", "func1"}},
		{give: "github.com/a/b.(*T).M", function: true, want: []string{"github.com/", "a/", "b.", "(*T).", "M"}},
		{give: "/src/net/http/server.go", want: []string{"/", "src/", "net/", "http/", "server.go"}},
		{give: "dir/", want: []string{"dir/"}},
		{give: "a..b", function: true, want: []string{"a.", ".", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got := wrapPoints(tt.give, tt.function)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.give, strings.Join(got, ""), "nothing lost")
		})
	}
}
