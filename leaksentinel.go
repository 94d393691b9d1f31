package leaksentinel

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/detect"
)

const (
	// queueLen bounds the alerts waiting for OnLeak.
	queueLen = 64
	// confirmGuard is the largest number of goroutines on one sync
	// primitive's site for which the goroutineleak profile is asked: its
	// stop of the world grows with the square of that number (833
	// waiters: 6 ms; 8,300: 1.6-1.9 s on Go 1.27.3).
	confirmGuard = 1000
)

// Sentinel watches the goroutines of the process it runs in and reports
// sites whose count keeps rising. Create one with [Start]. Its methods are
// safe for concurrent use.
//
// Two sentinels in one process work independently: each samples on its own
// ticker and keeps its own history.
type Sentinel struct {
	opts  Options
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	queue chan alert
	sent  chan struct{} // closed when the OnLeak goroutine exits

	// Owned by the sampling goroutine.
	det       *detect.Detector[Site]
	marks     []mark        // what each sample left, a ring over the detector's horizon
	heap      *heapWatch    // nil unless WatchHeap
	skipped   int           // consecutive samples skipped
	waiting   int64         // waiting goroutines at the last full capture
	lowest    int64         // fewest waiting goroutines seen on a tick since then
	stacks    []stackCounts // per-stack counts of the last captures, oldest first
	lastProbe int           // sample of the last goroutineleak profile
	metrics   []metrics.Sample
	ignored   map[Site]bool // sites dropped for their creators
	dumpSize  int

	mu    sync.Mutex
	last  *Snapshot
	leaks map[Site]Leak
	stats Stats
	hist  *history
}

// Stats counts what a sentinel did.
type Stats struct {
	Ticks         int           // ticks, those that skipped the capture included
	Captures      int           // full captures taken: the detector's samples
	Leaks         int           // leaks reported (new sites, not repeats)
	Alerts        int           // alerts logged, repeats included
	Dropped       int           // alerts OnLeak never got because its queue was full
	HeapAlerts    int           // memory alerts (WatchHeap)
	TurnedOver    int           // rises not reported: none of the site's goroutines stayed
	LastDuration  time.Duration // the last full sample's work
	TotalDuration time.Duration // all full samples' work
	// Durations is the distribution of full samples' work.
	Durations Histogram
}

// Histogram is a distribution of durations.
type Histogram struct {
	// Bounds are the buckets' upper bounds, ascending.
	Bounds []time.Duration
	// Counts has one more element than Bounds: Counts[i] counts values
	// above Bounds[i-1] and at most Bounds[i]; the last counts values
	// above every bound.
	Counts []uint64
	Sum    time.Duration
}

// sampleBounds are the buckets of Stats.Durations: a capture costs 3-4 µs
// per goroutine, so they span a few goroutines to a few million.
var sampleBounds = []time.Duration{
	100 * time.Microsecond, 300 * time.Microsecond,
	time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond,
	100 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second, 10 * time.Second,
}

func (h *Histogram) observe(d time.Duration) {
	if h.Counts == nil {
		h.Bounds = sampleBounds
		h.Counts = make([]uint64, len(sampleBounds)+1)
	}
	i, _ := slices.BinarySearch(h.Bounds, d)
	h.Counts[i]++
	h.Sum += d
}

func (h Histogram) clone() Histogram {
	h.Bounds = slices.Clone(h.Bounds)
	h.Counts = slices.Clone(h.Counts)
	return h
}

// Start starts a sentinel with opts and returns it, or an error if opts
// holds nonsense values. The first sample is taken at once; then one every
// opts.Interval, in a goroutine of the sentinel's, until [Sentinel.Stop].
func Start(opts Options) (*Sentinel, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := newSentinel(opts.withDefaults())
	if s.opts.OnLeak != nil || s.opts.OnHeapGrowth != nil {
		s.queue = make(chan alert, queueLen)
		s.sent = make(chan struct{})
		go s.deliver()
	}
	go s.run()
	return s, nil
}

