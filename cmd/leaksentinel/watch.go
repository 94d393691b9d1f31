package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

var watchCommand = &command{
	name:    "watch",
	summary: "poll a live /debug/pprof/goroutine endpoint and report leaks",
	help: `Usage: leaksentinel watch [flags] URL

Watch polls the goroutine profile of a running service that serves
net/http/pprof, groups each sample by blocking site, and reports a site
whose floor (its lowest count over stretches of samples) keeps rising over
a window of samples, with the same detector and defaults as the in-process
sentinel: watch is the sentinel's own sampling loop, started on the
service's endpoints, so its verdicts are the library's: ramps that plateau,
bursts that drain, pools that fill up and growing load whose goroutines
leave are not leaks. It prints alerts and resolutions as they happen and, on
a terminal, a live status line (samples, goroutines, sites, suspects: sites
reported leaking and not resolved). Ctrl-C or SIGTERM stops it with a
summary.

URL is the service's address (localhost:6060), its /debug/pprof/ page, or
the goroutine profile's URL; query parameters are kept. Each sample fetches
the protobuf profile (?debug=0, about 5-8 µs of the service's CPU per
goroutine); --debug2 fetches ?debug=2 text instead, which names creators
and wait minutes but stops the service's world for the whole dump (about 1 s
at 100,000 goroutines). Without --debug2, ?debug=2 is fetched, while the
service has at most --dump-limit goroutines, once for each alert (creators,
and the goroutine ids that tell a leak from load whose goroutines leave) and
every third sample (the highest goroutine id: the clock that check reads).

A site found leaking is confirmed with the service's goroutineleak profile
(Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile), at most
once a window: the runtime proves those goroutines can never wake, at the
price of a GC cycle in the service; a site once proved stays confirmed. A
leak whose channel is still reachable is real but cannot be proved; it
stays unconfirmed.

Connection errors, timeouts, non-200 answers and unreadable bodies are
reported and retried, waiting twice as long after each failure (at most
16 intervals or 5 minutes), and back to --interval after a success. A
watch that ends without one successful sample exits 3 with the last error.

Examples:
  leaksentinel watch localhost:6060
  leaksentinel watch --interval 2s http://10.0.0.7:8080/debug/pprof/goroutine
  leaksentinel watch --json --duration 30m localhost:6060 > alerts.jsonl
  leaksentinel watch --exit-on-leak --duration 10m localhost:6060 || echo leaking
`,
	flags: func(fs *flag.FlagSet) any {
		c := &watchConfig{}
		fs.DurationVar(&c.interval, "interval", leaksentinel.DefaultInterval, "time between samples")
		c.sentinelFlags.register(fs)
		fs.BoolVar(&c.debug2, "debug2", false, "poll ?debug=2 text instead of the protobuf profile: creators and wait\nminutes in every sample, at a stop of the service's world each time")
		fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up on a request after this long")
		fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: at Ctrl-C or SIGTERM)")
		fs.BoolVar(&c.exitOnLeak, "exit-on-leak", false, "stop at the first leak reported and exit 1")
		return c
	},
	run: func(ctx context.Context, e *env, cfg any, args []string) error {
		return runWatch(ctx, e, cfg.(*watchConfig), args)
	},
}

type watchConfig struct {
	sentinelFlags
	interval, timeout, duration time.Duration
	debug2, exitOnLeak          bool
}

func (c *watchConfig) validate() error {
	errs := c.sentinelFlags.validate()
	if c.interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval %v is under a millisecond", c.interval))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v is not positive", c.timeout))
	}
	if c.duration < 0 {
		errs = append(errs, fmt.Errorf("--duration %v is negative", c.duration))
	}
	return errors.Join(errs...)
}

func runWatch(ctx context.Context, e *env, c *watchConfig, args []string) error {
	if len(args) != 1 {
		return usageError("want one URL, got %d arguments", len(args))
	}
	if err := c.validate(); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	src, err := leaksentinel.NewHTTPSource(args[0], leaksentinel.HTTPOptions{
		Client: &http.Client{Transport: transport}, Timeout: c.timeout, Debug2: c.debug2,
	})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	r := newReporter(e, c.json, false)
	started := time.Now()
	if r.json {
		r.event(started, "start", map[string]any{
			"url": src.String(), "interval_seconds": c.interval.Seconds(),
			"window": c.window, "min_growth": c.minGrowth,
		})
	} else {
		kind := "protobuf profile"
		if c.debug2 {
			kind = "?debug=2 text"
		}
		r.printf("watching %s every %v (%s; a leak is reported after %d samples, %d if the service's goroutineleak profile proves it)\n",
			src, c.interval, kind, c.window, c.window/4)
	}
	opts := c.options(r)
	opts.Source, opts.Interval = src, c.interval
	s, err := leaksentinel.Start(opts)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	found := r.found
	if !c.exitOnLeak {
		found = nil
	}
	status := time.NewTicker(max(c.interval, 100*time.Millisecond))
	defer status.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-found:
			break wait
		case <-status.C:
			r.statusLine(s)
		}
	}
	s.Stop()
	r.statusLine(s)
	r.summary(s, "stopped", time.Since(started), c.window)
	if c.exitOnLeak && s.Stats().Leaks > 0 {
		return &exitError{code: exitFound, err: fmt.Errorf("%s leaking", plural(len(s.Leaks()), "site"))}
	}
	if st := s.Stats(); st.Captures == 0 && st.Failed > 0 {
		r.mu.Lock()
		last := r.lastErr
		r.mu.Unlock()
		return &exitError{code: exitInput, err: fmt.Errorf("no successful sample in %s; the last error: %s", plural(st.Failed, "attempt"), last)}
	}
	return nil
}
