package leaksentinel

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Leak is an alert: a site whose floor kept rising over the detection
// window, with what the sentinel could learn about it.
type Leak struct {
	Site
	// Count is the number of goroutines at the site now.
	Count int
	// Growth is how much the site's floor rose over the window in which
	// it was found.
	Growth int
	// Rate is the growth per minute over that window.
	Rate float64
	// Since is when the growth began: the start of that window.
	Since time.Time
	// Found is the time of the sample the leak was reported at (the
	// snapshot's own time for a replay), and Sample its number, counting
	// the source's captures from 1. Window is the samples the growth was
	// seen over.
	Found  time.Time
	Sample int
	Window int
	// Creators are the "created by" frames of the site's goroutines, most
	// common first; empty when no dump could be taken (see
	// Options.DumpLimit).
	Creators []Creator
	// Stack is a representative full stack of the site.
	Stack Stack
	// OldestWait is the longest wait of the site's goroutines as the
	// runtime printed it (whole minutes, after a garbage collection);
	// zero when unknown.
	OldestWait time.Duration
	// StackBytes estimates the stack memory the site's goroutines hold:
	// their count times the process's average stack size. It does not
	// count the heap they keep reachable.
	StackBytes int64
	// HeapGrowth is how much the live heap grew while the site did: a
	// correlation, not a proof that the goroutines hold it. Zero when
	// unknown.
	HeapGrowth int64
	// Labels are the pprof labels seen on the site's goroutines: they say
	// which handler or job started them.
	Labels map[string][]string
	// Confirmed reports whether the runtime's goroutineleak profile
	// proved that goroutines at the site can never wake. A leak whose
	// channel is still reachable (from a global, a map of pending
	// replies, a server-wide quit channel) cannot be proved and is
	// reported unconfirmed.
	Confirmed bool
	// ProvedAt is when the runtime proved it: a goroutine proved leaked
	// stays leaked, so a proof confirms later alerts of the site too.
	ProvedAt time.Time
	// ConfirmNote says why confirmation was not attempted, when it was
	// not: "goroutineleak profile unavailable", "skipped: 4100 waiters
	// on one sync primitive", ...
	ConfirmNote string
	// Files are the paths of the files written in Options.ProfileDir
	// for this alert: the goroutine profile (.pb.gz) and, when a dump
	// was taken, its text (.txt). They are set on the alert that OnLeak
	// and the log get, so that OnLeak may ship them (to object storage,
	// a ticket, a profiler's upload API) before the sentinel prunes them,
	// MaxProfiles captures later. Empty without ProfileDir or when
	// writing failed.
	Files []string
}

// CreatedBy returns the most common creator's function, or "".
func (l Leak) CreatedBy() string {
	if len(l.Creators) == 0 {
		return ""
	}
	return l.Creators[0].Function
}

// String returns a one-line summary.
func (l Leak) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutine leak: %d goroutines at %s (+%d, %.1f/min)", l.Count, l.Site, l.Growth, l.Rate)
	if c := l.CreatedBy(); c != "" {
		fmt.Fprintf(&b, ", created by %s", c)
	}
	if l.Confirmed {
		b.WriteString(", confirmed by the runtime")
	}
	return b.String()
}

// LogValue implements [slog.LogValuer]: the alert's fields, flat and with
// their units in their names, named as in the JSON view (see
// [Sentinel.Handler]):
//
//	site                 "function file:line", for grep
//	state                why the goroutines are parked
//	count                goroutines at the site
//	growth               rise of the site's floor over the window, in goroutines
//	rate_per_minute      that rise per minute, in goroutines
//	window_samples       the samples the rise was seen over
//	sample               the capture it was reported at
//	since                when the rise began
//	created_by           the most common creator, "function file:line"
//	oldest_wait_seconds  the longest wait, when known
//	stack_bytes          stack memory the goroutines hold, estimated
//	heap_growth_bytes    the live heap's growth meanwhile, when known
//	labels               a group: one attribute per pprof label key
//	confirmed            whether the runtime proved the leak
//	proved_at            when it did
//	confirm_note         why it was not asked, when it was not
func (l Leak) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("site", fmt.Sprintf("%s %s:%d", l.Function, l.File, l.Line)),
		slog.String("state", string(l.State)),
		slog.Int("count", l.Count),
		slog.Int("growth", l.Growth),
		slog.Float64("rate_per_minute", roundRate(l.Rate)),
		slog.Int("window_samples", l.Window),
		slog.Int("sample", l.Sample),
		slog.Time("since", l.Since),
	}
	if len(l.Creators) > 0 {
		c := l.Creators[0]
		attrs = append(attrs, slog.String("created_by", fmt.Sprintf("%s %s:%d", c.Function, c.File, c.Line)))
	}
	if l.OldestWait > 0 {
		attrs = append(attrs, slog.Float64("oldest_wait_seconds", l.OldestWait.Seconds()))
	}
	if l.StackBytes > 0 {
		attrs = append(attrs, slog.Int64("stack_bytes", l.StackBytes))
	}
	if l.HeapGrowth != 0 {
		attrs = append(attrs, slog.Int64("heap_growth_bytes", l.HeapGrowth))
	}
	if len(l.Labels) > 0 {
		var labels []any
		for _, k := range sortedKeys(l.Labels) {
			labels = append(labels, slog.String(k, strings.Join(l.Labels[k], ",")))
		}
		attrs = append(attrs, slog.Group("labels", labels...))
	}
	attrs = append(attrs, slog.Bool("confirmed", l.Confirmed))
	if !l.ProvedAt.IsZero() {
		attrs = append(attrs, slog.Time("proved_at", l.ProvedAt))
	}
	if l.ConfirmNote != "" {
		attrs = append(attrs, slog.String("confirm_note", l.ConfirmNote))
	}
	if len(l.Files) > 0 {
		attrs = append(attrs, slog.String("files", strings.Join(l.Files, " ")))
	}
	return slog.GroupValue(attrs...)
}

func roundRate(r float64) float64 {
	return float64(int64(r*100+0.5)) / 100
}
