package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/detect"
)

var watchCommand = &command{
	name:    "watch",
	summary: "poll a live /debug/pprof/goroutine endpoint and report leaks",
	help: `Usage: leaksentinel watch [flags] URL

Watch polls the goroutine profile of a running service that serves
net/http/pprof, groups each sample by blocking site, and reports a site
whose floor (its lowest count over stretches of samples) keeps rising over
a window of samples, with the same detector and defaults as the in-process
sentinel: ramps that plateau, bursts that drain and pools that fill up are
not leaks. It prints alerts as they happen and, on a terminal, a live
status line (samples, goroutines, sites, suspects: sites reported leaking
and not resolved). Ctrl-C or SIGTERM stops it with a summary.

URL is the service's address (localhost:6060), its /debug/pprof/ page, or
the goroutine profile's URL; query parameters are kept. Each sample fetches
the protobuf profile (?debug=0, about 5-8 µs of the service's CPU per
goroutine); --debug2 fetches ?debug=2 text instead, which names creators
and wait minutes but stops the service's world for the whole dump (about 1 s
at 100,000 goroutines). Without --debug2, an alert fetches ?debug=2 once to
name the creators if the service has at most --dump-limit goroutines.

A site found leaking is confirmed with the service's goroutineleak profile
(Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile), at most
once a window: the runtime proves those goroutines can never wake, at the
price of a GC cycle in the service. A leak whose channel is still reachable
is real but cannot be proved; it stays unconfirmed.

Connection errors, timeouts, non-200 answers and unreadable bodies are
reported and retried, waiting twice as long after each failure (at most
16 intervals or 5 minutes), and back to --interval after a success.

Examples:
  leaksentinel watch localhost:6060
  leaksentinel watch --interval 2s http://10.0.0.7:8080/debug/pprof/goroutine
  leaksentinel watch --json --duration 30m localhost:6060 > alerts.jsonl
  leaksentinel watch --exit-on-leak --duration 10m localhost:6060 || echo leaking
`,
	flags: func(fs *flag.FlagSet) any {
		c := &watchConfig{}
		fs.DurationVar(&c.interval, "interval", leaksentinel.DefaultInterval, "time between samples")
		fs.IntVar(&c.window, "window", leaksentinel.DefaultWindow, "`samples` over which a site's floor must keep rising; at least 6")
		fs.IntVar(&c.minGrowth, "min-growth", leaksentinel.DefaultMinGrowth, "report a site whose floor rose by this many `goroutines` over the window\n(and by a quarter of itself)")
		fs.IntVar(&c.maxSites, "max-sites", leaksentinel.DefaultMaxSites, "`N` sites keep a history; the smallest are forgotten past it")
		fs.BoolVar(&c.debug2, "debug2", false, "poll ?debug=2 text instead of the protobuf profile: creators and wait\nminutes in every sample, at a stop of the service's world each time")
		fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up on a request after this long")
		fs.IntVar(&c.dumpLimit, "dump-limit", leaksentinel.DefaultDumpLimit, "on an alert, fetch ?debug=2 once for creators if the service has at\nmost `N` goroutines (negative: never)")
		fs.BoolVar(&c.noConfirm, "no-confirm", false, "never ask the goroutineleak profile")
		fs.BoolVar(&c.json, "json", false, "print JSON lines: one event per line")
		fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: at Ctrl-C or SIGTERM)")
		fs.BoolVar(&c.exitOnLeak, "exit-on-leak", false, "stop at the first leak reported and exit 1")
		return c
	},
	run: func(ctx context.Context, e *env, cfg any, args []string) error {
		return runWatch(ctx, e, cfg.(*watchConfig), args)
	},
}

type watchConfig struct {
	interval, timeout, duration time.Duration
	window, minGrowth, maxSites int
	dumpLimit                   int
	debug2, noConfirm, json     bool
	exitOnLeak                  bool
}

func (c *watchConfig) validate() error {
	var errs []error
	if c.interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval %v is under a millisecond", c.interval))
	}
	if c.window < 6 || c.window > 10_000 {
		errs = append(errs, fmt.Errorf("--window %d is not between 6 and 10000", c.window))
	}
	if c.minGrowth < 1 {
		errs = append(errs, fmt.Errorf("--min-growth %d is under 1", c.minGrowth))
	}
	if c.maxSites < 1 {
		errs = append(errs, fmt.Errorf("--max-sites %d is under 1", c.maxSites))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v is not positive", c.timeout))
	}
	if c.duration < 0 {
		errs = append(errs, fmt.Errorf("--duration %v is negative", c.duration))
	}
	return errors.Join(errs...)
}

