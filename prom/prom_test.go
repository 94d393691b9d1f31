package prom

import (
	"bytes"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.txt")

// fakeSource is a sentinel's state made by hand.
type fakeSource struct {
	snap  *leaksentinel.Snapshot
	leaks []leaksentinel.Leak
	stats leaksentinel.Stats
}

func (f *fakeSource) Snapshot() *leaksentinel.Snapshot { return f.snap }
func (f *fakeSource) Leaks() []leaksentinel.Leak       { return f.leaks }
func (f *fakeSource) Stats() leaksentinel.Stats        { return f.stats }

func site(state leaksentinel.State, function string, line int) leaksentinel.Site {
	return leaksentinel.Site{State: state, Function: function, File: "/src/main.go", Line: line}
}

var (
	leaking = site(leaksentinel.StateChanSend, "main.search.func1", 103)
	small   = site(leaksentinel.StateChanReceive, "main.slow", 20)
)

// newFakeSource returns a process with five sites, the smallest of them
// leaking, after nine captures.
func newFakeSource() *fakeSource {
	groups := []leaksentinel.Group{
		{Site: site(leaksentinel.StateSelect, "main.worker", 7), Count: 40},
		{Site: site(leaksentinel.StateIOWait, "main.(*conn).serve", 55), Count: 12},
		{Site: site(leaksentinel.StateMutexLock, "main.(*cache).get", 31), Count: 5},
		{Site: leaking, Count: 3},
		{Site: small, Count: 1},
	}
	return &fakeSource{
		snap: &leaksentinel.Snapshot{Total: 61, Groups: groups,
			Memory: leaksentinel.Memory{HeapLive: 48 << 20, Stacks: 1 << 20, Total: 96 << 20, GCCycles: 12}},
		leaks: []leaksentinel.Leak{{Site: leaking, Count: 3, Growth: 3,
			Creators: []leaksentinel.Creator{{Frame: leaksentinel.Frame{Function: "main.search", File: "/src/main.go", Line: 98}}}}},
		stats: leaksentinel.Stats{
			Ticks: 12, Captures: 9, Leaks: 1, Alerts: 2, Dropped: 1, TurnedOver: 2,
			Durations: leaksentinel.Histogram{
				Bounds: []time.Duration{100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond},
				Counts: []uint64{2, 5, 1, 1},
				Sum:    30 * time.Millisecond,
			},
		},
	}
}

// golden is testdata/metrics.txt: the collector's output for
// newFakeSource with TopSites 3. go test -update rewrites it.
func golden(t *testing.T, c *Collector) []byte {
	t.Helper()
	path := filepath.Join("testdata", "metrics.txt")
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		w := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.NoError(t, os.WriteFile(path, w.Body.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update")
	return want
}

func TestCollect(t *testing.T) {
	c := newCollector(newFakeSource(), Options{TopSites: 3})
	want := golden(t, c)
	require.NoError(t, testutil.CollectAndCompare(c, bytes.NewReader(want)))

	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems, "metric names and help follow Prometheus conventions")
}

// A real scrape of promhttp over 127.0.0.1 gives the same metrics.
func TestScrape(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := newCollector(newFakeSource(), Options{TopSites: 3})
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	require.NoError(t, testutil.ScrapeAndCompare(srv.URL+"/metrics", bytes.NewReader(golden(t, c))))
}

func TestTopSites(t *testing.T) {
	tests := []struct {
		name      string
		give      int
		wantSites []string // functions with a series of their own, in any order
		wantOther float64  // goroutines in the "other" series; 0: none
	}{
		{name: "default", give: 0, wantSites: []string{"main.worker", "main.(*conn).serve", "main.(*cache).get", "main.search.func1", "main.slow"}},
		{name: "one: the leaking site first", give: 1, wantSites: []string{"main.search.func1"}, wantOther: 58},
		{name: "two", give: 2, wantSites: []string{"main.search.func1", "main.worker"}, wantOther: 18},
		{name: "negative: only other", give: -1, wantOther: 61},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(newFakeSource(), Options{TopSites: tt.give})
			series := collectSites(t, c)
			var functions []string
			for labels, v := range series {
				if labels[1] == other {
					assert.Equal(t, [3]string{other, other, other}, labels)
					assert.Equal(t, tt.wantOther, v)
					continue
				}
				functions = append(functions, labels[1])
			}
			assert.ElementsMatch(t, tt.wantSites, functions)
			_, hasOther := series[[3]string{other, other, other}]
			assert.Equal(t, tt.wantOther > 0, hasOther)
		})
	}
}

