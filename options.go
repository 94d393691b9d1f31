package leaksentinel

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults. Detection settings count samples, not seconds, so the same
// values hold at a test's fast interval and at production's slow one; the
// corpus figures that chose them are in docs/how-it-decides.md.
const (
	// DefaultInterval is how often the sentinel looks at the goroutine
	// count. A full capture is taken only when the floor of waiting
	// goroutines rose or a safety net falls due (see MaxSkip), so a steady
	// service pays for about one full capture a minute.
	DefaultInterval = 10 * time.Second
	// DefaultWindow is the number of samples over which a site's floor
	// must keep rising before it is reported: 4 minutes at the default
	// interval while goroutines pile up (a capture every tick), up to 24
	// while nothing grows. The corpus has no false alarm from 18 samples
	// up; 24 keeps a margin. A ramp of long-lived goroutines that ends in
	// a plateau is reported when it lasts half the window or more (the
	// corpus's slowest last 8 to 11 samples); one of goroutines that live
	// less than a third of the window is not, however long (see
	// docs/how-it-decides.md for the figures). A leak the runtime can
	// prove (the goroutineleak profile) is reported after a quarter of it.
	DefaultWindow = 24
	// DefaultMinGrowth is the smallest rise of a site's floor over the
	// window that counts as a leak.
	DefaultMinGrowth = 3
	// DefaultMaxSites bounds the sites whose history is kept.
	DefaultMaxSites = 1000
	// DefaultDumpLimit is the largest goroutine count at which the
	// sentinel takes a runtime.Stack dump, for an alert (and a suspect the
	// runtime is asked to prove): it names a leak's creators and wait
	// times, and its goroutine ids tell a leak from load whose goroutines
	// leave. The dump stops the world throughout, for 10-30 µs per
	// goroutine: BenchmarkAlertDump measured 25-28 µs on 2 shared cores,
	// 52-56 ms at 2,000 goroutines and 260-290 ms at 10,000 (the former
	// default). 2,000 keeps the pause near the 50 ms that the proof's
	// guard allows too, what a latency-sensitive service takes from a
	// rare event; above it, alerts come without creators and growing
	// load is not told from a leak by age.
	DefaultDumpLimit = 2_000
	// DefaultMaxProfiles is the number of alert captures ProfileDir keeps.
	DefaultMaxProfiles = 10
	// DefaultMaxSkip is the most consecutive ticks without a full
	// capture while the floor of waiting goroutines does not rise.
	DefaultMaxSkip = 5
)