const (
	// confirmGuard is the largest number of goroutines on one sync
	// primitive's site for which the goroutineleak profile is asked: its
	// stop of the world grows with the square of that number. The same
	// bound as the in-process sentinel's.
	confirmGuard = 1000
	// maxBody bounds what a sample reads. pprof's ?debug=2 stops at 64 MiB;
	// profiles are a few MiB even at a million goroutines.
	maxBody = 512 << 20
	// maxBackoff caps the wait after failures, unless the interval is
	// longer.
	maxBackoff = 5 * time.Minute
)

func runWatch(ctx context.Context, e *env, c *watchConfig, args []string) error {
	if len(args) != 1 {
		return usageError("want one URL, got %d arguments", len(args))
	}
	if err := c.validate(); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	eps, err := endpointsOf(args[0], c.debug2)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	w := newWatcher(c, eps, &http.Client{Transport: transport}, &console{stdout: e.stdout, stderr: e.stderr, tty: e.tty && !c.json, json: c.json})
	w.loop(ctx)
	w.summary()
	if c.exitOnLeak && w.reported > 0 {
		return &exitError{code: exitFound, err: fmt.Errorf("%s leaking", plural(len(w.open), "site"))}
	}
	return nil
}

// endpoints are the URLs watch reads.
type endpoints struct {
	goroutine string // the samples: ?debug=0, or ?debug=2 with --debug2
	dump      string // ?debug=2, for creators
	leak      string // the goroutineleak profile, ?debug=0
}

// endpointsOf derives the endpoints from what the user typed: a host and
// port, the /debug/pprof/ page, or a profile's URL (of a handler mounted
// elsewhere, too).
func endpointsOf(raw string, debug2 bool) (endpoints, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoints{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoints{}, fmt.Errorf("URL %q: scheme %q is not http or https", raw, u.Scheme)
	}
	if u.Host == "" {
		return endpoints{}, fmt.Errorf("URL %q has no host", raw)
	}
	dir := strings.TrimSuffix(u.Path, "/")
	switch path.Base(dir) {
	case "goroutine", "goroutineleak":
		dir = path.Dir(dir)
	case "pprof":
	default:
		dir += "/debug/pprof"
	}
	at := func(name string, debug int) string {
		v := *u
		v.Path = dir + "/" + name
		v.RawPath = ""
		q := v.Query()
		q.Del("debug")
		if debug != 0 {
			q.Set("debug", fmt.Sprint(debug))
		}
		v.RawQuery = q.Encode()
		return v.String()
	}
	eps := endpoints{goroutine: at("goroutine", 0), dump: at("goroutine", 2), leak: at("goroutineleak", 0)}
	if debug2 {
		eps.goroutine = eps.dump
	}
	return eps, nil
}

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

// watcher polls one service. It is used by one goroutine.
type watcher struct {
	cfg    *watchConfig
	eps    endpoints
	client *http.Client
	out    *console
	now    func() time.Time

	det   *detect.Detector[leaksentinel.Site]
	times []time.Time // sample times, a ring over the detector's horizon
	open  map[leaksentinel.Site]leaksentinel.Leak

	leakMissing bool                   // the service has no goroutineleak profile
	lastProbe   int                    // sample of the last goroutineleak fetch
	lastLeak    *leaksentinel.Snapshot // its answer: proved leaks stay leaked
	lastLeakAt  time.Time
	truncated   bool // a truncated ?debug=2 was noted

	started  time.Time
	samples  int // successful
	failed   int // failed, in all
	failing  int // failed in a row
	retry    time.Duration
	reported int // leaks reported (new sites)
	last     *leaksentinel.Snapshot
}

func newWatcher(c *watchConfig, eps endpoints, client *http.Client, out *console) *watcher {
	return &watcher{
		cfg:       c,
		eps:       eps,
		client:    client,
		out:       out,
		now:       time.Now,
		det:       detect.New[leaksentinel.Site](detect.Standard(c.window, c.minGrowth, c.maxSites)),
		times:     make([]time.Time, detect.Standard(c.window, 0, 0).Horizon()+1),
		open:      make(map[leaksentinel.Site]leaksentinel.Leak),
		lastProbe: -c.window,
	}
}

