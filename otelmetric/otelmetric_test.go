package otelmetric

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/leaksentinel/leaksentinel"
)

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

var leaking = site(leaksentinel.StateChanSend, "main.search.func1", 103)

// newFakeSource returns a process with five sites, the smallest but one
// leaking, after nine captures.
func newFakeSource() *fakeSource {
	groups := []leaksentinel.Group{
		{Site: site(leaksentinel.StateSelect, "main.worker", 7), Count: 40},
		{Site: site(leaksentinel.StateIOWait, "main.(*conn).serve", 55), Count: 12},
		{Site: site(leaksentinel.StateMutexLock, "main.(*cache).get", 31), Count: 5},
		{Site: leaking, Count: 3},
		{Site: site(leaksentinel.StateChanReceive, "main.slow", 20), Count: 1},
	}
	return &fakeSource{
		snap: &leaksentinel.Snapshot{Total: 64, Groups: groups,
			Memory: leaksentinel.Memory{HeapLive: 48 << 20, Stacks: 1 << 20, Total: 96 << 20, GCCycles: 12}},
		leaks: []leaksentinel.Leak{{Site: leaking, Count: 3, Growth: 3,
			Creators: []leaksentinel.Creator{{Frame: leaksentinel.Frame{Function: "main.search", File: "/src/main.go", Line: 98}}}}},
		stats: leaksentinel.Stats{
			Ticks: 12, Captures: 9, Leaks: 1, Alerts: 2, Dropped: 1, HeapAlerts: 4, TurnedOver: 2,
			TotalDuration: 30 * time.Millisecond,
		},
	}
}

// collect registers src on a meter provider with a manual reader and
// collects once.
func collect(t *testing.T, src source, opts Options) metricdata.ScopeMetrics {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	reg, err := register(src, mp, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, reg.Unregister()) }()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, ScopeName, rm.ScopeMetrics[0].Scope.Name)
	return rm.ScopeMetrics[0]
}

// point is one data point, its kind and attributes flattened.
type point struct {
	kind  string // "gauge" or "sum" (monotonic, cumulative)
	unit  string
	value float64
}

// points returns each metric's points by name and attributes (as
// attribute.Set's encoding).
func points(t *testing.T, sm metricdata.ScopeMetrics) map[string]map[attribute.Distinct]point {
	t.Helper()
	out := make(map[string]map[attribute.Distinct]point)
	add := func(name string, attrs attribute.Set, p point) {
		if out[name] == nil {
			out[name] = make(map[attribute.Distinct]point)
		}
		_, dup := out[name][attrs.Equivalent()]
		require.False(t, dup, "%s%v twice", name, attrs)
		out[name][attrs.Equivalent()] = p
	}
	for _, m := range sm.Metrics {
		switch d := m.Data.(type) {
		case metricdata.Gauge[int64]:
			for _, dp := range d.DataPoints {
				add(m.Name, dp.Attributes, point{"gauge", m.Unit, float64(dp.Value)})
			}
		case metricdata.Sum[int64]:
			require.True(t, d.IsMonotonic, m.Name)
			require.Equal(t, metricdata.CumulativeTemporality, d.Temporality, m.Name)
			for _, dp := range d.DataPoints {
				add(m.Name, dp.Attributes, point{"sum", m.Unit, float64(dp.Value)})
			}
		case metricdata.Sum[float64]:
			require.True(t, d.IsMonotonic, m.Name)
			for _, dp := range d.DataPoints {
				add(m.Name, dp.Attributes, point{"sum", m.Unit, dp.Value})
			}
		default:
			t.Fatalf("%s: unexpected %T", m.Name, m.Data)
		}
	}
	return out
}

func siteAttrs(s leaksentinel.Site) attribute.Distinct {
	return distinct(siteKeyValues(s)...)
}

func siteKeyValues(s leaksentinel.Site) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("code.function.name", s.Function),
		attribute.String("code.file.path", s.File),
		attribute.Int("code.line.number", s.Line),
		attribute.String("leaksentinel.state", string(s.State)),
	}
}

func distinct(kvs ...attribute.KeyValue) attribute.Distinct {
	set := attribute.NewSet(kvs...)
	return set.Equivalent()
}

var (
	noAttrs    = distinct()
	otherAttrs = distinct(
		attribute.String("code.function.name", "other"),
		attribute.String("code.file.path", "other"),
		attribute.String("leaksentinel.state", "other"),
	)
)

// TestMetrics checks every instrument's kind, unit and value for a
// sentinel's state, and the top sites with the leak among them.
func TestMetrics(t *testing.T) {
	src := newFakeSource()
	got := points(t, collect(t, src, Options{TopSites: 3}))
	want := map[string]map[attribute.Distinct]point{
		"leaksentinel.goroutines": {noAttrs: {"gauge", "{goroutine}", 64}},
		"leaksentinel.leaks":      {noAttrs: {"sum", "{site}", 1}},
		"leaksentinel.leak.goroutines": {
			distinct(append(siteKeyValues(leaking), attribute.String("leaksentinel.created_by", "main.search"))...): {"gauge", "{goroutine}", 3},
		},
		"leaksentinel.leaking_sites":   {noAttrs: {"gauge", "{site}", 1}},
		"leaksentinel.captures":        {noAttrs: {"sum", "{capture}", 9}},
		"leaksentinel.sample.duration": {noAttrs: {"sum", "s", 0.03}},
		"leaksentinel.alerts.dropped":  {noAttrs: {"sum", "{alert}", 1}},
		"leaksentinel.heap.live":       {noAttrs: {"gauge", "By", 48 << 20}},
		"leaksentinel.stack":           {noAttrs: {"gauge", "By", 1 << 20}},
		"leaksentinel.heap.alerts":     {noAttrs: {"sum", "{alert}", 4}},
		"leaksentinel.turned_over":     {noAttrs: {"sum", "{site}", 2}},
		"leaksentinel.site.goroutines": {
			// The leak first, then the largest others; the small
			// cache site and main.slow are summed.
			siteAttrs(leaking): {"gauge", "{goroutine}", 3},
			siteAttrs(site(leaksentinel.StateSelect, "main.worker", 7)):         {"gauge", "{goroutine}", 40},
			siteAttrs(site(leaksentinel.StateIOWait, "main.(*conn).serve", 55)): {"gauge", "{goroutine}", 12},
			otherAttrs: {"gauge", "{goroutine}", 6},
		},
	}
	assert.Equal(t, want, got)
}

