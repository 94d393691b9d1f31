package leaksentinel

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fake feeds a sentinel snapshots made from counts, one per tick.
type fake struct {
	mu     sync.Mutex
	counts map[Site]int
	ticks  chan time.Time
	now    time.Time
}

func newFake() *fake {
	return &fake{counts: make(map[Site]int), ticks: make(chan time.Time), now: time.Unix(1_700_000_000, 0)}
}

func (f *fake) set(site Site, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[site] = n
}

// Capture makes f a Source: its counts as a snapshot at its clock's time.
func (f *fake) Capture(context.Context) (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &Snapshot{Time: f.now}
	for site, n := range f.counts {
		if n == 0 {
			continue
		}
		s.Total += n
		frame := site.Frame()
		s.Groups = append(s.Groups, Group{Site: site, Count: n, Stacks: []Stack{{Frames: []Frame{frame}, Count: n}}})
	}
	slices.SortFunc(s.Groups, func(a, b Group) int {
		return cmp.Or(b.Count-a.Count, strings.Compare(a.Site.String(), b.Site.String()))
	})
	s.Memory.Stacks = uint64(s.Total) * fakeStackSize
	return s, nil
}

// fakeStackSize is the stack of each of a fake's goroutines.
const fakeStackSize = 8 << 10

// Profile gives f a goroutine profile, for ProfileDir: this process's.
func (f *fake) Profile(context.Context) ([]byte, error) {
	var b bytes.Buffer
	err := pprof.Lookup("goroutine").WriteTo(&b, 0)
	return b.Bytes(), err
}

func (f *fake) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// tick makes the sentinel take one sample and waits until it has.
func (f *fake) tick(t *testing.T, s *Sentinel) {
	t.Helper()
	f.mu.Lock()
	f.now = f.now.Add(10 * time.Second)
	now := f.now
	f.mu.Unlock()
	sampleOnce(s, f.ticks, now)
}

// sampleOnce sends a tick on ticks, the sentinel's tick source, and waits
// until s has taken the sample it asked for. It needs a sentinel whose
// every tick captures (a fake's capture, or MaxSkip -1) and never fails,
// so that Captures counts every sample. Start's first sample runs before
// the loop reads a tick; it is waited for first, or a count set just after
// this call could reach the sample this call asked for.
func sampleOnce(s *Sentinel, ticks chan<- time.Time, now time.Time) {
	for s.Stats().Captures < 1 {
		runtime.Gosched()
	}
	before := s.Stats().Captures
	ticks <- now
	for s.Stats().Captures <= before {
		runtime.Gosched()
	}
}

// options wires f into o. Tests on fakes use a 12-sample window unless
// they set one, to stay short.
func (f *fake) options(o Options) Options {
	if o.Window == 0 {
		o.Window = 12
	}
	o.Source = f
	o.ticks = f.ticks
	o.now = f.clock
	return o
}

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		out = append(out, m)
	}
	return out
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var (
	leakySite   = Site{State: StateChanSend, Function: "main.handle.func1", File: "/src/main.go", Line: 42}
	healthySite = Site{State: StateSelect, Function: "main.worker", File: "/src/main.go", Line: 7}
)