// loop samples until ctx is done or, with --exit-on-leak, a leak is
// reported.
func (w *watcher) loop(ctx context.Context) {
	w.started = w.now()
	source := "protobuf profile"
	if w.cfg.debug2 {
		source = "?debug=2 text"
	}
	if w.out.json {
		w.out.event(w.now(), "start", map[string]any{
			"url": w.eps.goroutine, "interval_seconds": w.cfg.interval.Seconds(),
			"window": w.cfg.window, "min_growth": w.cfg.minGrowth,
		})
	} else {
		w.out.printf("watching %s every %v (%s; a leak is reported after %d samples at the earliest)\n",
			w.eps.goroutine, w.cfg.interval, source, w.cfg.window)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := w.sample(ctx)
		if ctx.Err() != nil {
			return
		}
		next := w.cfg.interval - time.Since(start)
		if err != nil {
			w.failed++
			w.failing++
			next = backoff(w.cfg.interval, w.failing)
			w.retry = next
			w.report(err)
		} else if w.failing > 0 {
			w.recovered()
			w.failing = 0
		}
		w.status()
		if w.cfg.exitOnLeak && w.reported > 0 {
			return
		}
		timer.Reset(max(next, 0))
	}
}

// sample takes one sample and reports what changed.
func (w *watcher) sample(ctx context.Context) error {
	in, err := w.fetch(ctx, w.eps.goroutine)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return fmt.Errorf("%w (does the service import net/http/pprof, and serve it at this path?)", err)
	}
	if err != nil {
		if in == nil || in.snap == nil || !errors.Is(err, leaksentinel.ErrTruncated) {
			return err
		}
		// pprof's ?debug=2 stops at 64 MiB: the counts are partial,
		// but the largest sites are still there.
		if !w.truncated {
			w.truncated = true
			w.note(fmt.Sprintf("%v: the service's ?debug=2 dumps are cut short, so counts are partial (the protobuf profile, without --debug2, is complete)", err))
		}
	}
	snap := in.snap
	now := w.now()
	counts := make(map[leaksentinel.Site]int, len(snap.Groups))
	for i := range snap.Groups {
		counts[snap.Groups[i].Site] += snap.Groups[i].Count
	}
	events := w.det.Observe(counts)
	w.times[w.det.Samples()%len(w.times)] = now
	w.samples++
	w.last = snap
	slices.SortFunc(events, func(a, b detect.Event[leaksentinel.Site]) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(b.Count, a.Count), strings.Compare(a.Key.String(), b.Key.String()))
	})
	var ex *explanation
	for _, ev := range events {
		switch ev.Kind {
		case detect.Leak, detect.Grew:
			if ex == nil {
				ex = w.explain(ctx, snap)
			}
			l, p := w.leak(snap, ev, now, ex)
			if ev.Kind == detect.Leak {
				w.reported++
			}
			w.open[ev.Key] = l
			w.alert(ev, l, p, now)
		case detect.Resolved:
			if _, ok := w.open[ev.Key]; ok {
				delete(w.open, ev.Key)
				w.resolved(ev, now)
			}
		}
	}
	for site, l := range w.open {
		l.Count = counts[site]
		w.open[site] = l
	}
	return nil
}

// fetch GETs url and parses the answer; a truncated dump is returned with
// its error.
func (w *watcher) fetch(ctx context.Context, u string) (*input, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "leaksentinel/"+version())
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: no answer within %v (--timeout)", u, w.cfg.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // dial tcp 127.0.0.1:1: connect: connection refused
		}
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, status: resp.Status, code: resp.StatusCode, body: snippet(resp.Body)}
	}
	in := &input{name: u}
	if err := in.parse(io.LimitReader(resp.Body, maxBody)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no complete answer within %v (--timeout)", w.cfg.timeout)
		}
		return in, &inputError{name: "GET " + u, err: err}
	}
	return in, nil
}

// statusError is a non-200 answer.
type statusError struct {
	url, status, body string
	code              int
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("GET %s: %s", e.url, e.status)
	if e.body != "" {
		s += ": " + e.body
	}
	return s
}

// snippet returns the first line of an error page, short.
func snippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 256))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(line) > 120 {
		line = line[:120] + "..."
	}
	return line
}

// explanation is what the costlier fetches taken for an alert found.
type explanation struct {
	dump     *leaksentinel.Snapshot // ?debug=2: creators, wait minutes
	leak     *leaksentinel.Snapshot // the goroutineleak profile
	leakAt   time.Time              // when it was fetched
	fresh    bool                   // fetched for this sample
	leakNote string                 // why it was not asked, or failed
}

// explain takes, once per sample with alerts, a ?debug=2 dump for the
// creators (unless samples already are one, or the service is too large)
// and the goroutineleak profile.
func (w *watcher) explain(ctx context.Context, snap *leaksentinel.Snapshot) *explanation {
	ex := &explanation{}
	if !w.cfg.debug2 && w.cfg.dumpLimit >= 0 && snap.Total <= w.cfg.dumpLimit {
		if in, err := w.fetch(ctx, w.eps.dump); in != nil && in.snap != nil {
			ex.dump = in.snap
		} else if ctx.Err() == nil {
			w.note(fmt.Sprintf("no creators for this alert: %v", err))
		}
	}
	ex.leak, ex.leakNote = w.probe(ctx, snap)
	if ex.leak != nil {
		ex.leakAt, ex.fresh = w.lastLeakAt, w.lastProbe == w.det.Samples()
	}
	return ex
}

