package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/internal/detect"
)

// console writes watch's output: lines for people, or JSON lines, and on a
// terminal a status line that each other line first erases.
type console struct {
	stdout, stderr io.Writer
	tty            bool // keep a status line; never with json
	json           bool
	status         bool // a status line is on screen
}

// clearStatus erases the status line: carriage return, erase to the end
// of the line.
func (c *console) clearStatus() {
	if c.status {
		io.WriteString(c.stdout, "\r\x1b[K")
		c.status = false
	}
}

func (c *console) printf(format string, args ...any) {
	c.clearStatus()
	fmt.Fprintf(c.stdout, format, args...)
}

func (c *console) errorf(format string, args ...any) {
	c.clearStatus()
	fmt.Fprintf(c.stderr, format, args...)
}

func (c *console) setStatus(s string) {
	if !c.tty {
		return
	}
	io.WriteString(c.stdout, "\r\x1b[K"+s)
	c.status = true
}

// event writes one JSON line: {"time": ..., "event": kind, fields...}.
func (c *console) event(t time.Time, kind string, fields map[string]any) {
	m := map[string]any{"time": t.Format(time.RFC3339Nano), "event": kind}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"time": m["time"], "event": "error", "error": err.Error()})
	}
	c.stdout.Write(append(b, '\n'))
}

const clock = "15:04:05"

// alert prints a leak (ev.Kind Leak) or its growth (Grew).
func (w *watcher) alert(ev detect.Event[leaksentinel.Site], l leaksentinel.Leak, p proof, now time.Time) {
	kind := "leak"
	if ev.Kind == detect.Grew {
		kind = "grew"
	}
	if w.out.json {
		f := map[string]any{
			"site":            toSite(l.Site),
			"count":           l.Count,
			"growth":          l.Growth,
			"window_samples":  ev.Span,
			"rate_per_minute": roundRate(l.Rate),
			"confirmed":       l.Confirmed,
		}
		if !l.Since.IsZero() {
			f["since"] = l.Since.Format(time.RFC3339Nano)
		}
		if l.Confirmed {
			f["leak_profile_count"] = p.leaked
			f["leak_profile_time"] = p.at.Format(time.RFC3339Nano)
		}
		if l.ConfirmNote != "" {
			f["confirm_note"] = l.ConfirmNote
		}
		if len(l.Creators) > 0 {
			f["creators"] = toCreators(l.Creators)
		}
		if l.OldestWait > 0 {
			f["oldest_wait_minutes"] = int(l.OldestWait / time.Minute)
		}
		if len(l.Labels) > 0 {
			f["labels"] = l.Labels
		}
		if len(l.Stack.Frames) > 0 {
			f["stack"] = toStack(l.Stack)
		}
		w.out.event(now, kind, f)
		return
	}
	var b strings.Builder
	if ev.Kind == detect.Grew {
		fmt.Fprintf(&b, "%s still leaking: %s at %s, +%d since it started leaking\n",
			now.Format(clock), plural(l.Count, "goroutine"), siteLine(l.Site), l.Growth)
	} else {
		fmt.Fprintf(&b, "%s LEAK: %s at %s, floor +%d over %d samples (%.1f/min)\n",
			now.Format(clock), plural(l.Count, "goroutine"), siteLine(l.Site), l.Growth, ev.Span, l.Rate)
	}
	indent := "    "
	switch {
	case l.Confirmed && p.fresh:
		fmt.Fprintf(&b, "%sconfirmed: the service's goroutineleak profile holds %s there\n", indent, plural(p.leaked, "goroutine"))
	case l.Confirmed:
		fmt.Fprintf(&b, "%sconfirmed: the service's goroutineleak profile held %s there at %s\n", indent, plural(p.leaked, "goroutine"), p.at.Format(clock))
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
	if ev.Kind == detect.Leak && len(l.Stack.Frames) > 0 {
		writeStack(&b, indent, l.Stack, 8)
	}
	w.out.printf("%s", b.String())
}

// siteLine is "[state] function file.go:53".
func siteLine(s leaksentinel.Site) string {
	return fmt.Sprintf("[%s] %s", s.State, siteShort(s))
}

func (w *watcher) resolved(ev detect.Event[leaksentinel.Site], now time.Time) {
	if w.out.json {
		w.out.event(now, "resolved", map[string]any{"site": toSite(ev.Key), "count": ev.Count})
		return
	}
	w.out.printf("%s resolved: %s is back to %s\n", now.Format(clock), siteLine(ev.Key), plural(ev.Count, "goroutine"))
}

// report prints a failed sample.
func (w *watcher) report(err error) {
	now := w.now()
	if w.out.json {
		w.out.event(now, "error", map[string]any{"error": err.Error(), "failures": w.failing, "retry_in_seconds": w.retry.Seconds()})
		return
	}
	w.out.errorf("%s leaksentinel watch: %v (failure %d; retrying in %v)\n", now.Format(clock), err, w.failing, w.retry)
}

func (w *watcher) recovered() {
	now := w.now()
	if w.out.json {
		w.out.event(now, "recovered", map[string]any{"failures": w.failing})
		return
	}
	w.out.errorf("%s leaksentinel watch: sampling again after %s\n", now.Format(clock), plural(w.failing, "failure"))
}

func (w *watcher) note(s string) {
	now := w.now()
	if w.out.json {
		w.out.event(now, "note", map[string]any{"note": s})
		return
	}
	w.out.errorf("%s note: %s\n", now.Format(clock), s)
}

// status rewrites the status line on a terminal.
func (w *watcher) status() {
	if !w.out.tty {
		return
	}
	s := fmt.Sprintf("samples %d", w.samples)
	if w.last != nil {
		s += fmt.Sprintf(" | goroutines %d | sites %d", w.last.Total, len(w.last.Groups))
	}
	s += fmt.Sprintf(" | suspects %d", len(w.open))
	if w.failing > 0 {
		s += fmt.Sprintf(" | failing (%d), retrying in %v", w.failing, w.retry)
	}
	w.out.setStatus(s)
}

// leaking returns the open leaks, largest first.
func (w *watcher) leaking() []leaksentinel.Leak {
	out := make([]leaksentinel.Leak, 0, len(w.open))
	for _, l := range w.open {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b leaksentinel.Leak) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Site.String(), b.Site.String())
	})
	return out
}

