package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

// reporter prints what a sentinel started by watch or replay says: its
// alerts and resolutions (OnLeak, OnResolve) and its log records (failed
// samples, recoveries, notes), as lines for people or JSON lines, and on a
// terminal a status line that every other line first erases. It is used
// from the sentinel's goroutines and the command's, so it locks.
type reporter struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	tty            bool // keep a status line; never with json
	json           bool
	status         bool // a status line is on screen
	replay         bool // lines start with the sample, not only the time

	open     map[leaksentinel.Site]bool // sites reported and not resolved
	reported int                        // leaks reported (new sites)
	lastErr  string                     // the last failed sample's error
	found    chan struct{}              // closed at the first leak
}

func newReporter(e *env, json, replay bool) *reporter {
	return &reporter{
		stdout: e.stdout, stderr: e.stderr, tty: e.tty && !json, json: json, replay: replay,
		open: make(map[leaksentinel.Site]bool), found: make(chan struct{}),
	}
}

const clock = "15:04:05"

// clearStatus erases the status line: carriage return, erase to the end
// of the line.
func (r *reporter) clearStatus() {
	if r.status {
		io.WriteString(r.stdout, "\r\x1b[K")
		r.status = false
	}
}

func (r *reporter) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearStatus()
	fmt.Fprintf(r.stdout, format, args...)
}

func (r *reporter) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearStatus()
	fmt.Fprintf(r.stderr, format, args...)
}

func (r *reporter) setStatus(s string) {
	if !r.tty {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	io.WriteString(r.stdout, "\r\x1b[K"+s)
	r.status = true
}

// event writes one JSON line: {"time": ..., "event": kind, fields...};
// fields is a map or a value whose JSON is an object (a Leak).
func (r *reporter) event(t time.Time, kind string, fields any) {
	m := map[string]any{}
	if fields != nil {
		b, _ := json.Marshal(fields)
		json.Unmarshal(b, &m)
	}
	m["time"], m["event"] = t.Format(time.RFC3339Nano), kind
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"time": m["time"], "event": "error", "error": err.Error()})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stdout.Write(append(b, '\n'))
}

// stamp is how a line says when: the time, and for a replay the sample.
func (r *reporter) stamp(l leaksentinel.Leak) string {
	if r.replay {
		if l.Found.IsZero() {
			return fmt.Sprintf("sample %d:", l.Sample)
		}
		return fmt.Sprintf("sample %d (%s):", l.Sample, l.Found.Format(time.DateTime))
	}
	return l.Found.Format(clock)
}

// leak prints an alert: a new leak, or a leaking site that grew.
func (r *reporter) leak(l leaksentinel.Leak) {
	r.mu.Lock()
	grew := r.open[l.Site]
	if !grew {
		r.open[l.Site] = true
		r.reported++
		if r.reported == 1 {
			close(r.found)
		}
	}
	r.mu.Unlock()
	if r.json {
		kind := "leak"
		if grew {
			kind = "grew"
		}
		r.event(time.Now(), kind, l)
		return
	}
	var b strings.Builder
	if grew {
		fmt.Fprintf(&b, "%s still leaking: %s at %s, +%d since it started leaking\n",
			r.stamp(l), plural(l.Count, "goroutine"), siteLine(l.Site), l.Growth)
	} else {
		fmt.Fprintf(&b, "%s LEAK: %s at %s, floor +%d over %d samples (%.1f/min)\n",
			r.stamp(l), plural(l.Count, "goroutine"), siteLine(l.Site), l.Growth, l.Window, l.Rate)
	}
	indent := "    "
	switch {
	case l.Confirmed && !l.ProvedAt.Before(l.Found):
		fmt.Fprintf(&b, "%sconfirmed: the runtime's goroutineleak profile proves them leaked\n", indent)
	case l.Confirmed:
		fmt.Fprintf(&b, "%sconfirmed: the runtime's goroutineleak profile proved them leaked at %s\n", indent, l.ProvedAt.Format(clock))
	case l.ConfirmNote != "":
		fmt.Fprintf(&b, "%snot confirmed: %s\n", indent, l.ConfirmNote)
	default:
		fmt.Fprintf(&b, "%snot confirmed: the goroutineleak profile does not hold them (their channel or lock may still be reachable)\n", indent)
	}
	if len(l.Creators) > 0 {
		c := l.Creators[0]
		fmt.Fprintf(&b, "%screated by %s %s:%d", indent, c.Function, c.File, c.Line)
		if len(l.Creators) > 1 {
			fmt.Fprintf(&b, " (and %d more creators)", len(l.Creators)-1)
		}
		b.WriteString("\n")
	}
	if l.OldestWait > 0 {
		fmt.Fprintf(&b, "%soldest wait: %s\n", indent, formatWait(l.OldestWait))
	}
	if len(l.Labels) > 0 {
		fmt.Fprintf(&b, "%slabels: %s\n", indent, formatLabels(l.Labels))
	}
	if !grew && len(l.Stack.Frames) > 0 {
		writeStack(&b, indent, l.Stack, 8)
	}
	r.printf("%s", b.String())
}