// newSentinel returns a sentinel that has not started sampling.
func newSentinel(o Options) *Sentinel {
	o.IgnoreFunctions = slices.Clone(o.IgnoreFunctions)
	o.IgnoreCreators = slices.Clone(o.IgnoreCreators)
	s := &Sentinel{
		opts:      o,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		det:       detect.New[Site](detect.Standard(o.Window, o.MinGrowth, o.MaxSites)),
		marks:     make([]mark, detect.Standard(o.Window, 0, 0).Horizon()+1),
		lastProbe: -o.Window,
		ignored:   make(map[Site]bool),
		leaks:     make(map[Site]Leak),
		hist:      newHistory(detect.Standard(o.Window, 0, 0).Horizon(), o.MaxSites),
		metrics: []metrics.Sample{
			{Name: "/sched/goroutines:goroutines"},
			{Name: "/memory/classes/heap/stacks:bytes"},
			{Name: "/sched/goroutines/waiting:goroutines"},
		},
	}
	if o.WatchHeap || o.OnHeapGrowth != nil {
		s.heap = newHeapWatch(o.HeapWindow)
	}
	return s
}

// Stop stops the sentinel and returns when its goroutines have exited,
// after an OnLeak call in progress returns; alerts still queued are not
// delivered. Stop is safe to call more than once.
func (s *Sentinel) Stop() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	if s.sent != nil {
		<-s.sent
	}
}

// Snapshot returns the last full capture, or nil before the first.
func (s *Sentinel) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Leaks returns the sites leaking now, largest first, each as last
// reported with its count updated to the last capture.
func (s *Sentinel) Leaks() []Leak {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Leak, 0, len(s.leaks))
	for _, l := range s.leaks {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Leak) int { return b.Count - a.Count })
	return out
}

// Stats returns what the sentinel did so far.
func (s *Sentinel) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Durations = st.Durations.clone()
	return st
}

// siteHistory returns site's counts over the samples the sentinel keeps,
// oldest first.
func (s *Sentinel) siteHistory(site Site) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hist.counts(site)
}

func (s *Sentinel) run() {
	defer func() {
		if s.queue != nil {
			close(s.queue)
		}
		close(s.done)
	}()
	ticks := s.opts.ticks
	if ticks == nil {
		t := time.NewTicker(s.opts.Interval)
		defer t.Stop()
		ticks = t.C
	}
	s.safeSample()
	for {
		select {
		case <-s.stop:
			return
		case <-ticks:
			s.safeSample()
		}
	}
}

