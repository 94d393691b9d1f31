package leaksentinel

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/detect"
	"github.com/leaksentinel/leaksentinel/internal/proof"
)

// queueLen bounds the alerts waiting for OnLeak.
const queueLen = 64

// StopTimeout bounds how long [Sentinel.Stop] waits for an OnLeak,
// OnResolve or OnHeapGrowth call in progress to return.
const StopTimeout = 2 * time.Second

// Sentinel watches the goroutines of a [Source] (by default, the process
// it runs in) and reports sites whose count keeps rising. Create one with
// [Start]. Its methods are safe for concurrent use.
//
// Two sentinels in one process work independently: each samples on its own
// ticker and keeps its own history.
type Sentinel struct {
	opts   Options
	src    Source
	ctx    context.Context // cancelled by Stop: ends a source's request in flight
	cancel context.CancelFunc
	done   chan struct{}
	queue  chan alert
	sent   chan struct{} // closed when the OnLeak goroutine exits

	// The source's optional looks, nil when it lacks them.
	waiter   waitingSource
	dumper   dumpSource
	clocker  clockSource
	profiler profileSource
	prover   proofSource

	// Owned by the sampling goroutine.
	det       *detect.Detector[Site]
	marks     []mark        // what each sample left, a ring over the detector's horizon
	heap      *heapWatch    // nil unless WatchHeap
	skipped   int           // consecutive samples skipped
	rising    bool          // the trigger saw a rise last time: capture while it lasts
	hot       bool          // a site rose over the last captures (detect.Suspects): capture the next tick
	waiting   int64         // waiting goroutines at the last full capture
	lowest    int64         // fewest waiting goroutines seen on a tick since then
	stacks    []stackCounts // per-stack counts of the last captures, oldest first
	lastProbe int           // sample of the last goroutineleak profile
	noProof   string        // why the source can never prove, once it said so
	proved    map[Site]time.Time
	ignored   map[Site]bool // sites dropped for their creators
	failing   int           // captures failed in a row
	truncated bool          // a truncated capture was noted
	clockDump *dumpRead     // the dump read this sample for the clock, if any

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
	Failed        int           // captures that failed (a remote source unreachable, a replay's bad file)
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
// opts.Interval, in a goroutine of the sentinel's, until [Sentinel.Stop] (or,
// for a replay, until its files are done).
func Start(opts Options) (*Sentinel, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := newSentinel(opts.withDefaults())
	if s.opts.OnLeak != nil || s.opts.OnHeapGrowth != nil || s.opts.OnResolve != nil {
		s.queue = make(chan alert, queueLen)
		s.sent = make(chan struct{})
		go s.deliver()
	}
	go s.run()
	return s, nil
}

// newSentinel returns a sentinel that has not started sampling.
func newSentinel(o Options) *Sentinel {
	o.IgnoreTopFunction = slices.Clone(o.IgnoreTopFunction)
	o.IgnoreAnyFunction = slices.Clone(o.IgnoreAnyFunction)
	o.IgnoreCreatedBy = slices.Clone(o.IgnoreCreatedBy)
	o.IgnoreSite = slices.Clone(o.IgnoreSite)
	src := o.Source
	if src == nil {
		src = newProcessSource()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sentinel{
		opts:      o,
		src:       src,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		det:       detect.New[Site](detect.Standard(o.Window, o.MinGrowth, o.MaxSites)),
		marks:     make([]mark, detect.Standard(o.Window, 0, 0).Horizon()+1),
		lastProbe: -o.Window,
		proved:    make(map[Site]time.Time),
		ignored:   make(map[Site]bool),
		leaks:     make(map[Site]Leak),
		hist:      newHistory(detect.Standard(o.Window, 0, 0).Horizon(), o.MaxSites),
	}
	s.waiter, _ = src.(waitingSource)
	s.dumper, _ = src.(dumpSource)
	s.clocker, _ = src.(clockSource)
	s.profiler, _ = src.(profileSource)
	s.prover, _ = src.(proofSource)
	_, local := src.(*processSource)
	if (o.WatchHeap || o.OnHeapGrowth != nil) && (local || o.memory != nil) {
		s.heap = newHeapWatch(o.HeapWindow)
	}
	return s
}

// Stop stops the sentinel and returns when its sampling goroutine has
// exited: after the sample in progress, whose request to a remote source
// it cancels. An OnLeak (or OnHeapGrowth, OnResolve) call in progress is
// waited for at most [StopTimeout]; the goroutine making it exits as soon
// as the call returns. Alerts still queued are not delivered. Stop is safe
// to call more than once.
func (s *Sentinel) Stop() {
	s.cancel()
	<-s.done
	if s.sent != nil {
		t := time.NewTimer(StopTimeout)
		defer t.Stop()
		select {
		case <-s.sent:
		case <-t.C:
			s.opts.Logger.Warn("leaksentinel: stopped while OnLeak was still running; its goroutine exits when the call returns",
				"waited_seconds", StopTimeout.Seconds())
		}
	}
}

// Done returns a channel that is closed when the sentinel has stopped
// sampling: after [Sentinel.Stop], or when its [Source] has no more samples
// (a replay's last file) and OnLeak and OnResolve have had every alert.
func (s *Sentinel) Done() <-chan struct{} { return s.done }

// Snapshot returns the last full capture, or nil before the first. The
// sentinel's own goroutines are left out.
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
	slices.SortFunc(out, func(a, b Leak) int {
		return cmp.Or(b.Count-a.Count, strings.Compare(a.Site.String(), b.Site.String()))
	})
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

// run is the sampling loop: one sample, then the wait the sample asked
// for (the interval, or a back-off after failures), until Stop or the end
// of the source. A replay does not wait: its samples carry their own times.
func (s *Sentinel) run() {
	more := true
	defer func() {
		if s.queue != nil {
			close(s.queue)
			if !more {
				<-s.sent // the source ran out: deliver every alert first
			}
		}
		close(s.done)
	}()
	_, replay := s.src.(*Replay)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		var wait time.Duration
		wait, more = s.safeSample()
		if !more || s.ctx.Err() != nil {
			return
		}
		switch {
		case s.opts.ticks != nil:
			select {
			case <-s.ctx.Done():
				return
			case <-s.opts.ticks:
			}
		case replay:
		default:
			timer.Reset(wait)
			select {
			case <-s.ctx.Done():
				return
			case <-timer.C:
			}
		}
	}
}

// safeSample takes a sample; a panic in it is logged, never propagated:
// the sentinel must not take the service down.
func (s *Sentinel) safeSample() (wait time.Duration, more bool) {
	defer func() {
		if r := recover(); r != nil {
			s.opts.Logger.Error("leaksentinel: sample failed", "panic", r, "stack", string(debug.Stack()))
			wait, more = s.opts.Interval, true
		}
	}()
	return s.sample()
}

// sample takes one look at the source: the trigger, then, unless it says
// nothing grew, a capture, the detector, and for what it reports the
// costlier looks that explain it. It returns how long to wait for the next
// and whether the source has more.
func (s *Sentinel) sample() (time.Duration, bool) {
	// Let the goroutines this tick woke (timers of the same period) run
	// and park again before the look: on one CPU they would wait behind
	// the sampler for its whole sample.
	runtime.Gosched()
	s.mu.Lock()
	s.stats.Ticks++
	s.mu.Unlock()
	now := s.opts.now()
	if s.heap != nil {
		s.heapTick(now)
	}
	start := time.Now()

	// A skipped tick is not a sample: the detector sees real captures
	// only. (Feeding it the last capture's counts again made a window of
	// 24 ticks hold 4 independent values, and 4 values in rising order by
	// chance look like a leak: one in 24.)
	var waiting int64
	if s.waiter != nil {
		waiting = s.waiter.Waiting()
		if s.skip(waiting) {
			return s.opts.Interval, true
		}
	}
	snap, err := s.src.Capture(s.ctx)
	if errors.Is(err, io.EOF) {
		return 0, false
	}
	if err != nil && (snap == nil || !errors.Is(err, ErrTruncated)) {
		if s.ctx.Err() != nil {
			return 0, false
		}
		return s.failed(err), true
	}
	if err != nil && !s.truncated {
		s.truncated = true
		s.opts.Logger.Warn("leaksentinel: a capture was cut short; counts are partial", "err", err)
	}
	if s.failing > 0 {
		s.opts.Logger.Info("leaksentinel: sampling again", "failures", s.failing)
		s.failing = 0
	}
	snap = withoutOwn(snap)
	if !snap.Time.IsZero() {
		now = snap.Time
	}
	s.waiting = waiting
	s.clockDump = nil
	clock := s.clock(snap)
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
	var resolved []Leak
	var ex *explanation
	hot := s.det.Suspects(s.opts.Window / 4)
	s.hot = len(hot) > 0
	events = append(events, s.suspects(snap, events, hot)...)
	for _, ev := range events {
		switch ev.Kind {
		case suspect:
			// Found early, at a quarter of the window: reported only
			// if its goroutines stayed and the runtime proves them
			// leaked; else it waits for the full window.
			if ex == nil {
				ex = s.explain(snap, now)
			}
			ev.Kind = detect.Leak
			if _, proved := s.proved[provedKey(ev.Key)]; !proved || s.turnedOver(ev, ex.bornAt(ev.Key, snap.precision)) {
				continue
			}
			s.det.Declare(ev)
			if l, ok := s.leak(snap, ev, now, ex); ok {
				alerts = append(alerts, l)
			}
		case detect.Leak, detect.Grew:
			if ex == nil {
				ex = s.explain(snap, now)
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
			if l, ok := s.resolve(ev, now); ok {
				resolved = append(resolved, l)
			}
		}
	}
	took := time.Since(start)

	s.mu.Lock()
	s.last = s.keep(snap)
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
		s.mu.Lock()
		for _, l := range alerts {
			if open, ok := s.leaks[l.Site]; ok {
				open.Files = slices.Clone(files)
				s.leaks[l.Site] = open
			}
		}
		s.mu.Unlock()
	}
	for _, l := range alerts {
		l.Files = slices.Clone(files)
		s.alertLeak(l)
	}
	for _, l := range resolved {
		s.enqueue(alert{resolved: &l})
	}
	return max(s.opts.Interval-took, 0), true
}

// keep returns what the sentinel keeps of snap for its views: at most
// MaxSites groups, the largest, and the leaking ones besides; the rest are
// counted, so that a process of many distinct sites costs what MaxSites
// says. Called with s.mu held.
func (s *Sentinel) keep(snap *Snapshot) *Snapshot {
	if len(snap.Groups) <= s.opts.MaxSites {
		return snap
	}
	out := *snap
	out.Groups = slices.Clone(snap.Groups[:s.opts.MaxSites])
	for _, g := range snap.Groups[s.opts.MaxSites:] {
		if _, leaking := s.leaks[g.Site]; leaking {
			out.Groups = append(out.Groups, g)
		}
	}
	out.omitted = snap.omitted + len(snap.Groups) - len(out.Groups)
	return &out
}

// suspect is the kind of event suspects returns: a site rising over a
// quarter of the window, to be proved.
const suspect detect.Kind = 100

// suspects returns the sites rising over a quarter of the window, not yet
// reported, when the runtime's proof may be asked now and no full-window
// event of this sample asks it already: the fast path. A leak the runtime
// can prove is reported about a quarter of a window after it starts,
// instead of a window.
func (s *Sentinel) suspects(snap *Snapshot, events []detect.Event[Site], hot []detect.Event[Site]) []detect.Event[Site] {
	for _, ev := range events {
		if ev.Kind == detect.Leak || ev.Kind == detect.Grew {
			return nil // explained anyway: the probe's answer serves both
		}
	}
	if len(hot) == 0 || s.probeNote(snap) != "" {
		return nil
	}
	var out []detect.Event[Site]
	for _, ev := range hot {
		if !s.ignored[ev.Key] {
			ev.Kind = suspect
			out = append(out, ev)
		}
	}
	return out
}

// failed notes a failed capture and returns the wait before the next: the
// interval doubled for each failure in a row, at most 16 intervals or five
// minutes (but never under the interval).
func (s *Sentinel) failed(err error) time.Duration {
	s.failing++
	s.mu.Lock()
	s.stats.Failed++
	s.mu.Unlock()
	wait := backoff(s.opts.Interval, s.failing)
	s.opts.Logger.Error("leaksentinel: capture failed", "err", err, "failures", s.failing, "retry_in_seconds", wait.Seconds())
	return wait
}

// maxBackoff caps the wait after failures, unless the interval is longer.
const maxBackoff = 5 * time.Minute

// backoff returns the wait after the n-th consecutive failure: the
// interval doubled n times, at most 16 intervals or maxBackoff, but never
// under the interval.
func backoff(interval time.Duration, n int) time.Duration {
	limit := max(interval, min(16*interval, maxBackoff))
	d := interval
	for range n {
		if d >= limit {
			break
		}
		d *= 2
	}
	return min(d, limit)
}

// skip reports whether this tick can skip the capture: the floor of
// waiting goroutines (the fewer of this tick's and the last one's) has not
// risen by 1% (and at least one) since the last capture, and the safety net
// is not due. A leak raises that floor; churn moves the count but one tick's
// spike does not move the floor of two, and a fall is learnt at the next
// capture.
//
// Once a rise has lasted two ticks, each tick that is above the last
// capture captures too: a steady leak is captured on every tick, not every
// second one (right after a capture, the floor of two ticks is the capture
// itself), so that a window of samples is a window of ticks while goroutines
// pile up.
func (s *Sentinel) skip(waiting int64) bool {
	prev := s.lowest
	s.lowest = waiting // the last tick's count, for the next one
	if s.opts.MaxSkip < 0 || s.det.Samples() == 0 || s.skipped >= s.opts.MaxSkip {
		s.skipped, s.rising = 0, false
		return false
	}
	step := max(1, s.waiting/100)
	switch {
	case min(prev, waiting)-s.waiting >= step:
		s.rising = true // a rise that lasted two ticks
	case s.rising && waiting-s.waiting >= step:
		// still rising since the last capture
	case s.hot:
		// a site is rising at the last captures, under churn that
		// the total of waiting goroutines hides
	default:
		s.rising = false
		s.skipped++
		return true
	}
	s.skipped = 0
	return false
}

// clockEvery is how often, in captures, a source with dumps but no clock
// is dumped for one: a dump's highest goroutine id bounds the ids of every
// goroutine then (turnover.go). A third of the turnover check's stretch at
// the default window, so that the clock it reads is at most that late,
// which errs towards keeping an alert.
const clockEvery = 3

// clock returns an id above that of every goroutine of snap, or 0 when the
// source cannot tell: its clock, else the highest id of a dump taken every
// clockEvery captures, under DumpLimit.
func (s *Sentinel) clock(snap *Snapshot) int64 {
	if s.clocker != nil {
		if c, err := s.clocker.Clock(s.ctx); err == nil && c > 0 {
			return c
		}
	}
	if s.dumper == nil || !s.dumpAllowed(snap) || (s.det.Samples()+1)%clockEvery != 0 {
		return 0
	}
	d := s.readDump(snap)
	s.clockDump = d
	return d.top
}

// dumpAllowed reports whether a dump may be taken with snap's goroutines.
func (s *Sentinel) dumpAllowed(snap *Snapshot) bool {
	return s.opts.DumpLimit >= 0 && snap.Total <= s.opts.DumpLimit
}

// dumpRead is a source's dump, read once for the snapshot, the goroutine
// ids by site and the highest id.
type dumpRead struct {
	text   []byte
	snap   *Snapshot
	births map[Site][]born
	top    int64
}

// readDump takes and reads the source's dump; a failed dump has nil snap.
func (s *Sentinel) readDump(snap *Snapshot) *dumpRead {
	d := &dumpRead{}
	text, err := s.dumper.Dump(s.ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		return d // this sample has none (a replayed profile)
	}
	if err != nil {
		s.opts.Logger.Warn("leaksentinel: no dump: leaks have no creators this time", "err", err)
		return d
	}
	d.text = text
	b := newBirths(snap.precision)
	dump, err := parseDump(bytes.NewReader(text), b.add)
	if dump == nil {
		s.opts.Logger.Error("leaksentinel: reading the source's dump", "err", err)
		return d
	}
	d.snap, d.births, d.top = withoutOwn(dump), b.at, b.top
	return d
}

// ignoredGroup reports whether g matches the Ignore options or was dropped
// for its creators.
func (s *Sentinel) ignoredGroup(g *Group) bool {
	if s.ignored[g.Site] {
		return true
	}
	o := &s.opts
	if slices.Contains(o.IgnoreSite, g.Function) {
		return true
	}
	if len(o.IgnoreTopFunction) == 0 && len(o.IgnoreAnyFunction) == 0 {
		return false
	}
	for _, st := range g.Stacks {
		if len(st.Frames) > 0 && slices.Contains(o.IgnoreTopFunction, st.Frames[0].Function) {
			return true
		}
		for _, f := range st.Frames {
			if slices.Contains(o.IgnoreAnyFunction, f.Function) {
				return true
			}
		}
	}
	return false
}

// explanation is what the costlier looks taken for an alert found.
type explanation struct {
	*dumpRead           // the source's dump: creators, wait times, ids
	profile   *Snapshot // from the goroutine profile, with labels
	pb        []byte    // the profile, for ProfileDir
	leak      *Snapshot // from the goroutineleak profile, if asked
	note      string    // why the goroutineleak profile was not asked
}

// bornAt returns the goroutines of site in the dump, comparing states at
// the capture's precision p, those the dump shows runnable at the site's
// line included (see dumpGroup); nil without a dump.
func (ex *explanation) bornAt(site Site, p classify.Precision) []born {
	site.State = site.State.coarsen(p)
	at := ex.births[site]
	if site.State == StateRunnable {
		return at
	}
	site.State = StateRunnable
	if woken := ex.births[site]; len(woken) > 0 {
		at = append(slices.Clone(at), woken...)
	}
	return at
}

// dumpGroup returns the group of the dump d at site, with the goroutines d
// shows runnable at the site's very line. A capture infers a goroutine's
// state from its frames, and a goroutine woken but not yet run still has
// the frames it parked with; the dump's header already says runnable. On
// one CPU the goroutines a tick wakes wait behind the sampler for its whole
// sample, and without them a leaking chain's own links were missed at its
// site (the corpus's redialloop, at GOMAXPROCS=1).
func dumpGroup(d *Snapshot, site Site, p classify.Precision) *Group {
	g := match(d, site, p)
	r := match(d, Site{State: StateRunnable, Function: site.Function, File: site.File, Line: site.Line}, p)
	if r == nil || r == g {
		return g
	}
	if g == nil {
		return r
	}
	m := *g
	m.Count += r.Count
	m.Stacks = append(slices.Clone(g.Stacks), r.Stacks...)
	m.OldestWait = max(g.OldestWait, r.OldestWait)
	m.Creators = slices.Clone(g.Creators)
	for _, c := range r.Creators {
		if i := slices.IndexFunc(m.Creators, func(x Creator) bool { return x.Frame == c.Frame }); i >= 0 {
			m.Creators[i].Count += c.Count
		} else {
			m.Creators = append(m.Creators, c)
		}
	}
	slices.SortStableFunc(m.Creators, func(a, b Creator) int { return b.Count - a.Count })
	return &m
}

// explain takes, once per sample with alerts, the looks that say more than
// a capture: the source's dump (creators, wait times, goroutine ids) when
// the capture had at most DumpLimit goroutines, its goroutine profile
// (labels), and its proof.
func (s *Sentinel) explain(snap *Snapshot, now time.Time) *explanation {
	ex := &explanation{dumpRead: s.clockDump}
	if ex.dumpRead == nil {
		ex.dumpRead = &dumpRead{}
		if s.dumper != nil && s.dumpAllowed(snap) {
			ex.dumpRead = s.readDump(snap)
		}
	}
	if s.profiler != nil {
		if pb, err := s.profiler.Profile(s.ctx); err == nil {
			ex.pb = pb
			ex.profile, _ = ParseProfile(bytes.NewReader(pb))
		}
	}
	ex.leak, ex.note = s.probe(snap, now)
	return ex
}

// probe asks the source's goroutineleak profile which goroutines can never
// wake, when it has one, it is allowed, it was not asked less than a window
// ago, and it is not too costly now. The sites it proves are kept: a
// goroutine proved leaked stays leaked.
func (s *Sentinel) probe(snap *Snapshot, now time.Time) (*Snapshot, string) {
	if why := s.probeNote(snap); why != "" {
		return nil, why
	}
	s.lastProbe = s.det.Samples()
	leak, err := s.prover.Prove(s.ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		s.noProof = err.Error()
		s.opts.Logger.Info("leaksentinel: leaks cannot be confirmed", "why", s.noProof)
		return nil, s.noProof
	}
	if err != nil {
		return nil, "goroutineleak profile failed: " + err.Error()
	}
	for i := range leak.Groups {
		s.proved[provedKey(leak.Groups[i].Site)] = now
	}
	return leak, ""
}

// probeNote returns why the goroutineleak profile may not be asked now,
// or "".
func (s *Sentinel) probeNote(snap *Snapshot) string {
	switch {
	case s.opts.NoConfirm:
		return "confirmation turned off"
	case s.prover == nil:
		return "the source has no goroutineleak profile"
	case s.noProof != "":
		return s.noProof
	case s.det.Samples()-s.lastProbe < s.opts.Window:
		return "goroutineleak profile asked less than a window ago"
	}
	return proofGuard(snap)
}

// provedKey is site as the goroutineleak profile, a pprof profile, can
// name it.
func provedKey(site Site) Site {
	site.State = site.State.coarsen(classify.Frames)
	return site
}

// proofGuard returns why the goroutineleak profile must not be asked with
// snap's goroutines, or "": its stop of the world grows with the
// goroutines of the process and the square of the waiters on one
// semaphore, and must stay within internal/proof's budget.
func proofGuard(snap *Snapshot) string {
	c := proof.Counts{Goroutines: snap.Total, ByState: make(map[string]int)}
	for _, g := range snap.Groups {
		c.ByState[string(g.State)] += g.Count
	}
	if err := proof.Check(c); err != nil {
		return "goroutineleak profile not asked: " + err.Error()
	}
	return ""
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
	l := Leak{Site: ev.Key, Count: ev.Count, Growth: ev.Growth, Found: now, Sample: s.det.Samples(), Window: ev.Span}
	start, _ := s.markAt(ev.Start)
	l.Since = start.time
	if d := now.Sub(l.Since); d > 0 && !l.Since.IsZero() {
		l.Rate = float64(ev.Growth) / d.Minutes()
	}
	// Where the site's stacks differ (a leak sharing its line with a
	// healthy pool), the stacks that grew over the window name the leak.
	growth := s.stackGrowth(snap, ev.Key, ev.Start)
	if g := match(snap, ev.Key, classify.Text); g != nil {
		l.Creators, l.Stack = byGrowth(g, growth)
		l.OldestWait, l.Labels = g.OldestWait, g.Labels
	}
	if g := dumpGroup(ex.snap, ev.Key, snap.precision); g != nil {
		l.Creators, l.Stack = byGrowth(g, growth)
		// Stacks cannot tell goroutines apart when a pool and a leak
		// run the same function; creation order can: the goroutines
		// that arrived over the window are the newest.
		if newest := newestCreators(ex.bornAt(ev.Key, snap.precision), s.clockAt(ev.Start), ev.Growth); len(newest) > 0 {
			l.Creators = leadWith(l.Creators, newest)
		}
		l.OldestWait = g.OldestWait
		if g.Labels != nil {
			l.Labels = g.Labels
		}
		if s.createdByIgnored(g.Creators) {
			s.ignored[ev.Key] = true
			return Leak{}, false
		}
	}
	if g := match(ex.profile, ev.Key, snap.precision); g != nil && g.Labels != nil {
		l.Labels = g.Labels
	}
	if at, ok := s.proved[provedKey(ev.Key)]; ok {
		l.Confirmed, l.ProvedAt = true, at
	} else if ex.note != "" {
		l.ConfirmNote = ex.note
	}
	if snap.Memory.HeapLive > 0 && start.heapLive > 0 {
		l.HeapGrowth = int64(snap.Memory.HeapLive) - int64(start.heapLive)
	}
	if snap.Total > 0 && snap.Memory.Stacks > 0 {
		l.StackBytes = int64(snap.Memory.Stacks / uint64(snap.Total) * uint64(l.Count))
	}
	s.mu.Lock()
	if _, open := s.leaks[ev.Key]; !open {
		s.stats.Leaks++
	}
	s.leaks[ev.Key] = l
	s.mu.Unlock()
	return l, true
}

// createdByIgnored reports whether every creator is one IgnoreCreatedBy
// names.
func (s *Sentinel) createdByIgnored(creators []Creator) bool {
	if len(s.opts.IgnoreCreatedBy) == 0 || len(creators) == 0 {
		return false
	}
	for _, c := range creators {
		if !slices.Contains(s.opts.IgnoreCreatedBy, c.Function) {
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
	if i < 1 || i > s.det.Samples() || s.det.Samples()-i >= len(s.marks) {
		return mark{}, false
	}
	return s.marks[i%len(s.marks)], true
}

// resolve closes the leak at ev's site, if one is open, and returns it as
// last reported, with its count now.
func (s *Sentinel) resolve(ev detect.Event[Site], now time.Time) (Leak, bool) {
	s.mu.Lock()
	l, open := s.leaks[ev.Key]
	delete(s.leaks, ev.Key)
	s.mu.Unlock()
	if !open {
		return Leak{}, false
	}
	l.Count, l.Found, l.Sample = ev.Count, now, s.det.Samples()
	s.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, "leaksentinel: goroutine leak resolved",
		slog.String("site", fmt.Sprintf("%s %s:%d", ev.Key.Function, ev.Key.File, ev.Key.Line)),
		slog.String("state", string(ev.Key.State)),
		slog.Int("count", ev.Count))
	return l, true
}

// alert is what the OnLeak goroutine delivers: a leak, its resolution or a
// memory alert.
type alert struct {
	leak     *Leak
	resolved *Leak
	heap     *HeapGrowth
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
	if s.queue == nil || (a.resolved != nil && s.opts.OnResolve == nil) {
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
		switch {
		case a.leak != nil:
			what = a.leak.Site.String()
		case a.resolved != nil:
			what = a.resolved.Site.String() + " (resolved)"
		}
		s.opts.Logger.Warn("leaksentinel: OnLeak is not keeping up; alert dropped", "site", what, "dropped", dropped)
	}
}

// deliver calls OnLeak (OnResolve, OnHeapGrowth) for queued alerts, one at
// a time, until the queue closes or Stop.
func (s *Sentinel) deliver() {
	defer close(s.sent)
	for {
		select {
		case a, ok := <-s.queue:
			if !ok {
				return
			}
			s.call(a)
		case <-s.ctx.Done():
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
	case a.resolved != nil && s.opts.OnResolve != nil:
		s.opts.OnResolve(*a.resolved)
	case a.heap != nil && s.opts.OnHeapGrowth != nil:
		s.opts.OnHeapGrowth(*a.heap)
	}
}