// Options configures a [Sentinel]. The zero value is ready to use: every
// field's zero means the default it documents. Start copies Options;
// changing them afterwards has no effect.
type Options struct {
	// Interval is the time between two samples. Zero means
	// DefaultInterval.
	Interval time.Duration

	// Window is the number of samples over which a site's floor (its
	// lowest count over stretches of samples) must rise steadily before
	// the site is reported. Bursts that drain and pools that grow to a
	// bound are not reported, nor ramps that end in a plateau within half
	// the window, nor growing load whose goroutines leave within a third
	// of it (they are told apart by age before an alert): set it to at
	// least twice your longest warm-up of long-lived goroutines.
	// Slower leaks are found on windows of 2, 4 and 8 times as many
	// samples. A sample is a full capture: every tick while goroutines
	// pile up, every MaxSkip+1 ticks while nothing grows (see MaxSkip).
	// Zero means DefaultWindow; it must be at least 6.
	Window int

	// MinGrowth is the smallest rise of a site's floor over the window
	// that is reported. A site's floor must also rise by a quarter of
	// itself, so that a site with many healthy goroutines is not reported
	// for load that grows slowly. Zero means DefaultMinGrowth.
	MinGrowth int

	// OnLeak, if set, is called for every leak reported: when a site
	// starts leaking, and again each time its growth doubles. It is called
	// from one goroutine of the sentinel's, never concurrently, in order.
	// A panic in OnLeak is recovered and logged. A call that blocks does
	// not stop sampling: alerts wait in a queue of 64, and alerts that
	// find it full are dropped, counted and logged.
	OnLeak func(Leak)

	// OnResolve, if set, is called when a reported site is back at the
	// floor it rose from, with the leak as last reported and its count
	// now. It is called like OnLeak: from the same goroutine, in order with
	// the alerts, through the same queue.
	OnResolve func(Leak)

	// Logger receives alerts (WARN), resolutions (INFO) and the
	// sentinel's own problems. Nil means slog.Default().
	Logger *slog.Logger

	// Source is where the goroutines come from: nil means this process;
	// [NewHTTPSource] polls a live service's net/http/pprof endpoints,
	// [NewReplay] plays saved dumps and profiles. Every source goes through
	// the same loop and detector; a source that lacks a look (a dump, a
	// clock, a proof) gives alerts without what that look adds.
	Source Source

	// The Ignore options name goroutines that are never reported. They
	// mean what the test assertions' options of the same names mean
	// ([IgnoreTopFunction], [IgnoreAnyFunction], [IgnoreCreatedBy],
	// [IgnoreSite]); functions are named as tracebacks print them
	// ("net/http.(*persistConn).readLoop").
	//
	// IgnoreTopFunction: goroutines whose topmost frame, as a traceback
	// shows it, is one of these.
	IgnoreTopFunction []string
	// IgnoreAnyFunction: goroutines with one of these anywhere in their
	// stack.
	IgnoreAnyFunction []string
	// IgnoreCreatedBy: goroutines started by one of these ("created by").
	// Creators are known only when the source gives a dump (see
	// DumpLimit); a leak whose goroutines were all created by these
	// functions is dropped when it is explained.
	IgnoreCreatedBy []string
	// IgnoreSite: sites whose function (the first frame outside the
	// runtime and the blocking plumbing: the function a report names) is
	// one of these.
	IgnoreSite []string

	// ProfileDir, if set, is a directory where each alert writes the
	// goroutine profile (.pb.gz, for go tool pprof -base) and, when
	// DumpLimit allows, a text dump (.txt, as /debug/pprof/goroutine?
	// debug=2 shows it). The first sample writes a baseline profile.
	// Files are readable by the owner only; the directory is created if
	// needed. Their names say the program, host, process id, time and
	// kind, so that a directory shared by many instances holds them apart:
	// leaksentinel.checkout.web-7.4242.20261201T204937.123Z.goroutine.alert.pb.gz.
	// Each [Leak] lists the files written for it.
	ProfileDir string

	// MaxProfiles is the number of alert captures ProfileDir keeps, the
	// newest of this process; other processes' files are left alone.
	// Zero means DefaultMaxProfiles.
	MaxProfiles int

	// MaxSites bounds the number of sites whose history is kept: when
	// there are more, the smallest are forgotten. Zero means
	// DefaultMaxSites.
	MaxSites int

	// DumpLimit is the largest goroutine count at which a leak is
	// explained with a runtime.Stack dump (creators, wait times, the
	// text file in ProfileDir). Zero means DefaultDumpLimit; negative
	// means never.
	DumpLimit int

	// MaxSkip is the most consecutive ticks without a full capture. A
	// tick reads the number of waiting goroutines from runtime/metrics
	// (under a microsecond) and skips the capture unless that number's
	// floor rose by 1% since the last capture (a leak raises it; churn
	// does not). Skipped ticks are not samples: the detector sees real
	// captures only, so a window of Window samples spans more ticks while
	// nothing grows. Zero means DefaultMaxSkip; negative means a full
	// capture every tick.
	MaxSkip int

	// NoConfirm turns off confirmation by the runtime's goroutineleak
	// profile. Where the runtime has it (Go 1.27, or Go 1.26 built with
	// GOEXPERIMENT=goroutineleakprofile), the sentinel asks it about a
	// site before reporting it, at most once a window, at the price of a
	// garbage collection cycle.
	NoConfirm bool

	// WatchHeap turns on the memory alert: the live heap (the heap right
	// after a garbage collection, not its sawtooth) keeps rising over
	// HeapWindow ticks while no goroutine site does. Caches that fill to a
	// bound, warm-up and changes of GC pacing are not reported. With
	// ProfileDir set, the alert writes a heap profile from near the start
	// of the growth and one at the alert, for go tool pprof -base. Setting
	// OnHeapGrowth turns it on too.
	WatchHeap bool

	// HeapWindow is the number of ticks (not samples: the heap is read on
	// every tick) the live heap's floor must keep rising over. Zero means
	// DefaultHeapWindow.
	HeapWindow int

	// OnHeapGrowth, if set, is called for memory alerts, from the same
	// goroutine and queue as OnLeak.
	OnHeapGrowth func(HeapGrowth)

	// Test hooks: a tick source, a clock and a memory reading instead of
	// a ticker, the time and runtime/metrics.
	ticks  <-chan time.Time
	now    func() time.Time
	memory func() Memory
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.MinGrowth == 0 {
		o.MinGrowth = DefaultMinGrowth
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxProfiles == 0 {
		o.MaxProfiles = DefaultMaxProfiles
	}
	if o.MaxSites == 0 {
		o.MaxSites = DefaultMaxSites
	}
	if o.DumpLimit == 0 {
		o.DumpLimit = DefaultDumpLimit
	}
	if o.MaxSkip == 0 {
		o.MaxSkip = DefaultMaxSkip
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.memory == nil {
		o.memory = readMemory
	}
	if o.HeapWindow == 0 {
		o.HeapWindow = DefaultHeapWindow
	}
	return o
}

// validate reports nonsense values.
func (o Options) validate() error {
	var errs []error
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %v is negative", o.Interval))
	} else if o.Interval > 0 && o.Interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("interval %v is under a millisecond", o.Interval))
	}
	if o.Window != 0 && o.Window < 6 {
		errs = append(errs, fmt.Errorf("window of %d samples is under 6", o.Window))
	}
	if o.Window > 10_000 {
		errs = append(errs, fmt.Errorf("window of %d samples is over 10000", o.Window))
	}
	if o.MinGrowth < 0 {
		errs = append(errs, fmt.Errorf("min growth %d is negative", o.MinGrowth))
	}
	if o.MaxProfiles < 0 {
		errs = append(errs, fmt.Errorf("max profiles %d is negative", o.MaxProfiles))
	}
	if o.HeapWindow != 0 && o.HeapWindow < 12 {
		errs = append(errs, fmt.Errorf("heap window of %d ticks is under 12", o.HeapWindow))
	}
	if o.MaxSites < 0 {
		errs = append(errs, fmt.Errorf("max sites %d is negative", o.MaxSites))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("leaksentinel: options: %w", err)
	}
	return nil
}