// safeSample takes a sample; a panic in it is logged, never propagated:
// the sentinel must not take the service down.
func (s *Sentinel) safeSample() {
	defer func() {
		if r := recover(); r != nil {
			s.opts.Logger.Error("leaksentinel: sample failed", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.sample()
}

func (s *Sentinel) sample() {
	s.mu.Lock()
	s.stats.Ticks++
	s.mu.Unlock()
	now := s.opts.now()
	s.heapTick(now)
	metrics.Read(s.metrics)
	waiting := int64(s.metrics[2].Value.Uint64())
	start := time.Now()

	// A skipped tick is not a sample: the detector sees real captures
	// only. (Feeding it the last capture's counts again made a window of
	// 24 ticks hold 4 independent values, and 4 values in rising order by
	// chance look like a leak: one in 24.)
	if s.skip(waiting) {
		return
	}
	snap, err := s.capture()
	if err != nil {
		s.opts.Logger.Error("leaksentinel: capture failed", "err", err)
		return
	}
	s.waiting = waiting
	var clock int64 // every goroutine of snap has an id below it
	if s.opts.capture == nil {
		clock = goidClock()
	}
	if s.opts.ProfileDir != "" && s.det.Samples() == 0 {
		s.writeProfiles(now, "baseline", nil)
	}
	counts := make(map[Site]int, len(snap.Groups))
	for i := range snap.Groups {
		g := &snap.Groups[i]
		if !s.ignoredGroup(g) {
			counts[g.Site] += g.Count
		}
	}
	events := s.det.Observe(counts)
	s.marks[s.det.Samples()%len(s.marks)] = mark{time: now, heapLive: snap.Memory.HeapLive, goid: clock}
	s.keepStacks(snap, counts)

	var alerts []Leak
	var ex *explanation
	for _, ev := range events {
		switch ev.Kind {
		case detect.Leak, detect.Grew:
			if ex == nil {
				ex = s.explain(snap, events)
			}
			if ev.Kind == detect.Leak && s.turnedOver(ev, ex.bornAt(ev.Key, snap.precision)) {
				s.det.Restart(ev.Key)
				s.mu.Lock()
				s.stats.TurnedOver++
				s.mu.Unlock()
				s.opts.Logger.Debug("leaksentinel: site rose, but none of its goroutines stayed: load, not a leak",
					"site", ev.Key.String(), "count", ev.Count, "growth", ev.Growth)
				continue
			}
			if l, ok := s.leak(snap, ev, now, ex); ok {
				alerts = append(alerts, l)
			}
		case detect.Resolved:
			s.resolve(ev)
		}
	}
	took := time.Since(start)

	s.mu.Lock()
	s.last = snap
	for site, l := range s.leaks {
		l.Count = counts[site]
		s.leaks[site] = l
	}
	s.stats.Captures++
	s.stats.LastDuration = took
	s.stats.TotalDuration += took
	s.stats.Durations.observe(took)
	s.hist.add(counts)
	s.mu.Unlock()

	var files []string
	if len(alerts) > 0 && s.opts.ProfileDir != "" {
		files = s.writeProfiles(now, "alert", ex)
	}
	for _, l := range alerts {
		l.Files = slices.Clone(files)
		s.alertLeak(l)
	}
}

// skip reports whether this tick can skip the capture: the floor of
// waiting goroutines (the fewer of this tick's and the last one's) has not
// risen by 1% (and at least one) since the last capture, and the safety net
// is not due. A leak raises that floor; churn moves the count but one tick's
// spike does not move the floor of two, and a fall is learnt at the next
// capture.
func (s *Sentinel) skip(waiting int64) bool {
	prev := s.lowest
	s.lowest = waiting // the last tick's count, for the next one
	if s.opts.capture != nil || s.opts.MaxSkip < 0 || s.det.Samples() == 0 || s.skipped >= s.opts.MaxSkip {
		s.skipped = 0
		return false
	}
	if min(prev, waiting)-s.waiting >= max(1, s.waiting/100) {
		s.skipped = 0
		return false
	}
	s.skipped++
	return true
}

func (s *Sentinel) capture() (*Snapshot, error) {
	if s.opts.capture != nil {
		return s.opts.capture()
	}
	return Capture()
}

// ignoredGroup reports whether g matches IgnoreFunctions or was dropped
// for its creators.
func (s *Sentinel) ignoredGroup(g *Group) bool {
	if s.ignored[g.Site] {
		return true
	}
	if len(s.opts.IgnoreFunctions) == 0 {
		return false
	}
	if slices.Contains(s.opts.IgnoreFunctions, g.Function) {
		return true
	}
	for _, st := range g.Stacks {
		for _, f := range st.Frames {
			if slices.Contains(s.opts.IgnoreFunctions, f.Function) {
				return true
			}
		}
	}
	return false
}

// explanation is what the costlier captures taken for an alert found.
type explanation struct {
	dump    *Snapshot       // from runtime.Stack, with creators and wait times
	text    []byte          // the dump's text, for ProfileDir
	profile *Snapshot       // from the goroutine profile, with labels
	pb      []byte          // the profile, for ProfileDir
	leak    *Snapshot       // from the goroutineleak profile, if asked
	note    string          // why the goroutineleak profile was not asked
	births  map[Site][]born // the dump's goroutine ids and creators, by site, read with dump
}

// bornAt returns the goroutines of site in the dump, comparing states at
// the capture's precision p; nil without a dump.
func (ex *explanation) bornAt(site Site, p classify.Precision) []born {
	site.State = site.State.coarsen(p)
	return ex.births[site]
}

// explain takes, once per sample with alerts, the captures that say more
// than Capture: a runtime.Stack dump (creators, wait times) when the
// goroutine count is under DumpLimit, the goroutine profile (labels), and,
// where the runtime has it, the goroutineleak profile.
func (s *Sentinel) explain(snap *Snapshot, events []detect.Event[Site]) *explanation {
	ex := &explanation{}
	if s.opts.DumpLimit >= 0 && snap.Total <= s.opts.DumpLimit && s.opts.capture == nil {
		ex.text = s.stackDump(snap.Total)
		b := newBirths(snap.precision)
		if d, err := parseDump(bytes.NewReader(ex.text), b.add); d != nil {
			ex.dump, ex.births = d, b.at
		} else {
			s.opts.Logger.Error("leaksentinel: reading own dump", "err", err)
		}
	}
	if s.opts.capture == nil {
		var b bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&b, 0); err == nil {
			ex.pb = b.Bytes()
			ex.profile, _ = ParseProfile(bytes.NewReader(ex.pb))
		}
	}
	ex.leak, ex.note = s.probe(snap, events)
	return ex
}

// stackDump returns runtime.Stack(all) text, sized from the last one so
// that it rarely needs a second stop of the world.
func (s *Sentinel) stackDump(goroutines int) []byte {
	size := max(s.dumpSize, goroutines*2048, 64<<10)
	for {
		buf := make([]byte, size)
		n := runtime.Stack(buf, true)
		if n < len(buf) || size >= 256<<20 {
			s.dumpSize = n + n/4
			return buf[:n]
		}
		size *= 2
	}
}

// probe asks the runtime's goroutineleak profile which goroutines can never
// wake, when it exists, is allowed, and is not too costly now.
func (s *Sentinel) probe(snap *Snapshot, events []detect.Event[Site]) (*Snapshot, string) {
	if s.opts.NoConfirm {
		return nil, "confirmation turned off"
	}
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return nil, "goroutineleak profile unavailable (Go 1.27, or Go 1.26 with GOEXPERIMENT=goroutineleakprofile)"
	}
	if s.opts.capture != nil {
		return nil, "not this process"
	}
	if s.det.Samples()-s.lastProbe < s.opts.Window {
		return nil, "asked less than a window ago"
	}
	for _, g := range snap.Groups {
		if isSync(g.State) && g.Count > confirmGuard {
			return nil, fmt.Sprintf("skipped: %d goroutines wait on one sync primitive at %s", g.Count, g.Site)
		}
	}
	s.lastProbe = s.det.Samples()
	// WriteTo runs the leak-detection cycle; Count() only reports the
	// last one, so the profile is written first.
	var b bytes.Buffer
	if err := p.WriteTo(&b, 0); err != nil {
		return nil, "goroutineleak profile failed: " + err.Error()
	}
	leak, err := ParseProfile(&b)
	if err != nil {
		return nil, "goroutineleak profile unreadable: " + err.Error()
	}
	return leak, ""
}

func isSync(s State) bool {
	switch s {
	case StateMutexLock, StateRWMutexLock, StateRWMutexRLock, StateWaitGroupWait, StateSemacquire:
		return true
	}
	return false
}

// match returns the group of s at site, comparing states as the coarser
// of the two sources reports them.
func match(s *Snapshot, site Site, p classify.Precision) *Group {
	if s == nil {
		return nil
	}
	p = max(p, s.precision)
	want := site.State.coarsen(p)
	for i := range s.Groups {
		g := &s.Groups[i]
		if g.Function == site.Function && g.Line == site.Line && g.File == site.File && g.State.coarsen(p) == want {
			return g
		}
	}
	return nil
}

// leak builds the alert for ev, or reports false when the leak must be
// dropped for its creators.
func (s *Sentinel) leak(snap *Snapshot, ev detect.Event[Site], now time.Time, ex *explanation) (Leak, bool) {
	l := Leak{Site: ev.Key, Count: ev.Count, Growth: ev.Growth}
	start, _ := s.markAt(ev.Start)
	l.Since = start.time
	if d := now.Sub(l.Since); d > 0 && !l.Since.IsZero() {
		l.Rate = float64(ev.Growth) / d.Minutes()
	}
	// Where the site's stacks differ (a leak sharing its line with a
	// healthy pool), the stacks that grew over the window name the leak.
	growth := s.stackGrowth(snap, ev.Key, ev.Start)
	if g := match(snap, ev.Key, classify.Text); g != nil {
		_, l.Stack = byGrowth(g, growth)
	}
	if g := match(ex.dump, ev.Key, snap.precision); g != nil {
		l.Creators, l.Stack = byGrowth(g, growth)
		// Stacks cannot tell goroutines apart when a pool and a leak
		// run the same function; creation order can: the goroutines
		// that arrived over the window are the newest.
		if newest := newestCreators(ex.bornAt(ev.Key, snap.precision), ev.Growth); len(newest) > 0 {
			l.Creators = leadWith(l.Creators, newest)
		}
		l.OldestWait = g.OldestWait
		l.Labels = g.Labels
		if s.createdByIgnored(g.Creators) {
			s.ignored[ev.Key] = true
			return Leak{}, false
		}
	}
	if g := match(ex.profile, ev.Key, snap.precision); g != nil && g.Labels != nil {
		l.Labels = g.Labels
	}
	switch {
	case ex.note != "":
		l.ConfirmNote = ex.note
	case ex.leak != nil:
		l.Confirmed = match(ex.leak, ev.Key, snap.precision) != nil
	}
	if snap.Memory.HeapLive > 0 && start.heapLive > 0 {
		l.HeapGrowth = int64(snap.Memory.HeapLive) - int64(start.heapLive)
	}
	if total := s.metrics[0].Value.Uint64(); total > 0 {
		stacks := s.metrics[1].Value.Uint64()
		l.StackBytes = int64(stacks / total * uint64(l.Count))
	}
	s.mu.Lock()
	if _, open := s.leaks[ev.Key]; !open {
		s.stats.Leaks++
	}
	s.leaks[ev.Key] = l
	s.mu.Unlock()
	return l, true
}

func (s *Sentinel) createdByIgnored(creators []Creator) bool {
	if len(s.opts.IgnoreCreators) == 0 || len(creators) == 0 {
		return false
	}
	for _, c := range creators {
		if !slices.Contains(s.opts.IgnoreCreators, c.Function) {
			return false
		}
	}
	return true
}

// mark is what the sentinel keeps of each sample for the alerts whose
// window it starts: when it was taken, the live heap then, and the
// goroutine clock (turnover.go; zero when not read).
type mark struct {
	time     time.Time
	heapLive uint64
	goid     int64
}

// markAt returns the mark of sample i, if still remembered.
func (s *Sentinel) markAt(i int) (mark, bool) {
	if i < 1 || s.det.Samples()-i >= len(s.marks) {
		return mark{}, false
	}
	return s.marks[i%len(s.marks)], true
}

func (s *Sentinel) resolve(ev detect.Event[Site]) {
	s.mu.Lock()
	_, open := s.leaks[ev.Key]
	delete(s.leaks, ev.Key)
	s.mu.Unlock()
	if open {
		s.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, "leaksentinel: goroutine leak resolved",
			slog.String("site", fmt.Sprintf("%s %s:%d", ev.Key.Function, ev.Key.File, ev.Key.Line)),
			slog.String("state", string(ev.Key.State)),
			slog.Int("count", ev.Count))
	}
}

