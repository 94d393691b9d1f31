package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

// The detectors, as scenario events name them.
const (
	sentinel      = "sentinel"
	naive         = "naive"
	goroutineLeak = "goroutineleak"
)

var detectors = []string{sentinel, naive, goroutineLeak}

// runTicks returns the run length for window: long enough for the
// sentinel's second scale (2×window samples of floors) to fill well after
// a late leak start, so that a larger window is not penalised by the run
// ending.
func runTicks(window int) int {
	return max(96, 8*window)
}

// evaluate runs every scenario of c under cfg and scores them.
func evaluate(ctx context.Context, c *corpus, cfg config) (*report, error) {
	if cfg.Window == 0 {
		cfg.Window = leaksentinel.DefaultWindow
	}
	if cfg.Ticks == 0 {
		cfg.Ticks = runTicks(cfg.Window)
	}
	rep := &report{
		GoVersion:    c.GoVersion,
		GoExperiment: c.GoExperiment,
		Tick:         cfg.Tick.String(),
		tick:         cfg.Tick,
		Window:       cfg.Window,
		MaxSkip:      cfg.MaxSkip,
		NoConfirm:    cfg.NoConfirm,
		Ticks:        cfg.Ticks,
		Results:      make([]*result, len(c.Names)),
	}
	start := time.Now()
	sem := make(chan struct{}, max(cfg.Parallel, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, name := range c.Names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := runScenario(ctx, c.Path(name), cfg)
			r.Name = name
			rep.Results[i] = r
			if cfg.Progress != nil {
				mu.Lock()
				fmt.Fprintf(cfg.Progress, "window %d: %-20s %s\n", cfg.Window, name, r.summary())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(start).Round(time.Second).String()
	for _, r := range rep.Results {
		rep.LeakProfile = rep.LeakProfile || r.LeakProfile
	}
	rep.total()
	return rep, nil
}

// runScenario runs one program and judges what its detectors reported.
func runScenario(ctx context.Context, bin string, cfg config) *result {
	run := time.Duration(cfg.Ticks) * cfg.Tick
	ctx, cancel := context.WithTimeout(ctx, 3*run+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"-tick", cfg.Tick.String(),
		"-ticks", strconv.Itoa(cfg.Ticks),
		"-window", strconv.Itoa(cfg.Window),
		"-maxskip", strconv.Itoa(cfg.MaxSkip),
		"-noconfirm="+strconv.FormatBool(cfg.NoConfirm))
	var stdout bytes.Buffer
	stderr := &tail{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()

	events, perr := parseEvents(&stdout)
	r := judge(events, cfg)
	switch {
	case err != nil:
		r.Err = fmt.Sprintf("%v: %s", err, lastLine(stderr.String()))
	case perr != nil:
		r.Err = perr.Error()
	case r.Samples == 0:
		r.Err = "no end event"
	}
	return r
}

func parseEvents(out *bytes.Buffer) ([]scenario.Event, error) {
	var events []scenario.Event
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e scenario.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return events, fmt.Errorf("output line %d: %w", n, err)
		}
		events = append(events, e)
	}
	return events, sc.Err()
}

// result is what one scenario's run showed.
type result struct {
	Name        string  `json:"name"`
	Leak        bool    `json:"leak"`
	LeakStart   int     `json:"leak_start"`
	Function    string  `json:"function,omitempty"`   // the leaking site(s), "|"-separated
	CreatedBy   string  `json:"created_by,omitempty"` // their creator(s)
	GoVersion   string  `json:"go"`
	LeakProfile bool    `json:"goroutineleak_profile"` // the runtime had the profile
	Samples     int     `json:"samples"`               // sentinel samples taken
	Captures    int     `json:"captures"`              // sentinel full captures
	Ticks       float64 `json:"ticks"`                 // run length, in ticks
	// StartCaptures is the sentinel's captures when the leak began, or -1:
	// the sentinel's samples are its captures (skipped ticks are not
	// samples), so its time to detect in samples counts captures.
	StartCaptures int    `json:"start_captures"`
	Err           string `json:"error,omitempty"`

	Verdicts map[string]*verdict `json:"verdicts"` // by detector
}

// verdict is one detector's outcome on one scenario.
type verdict struct {
	Alerts int `json:"alerts"` // alert events, repeats included
	// Site is the first alert at the right site, else the first alert:
	// "function file:line" (empty for the naive rule, which names none).
	Site         string   `json:"site,omitempty"`
	State        string   `json:"state,omitempty"`
	CreatedBy    string   `json:"created_by,omitempty"`
	Creators     []string `json:"creators,omitempty"`
	Confirmed    bool     `json:"confirmed,omitempty"`
	RightSite    bool     `json:"right_site"`    // leak: an alert at the leaking site, after it began
	RightCreator bool     `json:"right_creator"` // and with its creator first
	// Wrong lists alerts of a leak scenario at other sites, or before the
	// leak began; for a benign scenario, every alerted site.
	Wrong  []string `json:"wrong,omitempty"`
	Sample int      `json:"sample,omitempty"` // the sample of Site's first alert
	// Detect is Sample minus the leak's start, in samples; Seconds the
	// same in seconds, from the alert's time.
	Detect  int     `json:"detect,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	// DetectTicks is the same in ticks: the sentinel's samples are its
	// captures, and a tick that skips the capture is not one.
	DetectTicks int `json:"detect_ticks,omitempty"`
}

func (v *verdict) alerted() bool { return v.Alerts > 0 }

// falseAlarm reports whether v is a false alarm: an alert on a benign
// scenario, or on a leak at a wrong site or before the leak began.
func (v *verdict) falseAlarm() bool { return len(v.Wrong) > 0 }

// judge scores the events of one run.
func judge(events []scenario.Event, cfg config) *result {
	r := &result{Verdicts: make(map[string]*verdict), StartCaptures: -1}
	for _, d := range detectors {
		r.Verdicts[d] = &verdict{}
	}
	for _, e := range events {
		switch e.Event {
		case "start":
			r.Leak, r.LeakStart = e.Leak, e.LeakStart
			r.Function, r.CreatedBy = e.Function, e.CreatedBy
			r.GoVersion, r.LeakProfile = e.GoVersion, e.GoroutineLeak
		case "leakstart":
			r.StartCaptures = e.Captures
		case "end":
			r.Samples, r.Captures, r.Ticks = e.Samples, e.Captures, e.Tick
		case "alert":
			v := r.Verdicts[e.Detector]
			if v == nil {
				continue
			}
			v.Alerts++
			r.score(v, e, cfg)
		}
	}
	return r
}

// score adds alert e to v.
func (r *result) score(v *verdict, e scenario.Event, cfg config) {
	site := shortFunc(e.Function)
	if e.File != "" {
		site = fmt.Sprintf("%s %s:%d", site, shortFile(e.File), e.Line)
	}
	sample := int(math.Floor(e.Tick))
	set := func() {
		v.Site, v.State, v.CreatedBy, v.Creators, v.Confirmed = site, e.State, e.CreatedBy, e.Creators, e.Confirmed
		v.Sample = sample
		v.Detect = sample - r.LeakStart
		if e.Detector == sentinel && r.StartCaptures >= 0 && e.Captures > 0 {
			v.Detect = e.Captures - r.StartCaptures
		}
		v.Seconds = (e.Tick - float64(r.LeakStart)) * cfg.Tick.Seconds()
		v.DetectTicks = sample - r.LeakStart
	}
	if v.Alerts == 1 {
		set()
	}
	if !r.Leak {
		addOnce(&v.Wrong, orNaive(site))
		return
	}
	right := e.Detector == naive || oneOf(e.Function, r.Function)
	if !right || sample < r.LeakStart {
		what := orNaive(site)
		if right {
			what += fmt.Sprintf(" (sample %d, before the leak)", sample)
		}
		addOnce(&v.Wrong, what)
		return
	}
	if !v.RightSite {
		v.RightSite = true
		set()
		v.RightCreator = e.Detector == sentinel && oneOf(e.CreatedBy, r.CreatedBy)
	}
}

func orNaive(site string) string {
	if site == "" {
		return "(total count)"
	}
	return site
}

func addOnce(list *[]string, s string) {
	for _, x := range *list {
		if x == s {
			return
		}
	}
	*list = append(*list, s)
}

// oneOf reports whether fn is one of the "|"-separated alternatives.
func oneOf(fn, alternatives string) bool {
	if fn == "" {
		return false
	}
	for _, a := range strings.Split(alternatives, "|") {
		if fn == a {
			return true
		}
	}
	return false
}

// shortFunc drops the corpus's own import path from fn, for the table:
// "lib/pubsub.(*Subscription).forward".
func shortFunc(fn string) string {
	return strings.TrimPrefix(fn, "github.com/leaksentinel/leaksentinel/internal/corpus/")
}

// shortFile returns the last two elements of a path: "evaluate/main.go".
func shortFile(f string) string {
	if i := strings.LastIndexByte(f, '/'); i >= 0 {
		if j := strings.LastIndexByte(f[:i], '/'); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}

// summary is a one-line account for progress output.
func (r *result) summary() string {
	if r.Err != "" {
		return "error: " + r.Err
	}
	v := r.Verdicts[sentinel]
	switch {
	case !r.Leak && v.alerted():
		return "benign, FALSE ALARM at " + strings.Join(v.Wrong, ", ")
	case !r.Leak:
		return "benign, quiet"
	case v.RightSite:
		return fmt.Sprintf("leak, found at sample %d (+%d)", v.Sample, v.Detect)
	default:
		return "leak, MISSED"
	}
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
