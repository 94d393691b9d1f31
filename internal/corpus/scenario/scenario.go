// Package scenario runs one program of the detection corpus: a workload
// that leaks goroutines, or a benign one that must not be reported, watched
// by three detectors at once, each reporting what it saw as JSON lines on
// standard output:
//
//   - "sentinel": leaksentinel.Start, as a service would run it;
//   - "naive": the rule "total goroutines grew by half over a window";
//   - "goroutineleak": the runtime's goroutineleak profile alone, asked
//     once a window (where the runtime has it).
//
// Everything is paced in ticks: the workload gets a tick channel, the
// sentinel samples once a tick, waits are counted in ticks on a [Clock],
// so a scenario means the same thing at any -tick. The detectors stop at
// the end of the last tick, before the workload does. Programs live in
// ../scenarios/NAME and are run by ../evaluate.
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

// Spec describes a scenario.
type Spec struct {
	// Leak reports whether the workload leaks goroutines.
	Leak bool
	// Function is the leaking site's function as tracebacks print it
	// ("main.handle.func1"). A leak whose goroutines park at several sites
	// (a leaked connection's reader and writer; readers and writers queued
	// on one lost lock) lists each, separated by "|": an alert at any of
	// them is at the right site.
	Function string
	// CreatedBy is the function of the leaking goroutines' "created by"
	// frame; "|" separates alternatives.
	CreatedBy string
	// LeakStart is the tick at which the workload starts leaking: the
	// clock for time to detect. Ticks before it are warm-up.
	LeakStart int
	// Run is the workload. It must pace itself on tick (one value per
	// tick, counting from 0; closed at the end of the run) and return
	// soon after tick is closed or ctx is done. Goroutines it leaks are
	// meant to stay.
	Run func(ctx context.Context, tick <-chan int)
}

// Event is one JSON line of a scenario's output.
type Event struct {
	Event     string   `json:"event"` // "start", "leakstart", "alert", "end"
	Detector  string   `json:"detector,omitempty"`
	Tick      float64  `json:"tick"`                 // time since start, in ticks
	Function  string   `json:"function,omitempty"`   // site function (alert) or the expected one (start)
	File      string   `json:"file,omitempty"`       // site file
	Line      int      `json:"line,omitempty"`       // site line
	State     string   `json:"state,omitempty"`      // site state
	CreatedBy string   `json:"created_by,omitempty"` // the leak's creator (alert) or the expected one (start)
	Creators  []string `json:"creators,omitempty"`   // alert: every creator of the site, "function×count", most common first
	Count     int      `json:"count,omitempty"`
	Confirmed bool     `json:"confirmed,omitempty"`
	Leak      bool     `json:"leak,omitempty"`       // start: the scenario leaks
	LeakStart int      `json:"leak_start,omitempty"` // start: the tick the leak begins
	Samples   int      `json:"samples,omitempty"`    // end: sentinel ticks
	Captures  int      `json:"captures,omitempty"`   // end: sentinel full captures; alert, leakstart: captures so far
	Note      string   `json:"note,omitempty"`
	GoVersion string   `json:"go,omitempty"` // start: runtime.Version()
	// GoroutineLeak reports, in start, whether the runtime has the
	// goroutineleak profile (Go 1.27; Go 1.26 with
	// GOEXPERIMENT=goroutineleakprofile).
	GoroutineLeak bool `json:"goroutineleak,omitempty"`
}