func TestStartRejectsNonsense(t *testing.T) {
	tests := []struct {
		name string
		give Options
		want string
	}{
		{name: "negative interval", give: Options{Interval: -time.Second}, want: "interval -1s is negative"},
		{name: "tiny interval", give: Options{Interval: time.Microsecond}, want: "under a millisecond"},
		{name: "short window", give: Options{Window: 3}, want: "window of 3 samples is under 6"},
		{name: "negative growth", give: Options{MinGrowth: -1}, want: "min growth -1 is negative"},
		{name: "two at once", give: Options{Window: 2, MaxSites: -1}, want: "max sites -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(tt.give)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), "leaksentinel: options: ")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSentinelAlerts(t *testing.T) {
	f := newFake()
	var logs logBuffer
	var got []Leak
	var mu sync.Mutex
	s, err := Start(f.options(Options{
		Logger: logs.logger(),
		OnLeak: func(l Leak) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, l)
		},
	}))
	require.NoError(t, err)
	defer s.Stop()

	f.tick(t, s) // the first sample is taken at Start; this waits for it
	for i := range 40 {
		f.set(healthySite, 10+i%3)
		f.set(leakySite, 2+i)
		f.tick(t, s)
	}
	s.Stop()
	s.Stop() // twice is fine

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, got)
	first := got[0]
	assert.Equal(t, leakySite, first.Site)
	assert.GreaterOrEqual(t, first.Growth, DefaultMinGrowth)
	assert.Positive(t, first.Rate)
	assert.False(t, first.Since.IsZero())
	for _, l := range got {
		assert.Equal(t, leakySite, l.Site, "only the leaking site is reported")
	}
	assert.Greater(t, len(got), 1, "reported again as it keeps growing")
	assert.Less(t, len(got), 6, "but backing off")

	var warns int
	for _, r := range logs.records(t) {
		if r["level"] == "WARN" && r["msg"] == "leaksentinel: goroutine leak" {
			warns++
			assert.Equal(t, "main.handle.func1 /src/main.go:42", r["site"])
			assert.Equal(t, "chan send", r["state"])
			for _, k := range []string{"count", "growth", "rate_per_minute", "window_samples", "sample", "since", "stack_bytes", "confirmed"} {
				assert.Contains(t, r, k)
			}
		}
	}
	assert.Equal(t, len(got), warns)
	assert.Equal(t, Stats{}.Dropped, s.Stats().Dropped)
}

func TestSentinelResolves(t *testing.T) {
	f := newFake()
	var logs logBuffer
	s, err := Start(f.options(Options{Logger: logs.logger()}))
	require.NoError(t, err)
	defer s.Stop()
	for i := range 20 {
		f.set(leakySite, 3+i)
		f.tick(t, s)
	}
	require.Len(t, s.Leaks(), 1)
	f.set(leakySite, 1)
	f.tick(t, s)
	assert.Empty(t, s.Leaks())
	found := false
	for _, r := range logs.records(t) {
		if r["msg"] == "leaksentinel: goroutine leak resolved" {
			found = true
			assert.Equal(t, "INFO", r["level"])
		}
	}
	assert.True(t, found)
}

func TestOnLeakPanicIsRecovered(t *testing.T) {
	f := newFake()
	var logs logBuffer
	var calls atomic.Int32
	s, err := Start(f.options(Options{Logger: logs.logger(), OnLeak: func(Leak) {
		calls.Add(1)
		panic("boom")
	}}))
	require.NoError(t, err)
	defer s.Stop()
	for i := range 60 {
		f.set(leakySite, 3+i*i)
		f.tick(t, s)
	}
	for calls.Load() < 2 {
		runtime.Gosched()
	}
	s.Stop()
	panics := 0
	for _, r := range logs.records(t) {
		if r["msg"] == "leaksentinel: OnLeak panicked" {
			panics++
			assert.Equal(t, "boom", r["panic"])
		}
	}
	assert.GreaterOrEqual(t, panics, 2, "the sentinel went on after the first panic")
}

// A callback that never returns does not stop sampling: alerts queue, then
// are dropped, counted and logged.
func TestBlockingOnLeak(t *testing.T) {
	f := newFake()
	var logs logBuffer
	release := make(chan struct{})
	s, err := Start(f.options(Options{Logger: logs.logger(), OnLeak: func(Leak) { <-release }}))
	require.NoError(t, err)
	sites := make([]Site, queueLen+20)
	for i := range sites {
		sites[i] = Site{State: StateChanReceive, Function: "main.leak", File: "/src/x.go", Line: i + 1}
	}
	for n := range 30 {
		for _, site := range sites {
			f.set(site, 2+n)
		}
		f.tick(t, s)
	}
	st := s.Stats()
	assert.Equal(t, 31, st.Ticks, "sampling went on")
	assert.Positive(t, st.Dropped)
	assert.Equal(t, len(sites), st.Leaks)
	dropLogs := 0
	for _, r := range logs.records(t) {
		if r["msg"] == "leaksentinel: OnLeak is not keeping up; alert dropped" {
			dropLogs++
		}
	}
	assert.Equal(t, st.Dropped, dropLogs)
	close(release)
	s.Stop()
}