// summary prints what the watch saw, when it stops.
func (w *watcher) summary() {
	now := w.now()
	took := now.Sub(w.started).Round(time.Millisecond)
	leaks := w.leaking()
	if w.out.json {
		f := map[string]any{"duration_seconds": took.Seconds(), "samples": w.samples, "failed": w.failed, "leaks_reported": w.reported}
		if w.last != nil {
			f["goroutines"] = w.last.Total
			f["sites"] = len(w.last.Groups)
		}
		open := []map[string]any{}
		for _, l := range leaks {
			open = append(open, map[string]any{"site": toSite(l.Site), "count": l.Count, "confirmed": l.Confirmed})
		}
		f["leaking"] = open
		w.out.event(now, "summary", f)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stopped after %v: %s, %d failed", took, plural(w.samples, "sample"), w.failed)
	if w.last != nil {
		fmt.Fprintf(&b, "; last: %s at %s", plural(w.last.Total, "goroutine"), plural(len(w.last.Groups), "site"))
	}
	b.WriteString("\n")
	if len(leaks) == 0 {
		if w.samples < w.cfg.window {
			fmt.Fprintf(&b, "no leak found (too few samples to tell: a leak takes at least %d)\n", w.cfg.window)
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
	w.out.printf("%s", b.String())
}

func roundRate(r float64) float64 {
	return float64(int64(r*100+0.5)) / 100
}