// Main runs spec as the whole program, reading its settings from flags:
//
//	-tick 25ms     the sampling interval and the workload's pace
//	-ticks 96      how long to run, in ticks
//	-window 0      the sentinel's Window (0: its default)
//	-maxskip 0     the sentinel's MaxSkip (0: its default; -1: never skip)
//	-noconfirm     the sentinel's NoConfirm (no proof, hence no fast path)
func Main(spec Spec) {
	tick := flag.Duration("tick", 25*time.Millisecond, "sampling interval and workload pace")
	ticks := flag.Int("ticks", 96, "run length in ticks")
	window := flag.Int("window", 0, "sentinel Window in samples (0: default)")
	maxSkip := flag.Int("maxskip", 0, "sentinel MaxSkip (0: default, -1: never skip)")
	noConfirm := flag.Bool("noconfirm", false, "sentinel NoConfirm: no proof, so no fast path")
	flag.Parse()

	out := &output{enc: json.NewEncoder(os.Stdout), start: time.Now(), tick: *tick}
	out.emit(Event{Event: "start", Function: spec.Function, CreatedBy: spec.CreatedBy,
		Leak: spec.Leak, LeakStart: spec.LeakStart, GoVersion: runtime.Version(),
		GoroutineLeak: pprof.Lookup("goroutineleak") != nil})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt)
	defer stopSignals()
	ctx = context.WithValue(ctx, intervalKey{}, *tick)

	// The sentinel's samples are its full captures: alerts and the leak's
	// start carry the number taken so far, so that time to detect can be
	// counted in samples whatever the skipping.
	var sentinel atomic.Pointer[leaksentinel.Sentinel]
	captures := func() int {
		if s := sentinel.Load(); s != nil {
			return s.Stats().Captures
		}
		return 0
	}
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval:  *tick,
		Window:    *window,
		MaxSkip:   *maxSkip,
		NoConfirm: *noConfirm,
		DumpLimit: 100_000,
		OnLeak: func(l leaksentinel.Leak) {
			var creators []string
			for _, c := range l.Creators {
				creators = append(creators, fmt.Sprintf("%s×%d", c.Function, c.Count))
			}
			out.emit(Event{Event: "alert", Detector: "sentinel", Function: l.Function, File: l.File,
				Line: l.Line, State: string(l.State), CreatedBy: l.CreatedBy(), Creators: creators,
				Count: l.Count, Confirmed: l.Confirmed, Note: l.ConfirmNote, Captures: captures()})
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sentinel.Store(s)

	w := *window
	if w == 0 {
		w = leaksentinel.DefaultWindow
	}
	// The detectors stop at the end of the last tick, before the workload
	// is told to stop: what a workload leaves behind when its Run returns
	// (a Clock nobody advances, a server nobody holds) is not the workload,
	// and the goroutineleak profile would rightly call it leaked.
	watch, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		references(watch, out, *tick, w)
	}()
	var stats leaksentinel.Stats
	stopDetectors := func() {
		stopWatch()
		<-watched
		s.Stop()
		stats = s.Stats()
	}

	var wg sync.WaitGroup
	workTicks := make(chan int)
	wg.Add(1)
	go func() {
		defer wg.Done()
		pace(ctx, *tick, *ticks, workTicks, stopDetectors, cancel, func(i int) {
			if spec.Leak && i == spec.LeakStart {
				out.emit(Event{Event: "leakstart", Captures: captures()})
			}
		})
	}()
	spec.Run(ctx, workTicks)
	wg.Wait()
	out.emit(Event{Event: "end", Samples: stats.Ticks, Captures: stats.Captures})
}

type intervalKey struct{}

// Interval returns the run's tick, for the few workloads that must hand a
// duration to the standard library (a time.Ticker, time.AfterFunc): they
// express it as a multiple of Interval so that it means the same number of
// ticks at any -tick. Everything else waits on a [Clock].
func Interval(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(intervalKey{}).(time.Duration); ok {
		return d
	}
	return 25 * time.Millisecond
}

// pace sends tick numbers to the workload; at the end of the last tick it
// stops the detectors, then closes the channel and cancels the run.
func pace(ctx context.Context, tick time.Duration, ticks int, to chan<- int, stop, cancel func(), onTick func(int)) {
	defer cancel()
	defer close(to)
	defer stop()
	t := time.NewTicker(tick)
	defer t.Stop()
	for i := 0; i < ticks; i++ {
		onTick(i)
		select {
		case to <- i:
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// references runs the two reference detectors once a tick until ctx is done.
func references(ctx context.Context, out *output, tick time.Duration, window int) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var totals []int
	naiveFired, leakFired := false, false
	leakProfile := pprof.Lookup("goroutineleak")
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Naive: total goroutines grew by half over a window.
		totals = append(totals, runtime.NumGoroutine())
		if len(totals) > window && !naiveFired {
			before, now := totals[len(totals)-1-window], totals[len(totals)-1]
			if now*2 >= before*3 && now-before >= 3 {
				naiveFired = true
				out.emit(Event{Event: "alert", Detector: "naive", Count: now})
			}
		}
		// The goroutineleak profile alone, once a window.
		if leakProfile != nil && n%window == 0 && !leakFired {
			var b bytes.Buffer
			if err := leakProfile.WriteTo(&b, 0); err != nil {
				continue
			}
			snap, err := leaksentinel.ParseProfile(&b)
			if err != nil || snap.Total == 0 {
				continue
			}
			leakFired = true
			g := snap.Groups[0]
			out.emit(Event{Event: "alert", Detector: "goroutineleak", Function: g.Function, File: g.File,
				Line: g.Line, State: string(g.State), Count: g.Count, Confirmed: true})
		}
	}
}

type output struct {
	mu    sync.Mutex
	enc   *json.Encoder
	start time.Time
	tick  time.Duration
}

func (o *output) emit(e Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e.Tick = float64(time.Since(o.start)) / float64(o.tick)
	if err := o.enc.Encode(e); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
