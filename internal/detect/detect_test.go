package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var cfg = Config{Window: 12, Levels: 4, MinGrowth: 3, MinRise: 0.25, MinTau: 0.75, MaxSites: 100}

// run feeds one site's counts and returns the events by sample (from 1).
func run(counts []int) map[int]Event[string] {
	d := New[string](cfg)
	out := make(map[int]Event[string])
	for i, c := range counts {
		for _, ev := range d.Observe(map[string]int{"site": c}) {
			out[i+1] = ev
		}
	}
	return out
}

func firstLeak(events map[int]Event[string]) int {
	first := 0
	for n, ev := range events {
		if ev.Kind == Leak && (first == 0 || n < first) {
			first = n
		}
	}
	return first
}

func series(n int, f func(t int) int) []int {
	out := make([]int, n)
	for t := range out {
		out[t] = f(t)
	}
	return out
}

func TestVerdicts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		give []int
		leak bool
		by   int // the leak must be found by this sample
	}{
		{name: "steady leak", give: series(100, func(t int) int { return 1 + t }), leak: true, by: 12},
		{name: "leak after warm-up", give: series(100, func(t int) int { return 5 + max(0, t-20) }), leak: true, by: 20 + 24},
		{name: "slow leak, one every 4 samples", give: series(200, func(t int) int { return 2 + t/4 }), leak: true, by: 48},
		{name: "leak among noisy healthy workers", give: series(200, func(t int) int { return t/2 + rng.IntN(10) }), leak: true, by: 48},
		{name: "flat", give: series(200, func(int) int { return 40 })},
		{name: "step up", give: series(200, func(t int) int { return 5 + 30*min(1, t/50) })},
		{name: "ramp then plateau", give: series(200, func(t int) int { return 5 + 3*min(t, 5) })},
		{name: "sawtooth", give: series(200, func(t int) int { return 5 * (t % 10) })},
		{name: "bursts that drain", give: series(200, func(t int) int { return map[bool]int{true: 60, false: 2}[t%17 < 3] })},
		{name: "noise", give: series(400, func(int) int { return 20 + rng.IntN(15) })},
		{name: "two steps, far apart", give: series(300, func(t int) int { return 10 + 10*min(t/100, 2) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firstLeak(run(tt.give))
			if tt.leak {
				require.NotZero(t, got, "no leak found")
				assert.LessOrEqual(t, got, tt.by)
			} else {
				assert.Zero(t, got, "false alarm at sample %d", got)
			}
		})
	}
}

func TestGrewAndResolved(t *testing.T) {
	counts := series(60, func(t int) int { return 2 * t })
	counts = append(counts, 0, 0)
	events := run(counts)
	var kinds []Kind
	for n := 1; n <= len(counts); n++ {
		if ev, ok := events[n]; ok {
			kinds = append(kinds, ev.Kind)
			if ev.Kind == Grew {
				assert.GreaterOrEqual(t, ev.Growth, 2*events[firstLeak(events)].Count-ev.Floor-2)
			}
		}
	}
	require.NotEmpty(t, kinds)
	assert.Equal(t, Leak, kinds[0])
	assert.Contains(t, kinds, Grew)
	assert.Equal(t, Resolved, kinds[len(kinds)-1])
}

func TestEvent(t *testing.T) {
	events := run(series(30, func(t int) int { return 7 + t }))
	n := firstLeak(events)
	ev := events[n]
	assert.Equal(t, 12, n)
	assert.Equal(t, 1, ev.Start, "window starts at the first sample")
	assert.Equal(t, 12, ev.Span)
	assert.Equal(t, 7, ev.Floor)
	assert.Equal(t, 18, ev.Count)
	assert.Equal(t, 8, ev.Growth, "floor of the last third minus floor of the first")
}

func TestMaxSites(t *testing.T) {
	c := cfg
	c.MaxSites = 10
	d := New[int](c)
	for n := 0; n < 50; n++ {
		counts := make(map[int]int)
		for k := range 100 {
			counts[k] = k + 1
		}
		d.Observe(counts)
		assert.LessOrEqual(t, d.Len(), 10)
	}
	assert.True(t, d.Tracked(99), "the largest sites are kept")
}

func TestQuietSitesForgotten(t *testing.T) {
	d := New[string](cfg)
	d.Observe(map[string]int{"a": 3})
	for range cfg.Window << (cfg.Levels - 1) {
		d.Observe(nil)
	}
	assert.Equal(t, 1, d.Len())
	d.Observe(nil)
	assert.Zero(t, d.Len())
}

func BenchmarkObserve(b *testing.B) {
	d := New[int](Config{Window: 12, Levels: 4, MinGrowth: 3, MinRise: 0.25, MinTau: 0.75, MaxSites: 1000})
	counts := make(map[int]int)
	for k := range 1000 {
		counts[k] = k%50 + 1
	}
	b.ReportAllocs()
	for b.Loop() {
		d.Observe(counts)
	}
}

// Restart clears a verdict and the history behind it: the site needs a
// full window of new samples before it is reported again.
func TestRestart(t *testing.T) {
	d := New[string](cfg)
	leakAt := 0
	for i := 1; i <= 100 && leakAt == 0; i++ {
		for _, ev := range d.Observe(map[string]int{"site": i, "other": 5}) {
			if ev.Kind == Leak {
				leakAt = i
			}
		}
	}
	require.Equal(t, cfg.Window, leakAt)
	d.Restart("site")
	d.Restart("absent") // no-op
	assert.True(t, d.Tracked("site"))
	again := 0
	for i := leakAt + 1; i <= leakAt+100 && again == 0; i++ {
		for _, ev := range d.Observe(map[string]int{"site": i, "other": 5}) {
			require.NotEqual(t, Resolved, ev.Kind, "a restarted site has no verdict to resolve")
			if ev.Kind == Leak {
				again = i
			}
		}
	}
	assert.Equal(t, leakAt+cfg.Window, again, "a full window after the restart")
}