// resolved prints a leak that resolved.
func (r *reporter) resolved(l leaksentinel.Leak) {
	r.mu.Lock()
	delete(r.open, l.Site)
	r.mu.Unlock()
	if r.json {
		r.event(time.Now(), "resolved", l)
		return
	}
	r.printf("%s resolved: %s is back to %s\n", r.stamp(l), siteLine(l.Site), plural(l.Count, "goroutine"))
}

// siteLine is "[state] function file.go:53".
func siteLine(s leaksentinel.Site) string {
	return fmt.Sprintf("[%s] %s", s.State, siteShort(s))
}

// Handle makes the reporter the sentinel's slog.Handler: alerts and
// resolutions are already printed by leak and resolved; failed samples,
// recoveries and notes are printed here, debug records dropped.
func (r *reporter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (r *reporter) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]any{}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.Any()
		return true
	})
	msg := strings.TrimPrefix(rec.Message, "leaksentinel: ")
	now := rec.Time
	switch msg {
	case "goroutine leak", "goroutine leak resolved":
		return nil
	case "capture failed":
		err := fmt.Sprint(attrs["err"])
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		retry := time.Duration(toFloat(attrs["retry_in_seconds"]) * float64(time.Second))
		if r.json {
			r.event(now, "error", map[string]any{"error": err, "failures": attrs["failures"], "retry_in_seconds": retry.Seconds()})
			return nil
		}
		if r.replay {
			r.errorf("leaksentinel replay: %s (skipped)\n", err)
			return nil
		}
		r.errorf("%s leaksentinel watch: %s (failure %v; retrying in %v)\n", now.Format(clock), err, attrs["failures"], retry)
	case "sampling again":
		if r.json {
			r.event(now, "recovered", map[string]any{"failures": attrs["failures"]})
			return nil
		}
		if !r.replay {
			r.errorf("%s leaksentinel watch: sampling again after %s\n", now.Format(clock), plural(int(toFloat(attrs["failures"])), "failure"))
		}
	default:
		note := msg
		for _, k := range sortedKeys(attrs) {
			note += fmt.Sprintf("; %s: %v", k, attrs[k])
		}
		if r.json {
			r.event(now, "note", map[string]any{"note": note})
			return nil
		}
		r.errorf("%s note: %s\n", now.Format(clock), note)
	}
	return nil
}

func (r *reporter) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *reporter) WithGroup(string) slog.Handler      { return r }

func toFloat(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case int:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return 0
}

// statusLine is the terminal's status line: samples, goroutines, sites,
// suspects (sites reported leaking and not resolved), failures.
func (r *reporter) statusLine(s *leaksentinel.Sentinel) {
	if !r.tty {
		return
	}
	st := s.Stats()
	line := fmt.Sprintf("samples %d", st.Captures)
	if snap := s.Snapshot(); snap != nil {
		line += fmt.Sprintf(" | goroutines %d | sites %d", snap.Total, len(snap.Groups))
	}
	line += fmt.Sprintf(" | suspects %d", len(s.Leaks()))
	if st.Failed > 0 {
		line += fmt.Sprintf(" | %s", plural(st.Failed, "failure"))
	}
	r.setStatus(line)
}

