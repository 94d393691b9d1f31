package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

var replayCommand = &command{
	name:    "replay",
	summary: "play saved dumps and profiles through the detector, in time order",
	help: `Usage: leaksentinel replay [flags] FILE...|DIR...

Replay plays goroutine dumps and profiles that were saved one after another
(a cron job fetching /debug/pprof/goroutine every minute, a profiler's
downloads, a log with a SIGQUIT dump every hour) through the sentinel's own
sampling loop and detector, as if they were samples of a live service, and
prints each leak with the sample and time it was found at, its growth and,
where the files have them, its creators; then resolutions, and a summary.
It automates comparing profiles by hand with go tool pprof -base.

Every format group reads is accepted, gzipped or not: runtime.Stack output,
?debug=2, ?debug=1, panic and SIGQUIT tracebacks, ?debug=0 profiles. A
directory stands for the files directly in it. The files are played in the
order of the profiles' own times when every file is a profile, else of their
modification times, else of their names; the first line says which. A file
holding several dumps one after another is several samples. A file that
cannot be read or parsed is named with its error and skipped; the rest still
count.

Text dumps carry goroutine ids and creators, so leaks found in them name
their creators, and growing load whose goroutines leave is told from a leak;
profiles carry neither. The detection window counts samples, so a series
of 30 files needs --window at most 30 (and a leak to show in most of them).

Examples:
  leaksentinel replay /var/log/app/goroutines/
  leaksentinel replay --window 12 dump-*.txt
  leaksentinel replay --json --exit-on-leak profiles/ > leaks.jsonl
`,
	flags: func(fs *flag.FlagSet) any {
		c := &replayConfig{}
		c.sentinelFlags.register(fs)
		fs.BoolVar(&c.exitOnLeak, "exit-on-leak", false, "exit 1 if a leak was found")
		return c
	},
	run: func(ctx context.Context, e *env, cfg any, args []string) error {
		return runReplay(ctx, e, cfg.(*replayConfig), args)
	},
}

type replayConfig struct {
	sentinelFlags
	exitOnLeak bool
}

func runReplay(ctx context.Context, e *env, c *replayConfig, args []string) error {
	if len(args) == 0 {
		return usageError("want files or directories to replay")
	}
	if err := errors.Join(c.sentinelFlags.validate()...); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	src, err := leaksentinel.NewReplay(args...)
	if err != nil {
		return &exitError{code: exitInput, err: err}
	}
	r := newReporter(e, c.json, true)
	started := time.Now()
	files := src.Files()
	if r.json {
		r.event(started, "start", map[string]any{"files": files, "order": src.Order(), "window": c.window, "min_growth": c.minGrowth})
	} else {
		r.printf("replaying %s in order of %s (a leak is reported after %d samples at the earliest)\n",
			plural(len(files), "file"), src.Order(), c.window)
	}
	opts := c.options(r)
	opts.Source = src
	s, err := leaksentinel.Start(opts)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
	}
	s.Stop()
	r.summary(s, "replayed", time.Since(started), c.window)
	st := s.Stats()
	switch {
	case st.Captures == 0:
		return &exitError{code: exitInput, err: fmt.Errorf("no file could be read; the last error: %s", r.lastErr)}
	case c.exitOnLeak && st.Leaks > 0:
		return &exitError{code: exitFound, err: fmt.Errorf("%s found leaking", plural(st.Leaks, "site"))}
	}
	return nil
}