// collectSites returns the leaksentinel_site_goroutines series by their
// state, function and location labels.
func collectSites(t *testing.T, c prometheus.Collector) map[[3]string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	require.NoError(t, err)
	out := make(map[[3]string]float64)
	for _, mf := range families {
		if mf.GetName() != "leaksentinel_site_goroutines" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := make(map[string]string)
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[[3]string{labels["state"], labels["function"], labels["location"]}] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestBeforeFirstCapture(t *testing.T) {
	c := newCollector(&fakeSource{}, Options{})
	assert.Zero(t, testutil.CollectAndCount(c, "leaksentinel_goroutines", "leaksentinel_site_goroutines"))
	assert.Equal(t, 1, testutil.CollectAndCount(c, "leaksentinel_leaks_total"))
	assert.Equal(t, 1, testutil.CollectAndCount(c, "leaksentinel_sample_duration_seconds"))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// Labels are valid UTF-8 whatever the snapshot holds, and two groups of one
// site make one series.
func TestLabelsAlwaysValid(t *testing.T) {
	bad := leaksentinel.Site{State: leaksentinel.StateSleep, Function: "main.f", File: "/src/\xff.go", Line: 1}
	src := &fakeSource{snap: &leaksentinel.Snapshot{Total: 3, Groups: []leaksentinel.Group{{Site: bad, Count: 2}, {Site: bad, Count: 1}}}}
	series := collectSites(t, newCollector(src, Options{}))
	assert.Equal(t, map[[3]string]float64{{"sleep", "main.f", "/src/\uFFFD.go:1"}: 3}, series)
}

// leakHere leaks a goroutine until release is closed.
func leakHere(release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release
	}()
}

// TestLiveLeak scrapes the metrics of a sentinel watching a real leak in
// this process.
func TestLiveLeak(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	alerted := make(chan struct{})
	var once sync.Once
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval:  2 * time.Millisecond,
		Logger:    slog.New(slog.DiscardHandler),
		NoConfirm: true,
		OnLeak:    func(leaksentinel.Leak) { once.Do(func() { close(alerted) }) },
	})
	require.NoError(t, err)
	defer s.Stop()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(s, Options{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				leakHere(release, &wg)
			}
		}
	}()
	select {
	case <-alerted:
	case <-time.After(20 * time.Second):
		t.Fatal("no alert")
	}
	close(stop)
	<-done

	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body := new(bytes.Buffer)
	_, err = body.ReadFrom(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 1.0, value(t, body.String(), "leaksentinel_leaking_sites"))
	assert.Equal(t, 1.0, value(t, body.String(), "leaksentinel_leaks_total"))
	assert.Positive(t, value(t, body.String(), "leaksentinel_sample_duration_seconds_count"))
	// Goroutines just started, not parked yet, make a site of their own
	// for a sample: the leak is the one parked on the receive.
	leak := value(t, body.String(), "leaksentinel_site_goroutines",
		`function="github.com/leaksentinel/leaksentinel/prom.leakHere.func1"`, `state="chan receive"`)
	assert.GreaterOrEqual(t, leak, float64(leaksentinel.DefaultMinGrowth))
	assert.GreaterOrEqual(t, value(t, body.String(), "leaksentinel_goroutines"), leak)
	// The leak's own series names the site and who started it.
	assert.GreaterOrEqual(t, value(t, body.String(), "leaksentinel_leak_goroutines",
		`function="github.com/leaksentinel/leaksentinel/prom.leakHere.func1"`, `state="chan receive"`,
		`created_by="github.com/leaksentinel/leaksentinel/prom.leakHere"`), float64(leaksentinel.DefaultMinGrowth))
}

// value returns the value of the first sample of the metric name in the
// exposition text whose labels include each of labels.
func value(t *testing.T, text, name string, labels ...string) float64 {
	t.Helper()
next:
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				continue next
			}
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(t, err, line)
		return v
	}
	t.Fatalf("no sample %s%v in:\n%s", name, labels, text)
	return 0
}