// probe fetches the goroutineleak profile, when the service has it, it was
// not asked less than a window ago, and no sync primitive has so many
// waiters that the service would pause for long.
func (w *watcher) probe(ctx context.Context, snap *leaksentinel.Snapshot) (*leaksentinel.Snapshot, string) {
	switch {
	case w.cfg.noConfirm:
		return nil, "confirmation turned off (--no-confirm)"
	case w.leakMissing:
		return nil, "the service does not serve the goroutineleak profile"
	case w.det.Samples()-w.lastProbe < w.cfg.window:
		// Goroutines proved leaked stay leaked: the last answer still
		// confirms what it held.
		return w.lastLeak, "goroutineleak profile asked less than a window ago"
	}
	for _, g := range snap.Groups {
		if isSync(g.State) && g.Count > confirmGuard {
			return nil, fmt.Sprintf("goroutineleak profile not asked: %d goroutines wait on one sync primitive at %s, and its pause grows with their square", g.Count, g.Site)
		}
	}
	w.lastProbe = w.det.Samples()
	in, err := w.fetch(ctx, w.eps.leak)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		w.leakMissing = true
		w.note("the service does not serve the goroutineleak profile (Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile): alerts are not confirmed")
		return nil, "the service does not serve the goroutineleak profile"
	}
	if err != nil {
		return nil, "goroutineleak profile: " + err.Error()
	}
	w.lastLeak, w.lastLeakAt = in.snap, w.now()
	return in.snap, ""
}

func isSync(s leaksentinel.State) bool {
	switch s {
	case leaksentinel.StateMutexLock, leaksentinel.StateRWMutexLock, leaksentinel.StateRWMutexRLock,
		leaksentinel.StateWaitGroupWait, leaksentinel.StateSemacquire:
		return true
	}
	return false
}

// findGroup returns the group of s at site, comparing states as a profile
// reports them: every snapshot findGroup is asked to match is a profile or
// compared with one (samples, the goroutineleak profile), so that is the
// coarser precision of the two, as [leaksentinel.Diff] compares them.
func findGroup(s *leaksentinel.Snapshot, site leaksentinel.Site) *leaksentinel.Group {
	if s == nil {
		return nil
	}
	want := classify.Coarsen(string(site.State), classify.Frames)
	for i := range s.Groups {
		g := &s.Groups[i]
		if g.Function == site.Function && g.Line == site.Line && g.File == site.File &&
			classify.Coarsen(string(g.State), classify.Frames) == want {
			return g
		}
	}
	return nil
}

// proof is what the goroutineleak profile said about an alert's site.
type proof struct {
	leaked int       // goroutines it held at the site
	at     time.Time // when it was fetched
	fresh  bool      // fetched for this sample
}

// leak builds the alert for ev and returns it with what the goroutineleak
// profile held at its site.
func (w *watcher) leak(snap *leaksentinel.Snapshot, ev detect.Event[leaksentinel.Site], now time.Time, ex *explanation) (leaksentinel.Leak, proof) {
	l := leaksentinel.Leak{Site: ev.Key, Count: ev.Count, Growth: ev.Growth}
	l.Since = w.sampleTime(ev.Start)
	if d := now.Sub(l.Since); d > 0 && !l.Since.IsZero() {
		l.Rate = float64(ev.Growth) / d.Minutes()
	}
	for _, s := range []*leaksentinel.Snapshot{snap, ex.dump} {
		g := findGroup(s, ev.Key)
		if g == nil {
			continue
		}
		if len(g.Stacks) > 0 {
			l.Stack = g.Stacks[0]
		}
		if len(g.Creators) > 0 {
			l.Creators = g.Creators
		}
		if g.OldestWait > 0 {
			l.OldestWait = g.OldestWait
		}
		if l.Labels == nil {
			l.Labels = g.Labels
		}
	}
	var p proof
	if g := findGroup(ex.leak, ev.Key); g != nil {
		l.Confirmed = true
		p = proof{leaked: g.Count, at: ex.leakAt, fresh: ex.fresh}
	} else if ex.leakNote != "" {
		l.ConfirmNote = ex.leakNote
	}
	return l, p
}

// sampleTime returns the time of sample i (from 1), if still remembered.
func (w *watcher) sampleTime(i int) time.Time {
	if i < 1 || w.det.Samples()-i >= len(w.times) {
		return time.Time{}
	}
	return w.times[i%len(w.times)]
}