// alert is what the OnLeak goroutine delivers: a leak or a memory alert.
type alert struct {
	leak *Leak
	heap *HeapGrowth
}

// alertLeak logs l and queues it for OnLeak.
func (s *Sentinel) alertLeak(l Leak) {
	s.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn, "leaksentinel: goroutine leak", l.LogValue().Group()...)
	s.mu.Lock()
	s.stats.Alerts++
	s.mu.Unlock()
	if s.opts.OnLeak != nil {
		s.enqueue(alert{leak: &l})
	}
}

// enqueue hands a to the OnLeak goroutine, or drops it, counted and logged,
// when the queue is full: a callback that blocks must not stop sampling.
func (s *Sentinel) enqueue(a alert) {
	if s.queue == nil {
		return
	}
	select {
	case s.queue <- a:
	default:
		s.mu.Lock()
		s.stats.Dropped++
		dropped := s.stats.Dropped
		s.mu.Unlock()
		what := "memory alert"
		if a.leak != nil {
			what = a.leak.Site.String()
		}
		s.opts.Logger.Warn("leaksentinel: OnLeak is not keeping up; alert dropped", "site", what, "dropped", dropped)
	}
}

// deliver calls OnLeak (and OnHeapGrowth) for queued alerts, one at a time.
func (s *Sentinel) deliver() {
	defer close(s.sent)
	for {
		select {
		case a, ok := <-s.queue:
			if !ok {
				return
			}
			s.call(a)
		case <-s.stop:
			return
		}
	}
}

func (s *Sentinel) call(a alert) {
	defer func() {
		if r := recover(); r != nil {
			s.opts.Logger.Error("leaksentinel: OnLeak panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	switch {
	case a.leak != nil && s.opts.OnLeak != nil:
		s.opts.OnLeak(*a.leak)
	case a.heap != nil && s.opts.OnHeapGrowth != nil:
		s.opts.OnHeapGrowth(*a.heap)
	}
}