// summary prints what the sentinel saw, when it stopped: took is how long
// it ran, and window the samples a leak takes at the earliest.
func (r *reporter) summary(s *leaksentinel.Sentinel, verb string, took time.Duration, window int) {
	st, snap, leaks := s.Stats(), s.Snapshot(), s.Leaks()
	slices.SortFunc(leaks, func(a, b leaksentinel.Leak) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Site.String(), b.Site.String())
	})
	if r.json {
		f := map[string]any{"duration_seconds": took.Seconds(), "samples": st.Captures, "failed": st.Failed, "leaks_reported": st.Leaks, "turned_over": st.TurnedOver}
		if snap != nil {
			f["goroutines"] = snap.Total
			f["sites"] = len(snap.Groups)
		}
		f["leaking_sites"] = leaks
		r.event(time.Now(), "summary", f)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s after %v: %s, %d failed", verb, took.Round(time.Millisecond), plural(st.Captures, "sample"), st.Failed)
	if snap != nil {
		fmt.Fprintf(&b, "; last: %s at %s", plural(snap.Total, "goroutine"), plural(len(snap.Groups), "site"))
	}
	b.WriteString("\n")
	if st.TurnedOver > 0 {
		fmt.Fprintf(&b, "%s held back: the site rose, but none of its goroutines stayed (growing load)\n", plural(st.TurnedOver, "rise"))
	}
	if len(leaks) == 0 {
		if st.Captures < window {
			fmt.Fprintf(&b, "no leak found (too few samples to tell: a leak takes at least %d)\n", window)
		} else {
			b.WriteString("no leak found\n")
		}
	} else {
		fmt.Fprintf(&b, "leaking: %s\n", plural(len(leaks), "site"))
		for _, l := range leaks {
			c := "not confirmed"
			if l.Confirmed {
				c = "confirmed"
			}
			fmt.Fprintf(&b, "  %s at %s (%s)\n", plural(l.Count, "goroutine"), siteLine(l.Site), c)
		}
	}
	r.printf("%s", b.String())
}

// sentinelFlags are the detection flags watch and replay share: the
// sentinel's own settings and Ignore options, with its defaults.
type sentinelFlags struct {
	window, minGrowth, maxSites, dumpLimit int
	noConfirm, json                        bool
	ignoreTop, ignoreAny, ignoreCreatedBy  stringList
	ignoreSite                             stringList
}

func (c *sentinelFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&c.window, "window", leaksentinel.DefaultWindow, "`samples` over which a site's floor must keep rising; at least 6")
	fs.IntVar(&c.minGrowth, "min-growth", leaksentinel.DefaultMinGrowth, "report a site whose floor rose by this many `goroutines` over the window\n(and by a quarter of itself)")
	fs.IntVar(&c.maxSites, "max-sites", leaksentinel.DefaultMaxSites, "`N` sites keep a history; the smallest are forgotten past it")
	fs.IntVar(&c.dumpLimit, "dump-limit", leaksentinel.DefaultDumpLimit, "read a ?debug=2 dump (creators, goroutine ids) only when a sample has at\nmost `N` goroutines (negative: never)")
	fs.BoolVar(&c.noConfirm, "no-confirm", false, "never ask the goroutineleak profile")
	fs.BoolVar(&c.json, "json", false, "print JSON lines: one event per line")
	fs.Var(&c.ignoreTop, "ignore-top-function", "never report goroutines whose top frame is `FUNC` (repeatable)")
	fs.Var(&c.ignoreAny, "ignore-any-function", "never report goroutines with `FUNC` anywhere in their stack (repeatable)")
	fs.Var(&c.ignoreCreatedBy, "ignore-created-by", "never report goroutines created by `FUNC` (repeatable)")
	fs.Var(&c.ignoreSite, "ignore-site", "never report the site whose function is `FUNC` (repeatable)")
}

func (c *sentinelFlags) validate() []error {
	var errs []error
	if c.window < 6 || c.window > 10_000 {
		errs = append(errs, fmt.Errorf("--window %d is not between 6 and 10000", c.window))
	}
	if c.minGrowth < 1 {
		errs = append(errs, fmt.Errorf("--min-growth %d is under 1", c.minGrowth))
	}
	if c.maxSites < 1 {
		errs = append(errs, fmt.Errorf("--max-sites %d is under 1", c.maxSites))
	}
	return errs
}

// options returns the sentinel's Options for the flags, reporting to r.
func (c *sentinelFlags) options(r *reporter) leaksentinel.Options {
	dumpLimit := c.dumpLimit
	if dumpLimit == 0 {
		dumpLimit = -1 // 0 goroutines: never; the library's 0 means its default
	}
	return leaksentinel.Options{
		Window:            c.window,
		MinGrowth:         c.minGrowth,
		MaxSites:          c.maxSites,
		DumpLimit:         dumpLimit,
		NoConfirm:         c.noConfirm,
		IgnoreTopFunction: c.ignoreTop,
		IgnoreAnyFunction: c.ignoreAny,
		IgnoreCreatedBy:   c.ignoreCreatedBy,
		IgnoreSite:        c.ignoreSite,
		Logger:            slog.New(r),
		OnLeak:            r.leak,
		OnResolve:         r.resolved,
	}
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