func TestTopSites(t *testing.T) {
	sites := func(top []leaksentinel.Group) []string {
		var out []string
		for _, g := range top {
			out = append(out, g.Function)
		}
		return out
	}
	tests := []struct {
		name      string
		give      int
		want      []string
		restCount int
		rest      int
	}{
		{name: "none of their own", give: 0, restCount: 61, rest: 5},
		{name: "the leak comes first", give: 1, want: []string{"main.search.func1"}, restCount: 58, rest: 4},
		{name: "then the largest", give: 2, want: []string{"main.search.func1", "main.worker"}, restCount: 18, rest: 3},
		{name: "all", give: 5, want: []string{"main.search.func1", "main.worker", "main.(*conn).serve", "main.(*cache).get", "main.slow"}},
		{name: "more than there are", give: 50, want: []string{"main.search.func1", "main.worker", "main.(*conn).serve", "main.(*cache).get", "main.slow"}},
	}
	src := newFakeSource()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, restCount, rest := topSites(src.snap, src.leaks, tt.give)
			assert.Equal(t, tt.want, sites(top))
			assert.Equal(t, tt.restCount, restCount)
			assert.Equal(t, tt.rest, rest)
		})
	}
}

// A negative TopSites leaves only "other"; a site listed twice in a
// snapshot yields one series; a leak no longer in the snapshot yields none.
func TestSiteSeries(t *testing.T) {
	src := newFakeSource()
	got := points(t, collect(t, src, Options{TopSites: -1}))["leaksentinel.site.goroutines"]
	assert.Equal(t, map[attribute.Distinct]point{otherAttrs: {"gauge", "{goroutine}", 61}}, got)

	twice := site(leaksentinel.StateSleep, "main.f", 1)
	gone := site(leaksentinel.StateSleep, "main.gone", 2)
	src = &fakeSource{
		snap:  &leaksentinel.Snapshot{Total: 3, Groups: []leaksentinel.Group{{Site: twice, Count: 2}, {Site: twice, Count: 1}}},
		leaks: []leaksentinel.Leak{{Site: gone, Count: 4}},
	}
	all := points(t, collect(t, src, Options{}))
	assert.Equal(t, map[attribute.Distinct]point{siteAttrs(twice): {"gauge", "{goroutine}", 3}}, all["leaksentinel.site.goroutines"])
	// The leak's own series, without a creator when none is known.
	assert.Equal(t, map[attribute.Distinct]point{siteAttrs(gone): {"gauge", "{goroutine}", 4}}, all["leaksentinel.leak.goroutines"])
}

// Before the first capture there is no goroutine gauge, no heap and no
// site; the counters are there, at zero.
func TestBeforeFirstCapture(t *testing.T) {
	got := points(t, collect(t, &fakeSource{}, Options{}))
	for _, name := range []string{"leaksentinel.goroutines", "leaksentinel.site.goroutines", "leaksentinel.heap.live", "leaksentinel.stack"} {
		assert.NotContains(t, got, name)
	}
	assert.Equal(t, point{"sum", "{site}", 0}, got["leaksentinel.leaks"][noAttrs])
	assert.Equal(t, point{"gauge", "{site}", 0}, got["leaksentinel.leaking_sites"][noAttrs])
}

// A file path that is not UTF-8 becomes a valid attribute: OTLP would fail
// the whole export on it.
func TestAttributesAlwaysValid(t *testing.T) {
	bad := leaksentinel.Site{State: leaksentinel.StateSleep, Function: "main.\xfef", File: "/src/\xff.go", Line: 1}
	src := &fakeSource{snap: &leaksentinel.Snapshot{Total: 1, Groups: []leaksentinel.Group{{Site: bad, Count: 1}}}}
	got := points(t, collect(t, src, Options{}))["leaksentinel.site.goroutines"]
	want := leaksentinel.Site{State: leaksentinel.StateSleep, Function: "main.\uFFFDf", File: "/src/\uFFFD.go", Line: 1}
	assert.Equal(t, map[attribute.Distinct]point{siteAttrs(want): {"gauge", "{goroutine}", 1}}, got)
}

// Unregister stops the reading: a sentinel dropped is not read again.
func TestUnregister(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	src := &countingSource{fakeSource: newFakeSource()}
	reg, err := register(src, mp, Options{})
	require.NoError(t, err)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Equal(t, 1, src.reads)
	require.NoError(t, reg.Unregister())
	require.NoError(t, reader.Collect(context.Background(), &rm))
	assert.Equal(t, 1, src.reads)
}

type countingSource struct {
	*fakeSource
	reads int
}

func (c *countingSource) Stats() leaksentinel.Stats {
	c.reads++
	return c.fakeSource.Stats()
}