func TestIgnoreFunctions(t *testing.T) {
	f := newFake()
	var logs logBuffer
	s, err := Start(f.options(Options{Logger: logs.logger(), IgnoreAnyFunction: []string{"main.handle.func1"}}))
	require.NoError(t, err)
	defer s.Stop()
	for i := range 40 {
		f.set(leakySite, 3+i)
		f.tick(t, s)
	}
	assert.Empty(t, s.Leaks())
	assert.Zero(t, s.Stats().Alerts)
}

// leakHere leaks goroutines in this process at a known line, until release
// is closed.
func leakHere(release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release // the leak line
	}()
}

// leakUntilAlert starts a sentinel with opts (its OnLeak is set here), calls
// ready with it if not nil, then calls leak every millisecond until the
// first alert, which it returns with the stopped sentinel. The goroutines
// leak started stay for the caller to release.
func leakUntilAlert(t *testing.T, opts Options, ready func(*Sentinel), leak func()) (Leak, *Sentinel) {
	t.Helper()
	alerts := make(chan Leak, 1)
	opts.OnLeak = func(l Leak) {
		select {
		case alerts <- l:
		default:
		}
	}
	s, err := Start(opts)
	require.NoError(t, err)
	defer s.Stop()
	if ready != nil {
		ready(s)
	}
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
				leak()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	select {
	case l := <-alerts:
		return l, s
	case <-time.After(20 * time.Second):
		t.Fatal("no alert")
		return Leak{}, s
	}
}

// TestLiveLeak runs the real thing: Capture, the dump that names creators,
// at a fast interval, on this process.
func TestLiveLeak(t *testing.T) {
	for _, procs := range []int{runtime.GOMAXPROCS(0), 1} {
		t.Run("GOMAXPROCS="+string(rune('0'+procs)), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			release := make(chan struct{})
			var wg sync.WaitGroup
			defer func() { close(release); wg.Wait() }()

			dir := t.TempDir()
			var logs logBuffer
			l, _ := leakUntilAlert(t, Options{
				Interval:    2 * time.Millisecond,
				Logger:      logs.logger(),
				ProfileDir:  dir,
				MaxProfiles: 2,
			}, nil, func() { leakHere(release, &wg) })
			assert.Equal(t, "github.com/leaksentinel/leaksentinel.leakHere.func1", l.Function)
			assert.Equal(t, StateChanReceive, l.State)
			assert.Equal(t, "github.com/leaksentinel/leaksentinel.leakHere", l.CreatedBy())
			assert.Positive(t, l.StackBytes)
			assert.NotEmpty(t, l.Stack.Frames)

			files, err := filepath.Glob(filepath.Join(dir, profileOwner()+"*"))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			for _, file := range files {
				fi, err := os.Stat(file)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), file)
			}
			stamps := make(map[string]bool)
			for _, file := range files {
				stamps[strings.TrimPrefix(filepath.Base(file), profileOwner())[:len(stampFormat)]] = true
			}
			assert.LessOrEqual(t, len(stamps), 2, "MaxProfiles captures kept")
		})
	}
}

// Two sentinels in one process work independently.
func TestTwoSentinels(t *testing.T) {
	f1, f2 := newFake(), newFake()
	s1, err := Start(f1.options(Options{Logger: slog.New(slog.DiscardHandler)}))
	require.NoError(t, err)
	defer s1.Stop()
	s2, err := Start(f2.options(Options{Logger: slog.New(slog.DiscardHandler)}))
	require.NoError(t, err)
	defer s2.Stop()
	for i := range 20 {
		f1.set(leakySite, 3+i)
		f2.set(healthySite, 5)
		f1.tick(t, s1)
		f2.tick(t, s2)
	}
	assert.Len(t, s1.Leaks(), 1)
	assert.Empty(t, s2.Leaks())
}

func TestStatsAndHistory(t *testing.T) {
	f := newFake()
	s, err := Start(f.options(Options{Logger: slog.New(slog.DiscardHandler)}))
	require.NoError(t, err)
	defer s.Stop()
	for i := range 5 {
		f.set(leakySite, 1+i)
		f.tick(t, s)
	}
	st := s.Stats()
	var n uint64
	for _, c := range st.Durations.Counts {
		n += c
	}
	assert.Equal(t, uint64(st.Captures), n)
	assert.Len(t, st.Durations.Counts, len(st.Durations.Bounds)+1)
	h := s.siteHistory(leakySite)
	require.NotEmpty(t, h)
	assert.Equal(t, []int{1, 2, 3, 4, 5}, h[len(h)-5:])
}

