// Command evaluate runs the detection corpus and scores the sentinel
// against two reference detectors.
//
// Every program under ../scenarios is built once, with the toolchain that
// runs this command, and run as a process of its own; each reports what
// three detectors saw (see ../scenario). For every scenario the table
// shows whether the sentinel alerted, at which site, whether that is the
// leaking site and its creator, and how many samples after the leak began;
// then the same for the naive rule "total goroutines grew by half over a
// window" and for the runtime's goroutineleak profile asked once a window.
// The totals give recall, false alarms and time to detect per detector.
//
// Usage, from the module root:
//
//	go run ./internal/corpus/evaluate                      # defaults: -tick 25ms, the sentinel's window
//	go run ./internal/corpus/evaluate -run 'mutex|http'    # a few scenarios
//	go run ./internal/corpus/evaluate -sweep 6,9,12,18,24  # one summary line per window
//
// The exit status is 1 when the sentinel misses a target (a leak not found
// at its site with its creator, a false alarm, a detection later than two
// windows after the leak began), unless -check=false; 2 on errors.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	var (
		cfg   config
		run   string
		sweep string
		js    bool
		check bool
	)
	flag.DurationVar(&cfg.Tick, "tick", 25*time.Millisecond, "sampling interval and workload pace")
	flag.IntVar(&cfg.Window, "window", 0, "sentinel Window in samples (0: the sentinel's default)")
	flag.IntVar(&cfg.MaxSkip, "maxskip", 0, "sentinel MaxSkip (0: its default, -1: never skip)")
	flag.BoolVar(&cfg.NoConfirm, "noconfirm", false, "sentinel NoConfirm: no proof by the goroutineleak profile, so no fast path")
	flag.IntVar(&cfg.Ticks, "ticks", 0, "run length in ticks (0: max(96, 8×window))")
	flag.IntVar(&cfg.Parallel, "parallel", 2, "scenarios run at once")
	flag.BoolVar(&cfg.LeakProfile, "leakprofile", true, "on Go 1.26, build with GOEXPERIMENT=goroutineleakprofile (Go 1.27 always has the profile)")
	flag.StringVar(&run, "run", "", "run only the scenarios whose name matches this regexp")
	flag.StringVar(&sweep, "sweep", "", `comma-separated windows ("6,9,12,18,24"): run the corpus once per window and print one summary line each`)
	flag.BoolVar(&js, "json", false, "print JSON instead of tables")
	flag.BoolVar(&check, "check", true, "exit 1 when the sentinel misses a target")
	flag.BoolVar(&cfg.Verbose, "v", false, "print progress on standard error")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " ")))
	}
	if run != "" {
		re, err := regexp.Compile(run)
		if err != nil {
			fail(fmt.Errorf("-run: %w", err))
		}
		cfg.Run = re
	}
	windows, err := parseSweep(sweep)
	if err != nil {
		fail(err)
	}
	if cfg.Verbose {
		cfg.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	corpus, err := build(ctx, cfg)
	if err != nil {
		fail(err)
	}
	defer corpus.Close()
	if v := runtime.Version(); corpus.GoVersion != v {
		fmt.Fprintf(os.Stderr, "evaluate: warning: scenarios built with %s (the go command on PATH), evaluator running on %s\n", corpus.GoVersion, v)
	}

	met := true
	if windows == nil {
		rep, err := evaluate(ctx, corpus, cfg)
		if err != nil {
			corpus.Close()
			fail(err)
		}
		if js {
			writeJSON(rep)
		} else {
			printReport(os.Stdout, rep)
		}
		met = rep.Met()
	} else {
		var reps []*report
		if !js {
			printSweepHeader(os.Stdout, corpus, cfg)
		}
		for _, w := range windows {
			c := cfg
			c.Window = w
			rep, err := evaluate(ctx, corpus, c)
			if err != nil {
				corpus.Close()
				fail(err)
			}
			if !js {
				printSweepLine(os.Stdout, rep)
			}
			reps = append(reps, rep)
			met = met && rep.Met()
		}
		if js {
			writeJSON(reps)
		}
	}
	if check && !met {
		corpus.Close()
		os.Exit(1)
	}
}

func parseSweep(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 6 {
			return nil, fmt.Errorf("-sweep: %q is not a window of at least 6 samples", f)
		}
		out = append(out, w)
	}
	return out, nil
}

func writeJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "evaluate:", err)
	os.Exit(2)
}