// A hundred thousand distinct sites, new ones every sample: what the
// sentinel keeps stays within MaxSites.
func TestManySitesBounded(t *testing.T) {
	f := newFake()
	s, err := Start(f.options(Options{Logger: slog.New(slog.DiscardHandler), MaxSites: 500}))
	require.NoError(t, err)
	defer s.Stop()
	const sites = 100_000
	for n := range 4 {
		f.mu.Lock()
		clear(f.counts)
		for i := range sites {
			f.counts[Site{State: StateChanReceive, Function: "main.f", File: "x.go", Line: n*sites + i}] = 1 + i%7
		}
		f.mu.Unlock()
		f.tick(t, s)
	}
	s.Stop()
	assert.LessOrEqual(t, s.det.Len(), 500)
	assert.LessOrEqual(t, len(s.hist.sites), 500)
}

//go:noinline
func sharedWorker(ch <-chan struct{}) { <-ch }

func startPoolHere(n int, ch <-chan struct{}, wg *sync.WaitGroup) {
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); sharedWorker(ch) }()
	}
}

func leakSharedHere(ch <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() { defer wg.Done(); sharedWorker(ch) }()
}

// A leak that parks at the same line as an older healthy pool is named by
// the leak's creator: the goroutines that arrived over the window.
func TestSharedSiteCreator(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	startPoolHere(40, release, &wg)

	l, _ := leakUntilAlert(t, Options{
		Interval: 2 * time.Millisecond,
		Window:   12,
		Logger:   slog.New(slog.DiscardHandler),
	}, nil, func() { leakSharedHere(release, &wg) })
	assert.Equal(t, "github.com/leaksentinel/leaksentinel.sharedWorker", l.Function)
	require.NotEmpty(t, l.Creators)
	assert.Equal(t, "github.com/leaksentinel/leaksentinel.leakSharedHere", l.CreatedBy(), "creators: %v", l.Creators)
}

// Stop returns within StopTimeout behind an OnLeak that blocks, and the
// delivery goroutine exits as soon as the call returns: nothing of the
// sentinel's is left (goleak checks the rest of the package's tests).
func TestStopWithBlockedOnLeak(t *testing.T) {
	f := newFake()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s, err := Start(f.options(Options{Logger: slog.New(slog.DiscardHandler), OnLeak: func(Leak) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}}))
	require.NoError(t, err)
	for i := range 30 {
		f.set(leakySite, 3+i)
		f.tick(t, s)
	}
	<-entered
	stopped := make(chan struct{})
	go func() {
		s.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(StopTimeout + 5*time.Second):
		t.Fatal("Stop did not return behind a blocked OnLeak")
	}
	select {
	case <-s.sent:
		t.Fatal("the delivery goroutine cannot have exited: OnLeak is still running")
	default:
	}
	close(release)
	<-s.sent // it exits once the call returns
}

// The sentinel's own goroutines (its sampler, its delivery, the goroutine
// clock's) are never a site: not in Snapshot, the view or Leaks.
func TestOwnGoroutinesHidden(t *testing.T) {
	ticks := make(chan time.Time)
	s, err := Start(Options{Logger: slog.New(slog.DiscardHandler), MaxSkip: -1, OnLeak: func(Leak) {}, ticks: ticks})
	require.NoError(t, err)
	defer s.Stop()
	sampleOnce(s, ticks, time.Now())
	snap := s.Snapshot()
	require.NotNil(t, snap)
	for _, g := range snap.Groups {
		for _, st := range g.Stacks {
			for _, fr := range st.Frames {
				assert.False(t, ownFunctions[fr.Function], "site %s shows the sentinel's own %s", g.Site, fr.Function)
			}
		}
		assert.NotContains(t, g.Function, "internal/capture", "the sampler's capture is not a site")
	}
	full, err := Capture()
	require.NoError(t, err)
	assert.Less(t, snap.Total, full.Total, "Capture itself shows every goroutine")
}

// An alert's attributes carry their units in their names, as the JSON view
// does: seconds and bytes as numbers, labels as a group.
func TestLeakLogAttributes(t *testing.T) {
	l := Leak{
		Site: leakySite, Count: 40, Growth: 30, Rate: 12.345, Window: 24, Sample: 30,
		Since: time.Unix(1_700_000_000, 0), OldestWait: 3 * time.Minute, StackBytes: 8192, HeapGrowth: 1 << 20,
		Creators: []Creator{{Frame: Frame{Function: "main.handle", File: "/src/main.go", Line: 41}, Count: 40}},
		Labels:   map[string][]string{"handler": {"/search"}, "tenant": {"a", "b"}},
	}
	var logs logBuffer
	logs.logger().Warn("leak", "leak", l)
	recs := logs.records(t)
	require.Len(t, recs, 1)
	got := recs[0]["leak"].(map[string]any)
	assert.Equal(t, 180.0, got["oldest_wait_seconds"])
	assert.Equal(t, 12.35, got["rate_per_minute"])
	assert.Equal(t, 8192.0, got["stack_bytes"])
	assert.Equal(t, float64(1<<20), got["heap_growth_bytes"])
	assert.Equal(t, 24.0, got["window_samples"])
	assert.Equal(t, "main.handle /src/main.go:41", got["created_by"])
	assert.Equal(t, map[string]any{"handler": "/search", "tenant": "a,b"}, got["labels"])
	for k := range got {
		assert.NotContains(t, []string{"rate", "oldest_wait", "heap_growth", "label.handler"}, k, "a unitless or dotted key")
	}

	h := HeapGrowth{HeapLive: 64 << 20, Growth: 32 << 20, Rate: 1000}
	logs = logBuffer{}
	logs.logger().Warn("heap", "heap", h)
	hg := logs.records(t)[0]["heap"].(map[string]any)
	assert.Equal(t, float64(64<<20), hg["heap_live_bytes"])
	assert.Equal(t, float64(32<<20), hg["growth_bytes"])
	assert.Equal(t, 1000.0, hg["rate_bytes_per_minute"])
}

// What the sentinel keeps of a sample is bounded by MaxSites whatever the
// number of distinct sites: the snapshot its views read holds the largest
// MaxSites groups (and the leaking ones), the rest counted as omitted.
func TestManySitesKeptSnapshotBounded(t *testing.T) {
	f := newFake()
	s, err := Start(f.options(Options{Logger: slog.New(slog.DiscardHandler), MaxSites: 100}))
	require.NoError(t, err)
	defer s.Stop()
	f.mu.Lock()
	for i := range 20_000 {
		f.counts[Site{State: StateChanReceive, Function: "main.f", File: "x.go", Line: i}] = 1 + i%7
	}
	f.mu.Unlock()
	f.tick(t, s)
	snap := s.Snapshot()
	assert.Len(t, snap.Groups, 100)
	assert.Equal(t, 20_000-100, snap.omitted)
	assert.Equal(t, 7, snap.Groups[0].Count, "the largest are kept")
	assert.LessOrEqual(t, len(s.hist.sites), 100)
	var v view
	w := request(t, s.Handler(), http.MethodGet, "/?format=json")
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
	assert.Equal(t, 20_000-len(v.Sites), v.Omitted)
}

// BenchmarkManySitesRetained reports the heap a sentinel retains after a
// sample of 100,000 distinct sites, at MaxSites 100 and the default.
func BenchmarkManySitesRetained(b *testing.B) {
	for _, maxSites := range []int{100, DefaultMaxSites} {
		b.Run(fmt.Sprintf("maxsites=%d", maxSites), func(b *testing.B) {
			f := newFake()
			for i := range 100_000 {
				f.counts[Site{State: StateChanReceive, Function: "main.f", File: "x.go", Line: i}] = 1 + i%7
			}
			var retained uint64
			for b.Loop() {
				s := newSentinel(f.options(Options{Logger: slog.New(slog.DiscardHandler), MaxSites: maxSites}).withDefaults())
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for range 3 {
					s.sample()
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				retained = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
				runtime.KeepAlive(s)
			}
			b.ReportMetric(float64(retained)/(1<<20), "retained-MiB")
		})
	}
}
