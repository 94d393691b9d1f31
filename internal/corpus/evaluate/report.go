package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is one evaluation of the corpus.
type report struct {
	GoVersion    string `json:"go"`
	GoExperiment string `json:"goexperiment,omitempty"`
	LeakProfile  bool   `json:"goroutineleak_profile"`
	Tick         string `json:"tick"`
	tick         time.Duration
	Window       int       `json:"window"`
	MaxSkip      int       `json:"maxskip,omitempty"`
	NoConfirm    bool      `json:"noconfirm,omitempty"`
	Ticks        int       `json:"ticks"`
	Elapsed      string    `json:"elapsed"`
	Results      []*result `json:"results"`
	Totals       []*totals `json:"totals"` // one per detector
}

// totals sums one detector's verdicts.
type totals struct {
	Detector string `json:"detector"`
	Leaks    int    `json:"leaks"`
	Benign   int    `json:"benign"`
	Errors   int    `json:"errors"`
	// Found counts leaks alerted at the right site after they began (for
	// the naive rule, which names no site: alerted after they began);
	// FoundCreator those also naming the right creator first (sentinel).
	Found        int `json:"found"`
	FoundCreator int `json:"found_creator"`
	// FalseBenign counts benign scenarios alerted; WrongSite leak
	// scenarios alerted at a wrong site or before the leak began.
	FalseBenign int `json:"false_benign"`
	WrongSite   int `json:"wrong_site"`
	// Detection times of the leaks found, in samples after the leak's
	// start and in seconds.
	MedianSamples float64 `json:"median_samples"`
	WorstSamples  int     `json:"worst_samples"`
	MedianSeconds float64 `json:"median_seconds"`
	WorstSeconds  float64 `json:"worst_seconds"`
	MedianTicks   float64 `json:"median_ticks"`
	WorstTicks    int     `json:"worst_ticks"`
	// InTime counts leaks found within two windows of their start.
	InTime int `json:"within_two_windows"`

	Missed []string `json:"missed,omitempty"` // leaks not found at the right site
	Late   []string `json:"late,omitempty"`   // found later than two windows
	False  []string `json:"false,omitempty"`  // scenarios with a false alarm
}

func (rep *report) total() {
	rep.Totals = nil
	for _, d := range detectors {
		t := &totals{Detector: d}
		var samples, ticks []int
		var seconds []float64
		for _, r := range rep.Results {
			if r.Err != "" {
				t.Errors++
			}
			v := r.Verdicts[d]
			if v.falseAlarm() {
				t.False = append(t.False, r.Name)
			}
			if !r.Leak {
				t.Benign++
				if v.alerted() {
					t.FalseBenign++
				}
				continue
			}
			t.Leaks++
			if v.falseAlarm() {
				t.WrongSite++
			}
			if !v.RightSite {
				t.Missed = append(t.Missed, r.Name)
				continue
			}
			t.Found++
			if v.RightCreator {
				t.FoundCreator++
			}
			if v.Detect <= 2*rep.Window {
				t.InTime++
			} else {
				t.Late = append(t.Late, r.Name)
			}
			samples = append(samples, v.Detect)
			seconds = append(seconds, v.Seconds)
			ticks = append(ticks, v.DetectTicks)
		}
		if len(samples) > 0 {
			slices.Sort(samples)
			slices.Sort(seconds)
			t.MedianSamples = median(samples)
			t.MedianSeconds = median(seconds)
			t.WorstSamples = samples[len(samples)-1]
			t.WorstSeconds = seconds[len(seconds)-1]
			slices.Sort(ticks)
			t.MedianTicks = median(ticks)
			t.WorstTicks = ticks[len(ticks)-1]
		}
		rep.Totals = append(rep.Totals, t)
	}
}

func median[T int | float64](sorted []T) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return float64(sorted[n/2])
	}
	return float64(sorted[n/2-1]+sorted[n/2]) / 2
}

func (rep *report) sentinel() *totals { return rep.Totals[0] }

// Met reports whether the sentinel met every target: each leak found at
// its site, with its creator, within two windows of its start; no false
// alarm; no scenario failing to run.
func (rep *report) Met() bool {
	t := rep.sentinel()
	return t.Errors == 0 && t.Found == t.Leaks && t.FoundCreator == t.Leaks &&
		t.InTime == t.Leaks && t.FalseBenign == 0 && t.WrongSite == 0
}

// miss is one reason rep misses the targets.
type miss struct {
	Scenario string
	Kind     string // "error", "false alarm", "missed", "creator", "late", "wrong site"
	Detail   string
}

// misses lists what keeps rep from meeting the targets.
func (rep *report) misses() []miss {
	var out []miss
	add := func(r *result, kind, format string, args ...any) {
		out = append(out, miss{r.Name, kind, fmt.Sprintf(format, args...)})
	}
	for _, r := range rep.Results {
		v := r.Verdicts[sentinel]
		switch {
		case r.Err != "":
			add(r, "error", "%s", r.Err)
		case !r.Leak && v.alerted():
			add(r, "false alarm", "at %s", strings.Join(v.Wrong, ", "))
		case !r.Leak:
		case !v.RightSite:
			add(r, "missed", "not found at %s", r.Function)
		default:
			if !v.RightCreator {
				add(r, "creator", "%q first, want %s", v.CreatedBy, r.CreatedBy)
			}
			if v.Detect > 2*rep.Window {
				add(r, "late", "found %d samples after the leak began, over two windows (%d)", v.Detect, 2*rep.Window)
			}
			if v.falseAlarm() {
				add(r, "wrong site", "also alerted at %s", strings.Join(v.Wrong, ", "))
			}
		}
	}
	return out
}

// printReport writes the per-scenario table, the totals and the verdict.
func printReport(w io.Writer, rep *report) {
	fmt.Fprintf(w, "%s, GOEXPERIMENT=%s, goroutineleak profile: %s\n", rep.GoVersion, rep.GoExperiment, onOff(rep.LeakProfile))
	fast := "on"
	if rep.NoConfirm {
		fast = "off (-noconfirm)"
	}
	fmt.Fprintf(w, "tick %s, window %d samples (%s), maxskip %d, fast path %s, %d ticks a run, %d scenarios in %s\n\n",
		rep.Tick, rep.Window, seconds(rep, float64(rep.Window)), rep.MaxSkip, fast, rep.Ticks, len(rep.Results), rep.Elapsed)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTRUTH\tSENTINEL\tSITE\tSITE OK\tCREATOR OK\tSAMPLE\tDETECT\tTICKS\tSECONDS\tNAIVE\tGOROUTINELEAK\t")
	for _, r := range rep.Results {
		truth := "benign"
		if r.Leak {
			truth = fmt.Sprintf("leak@%d", r.LeakStart)
		}
		if r.Err != "" {
			fmt.Fprintf(tw, "%s\t%s\tERROR: %s\t\t\t\t\t\t\t\t\t\t\n", r.Name, truth, r.Err)
			continue
		}
		v := r.Verdicts[sentinel]
		verdict, site, siteOK, creatorOK, sample, detect, ticks, secs := "-", "", "", "", "", "", "", ""
		if v.alerted() {
			verdict = "alert"
			site = v.Site
			sample = fmt.Sprint(v.Sample)
			if v.Confirmed {
				verdict = "alert (confirmed)"
			}
		}
		if r.Leak {
			siteOK, creatorOK = yesNo(v.RightSite), yesNo(v.RightCreator)
			if v.RightSite {
				detect = fmt.Sprintf("%+d", v.Detect)
				ticks = fmt.Sprintf("%+d", v.DetectTicks)
				secs = fmt.Sprintf("%.2fs", v.Seconds)
			}
			if v.falseAlarm() {
				siteOK += " (+wrong)"
			}
		} else if v.alerted() {
			siteOK = "FALSE ALARM"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, truth, verdict, site, siteOK, creatorOK,
			sample, detect, ticks, secs, reference(r, r.Verdicts[naive]), reference(r, r.Verdicts[goroutineLeak]))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DETECTOR\tRECALL\tWITH CREATOR\tFALSE ALARMS (BENIGN + WRONG SITE OR EARLY)\tMEDIAN DETECT\tWORST DETECT\tMEDIAN / WORST TICKS\tWITHIN 2 WINDOWS\t")
	for _, t := range rep.Totals {
		creator := "-"
		if t.Detector == sentinel {
			creator = fmt.Sprintf("%d/%d", t.FoundCreator, t.Leaks)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d/%d + %d\t%s\t%s\t%g / %d\t%d/%d\t\n", t.Detector, t.Found, t.Leaks, creator,
			t.FalseBenign, t.Benign, t.WrongSite, detectTime(t.MedianSamples, t.MedianSeconds, t.Found),
			detectTime(float64(t.WorstSamples), t.WorstSeconds, t.Found), t.MedianTicks, t.WorstTicks, t.InTime, t.Found)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nnaive: total goroutines grew by half over a window (names no site); goroutineleak: the runtime's profile alone, once a window.")
	fmt.Fprintln(w, "DETECT: samples from the leak's start to the first alert at its site (the sentinel's samples are its full captures; the references sample every tick); SECONDS: the same in time.")

	fmt.Fprintln(w)
	if rep.Met() {
		fmt.Fprintf(w, "targets met: every leak found at its site with its creator within two windows (%d samples), no false alarm\n", 2*rep.Window)
		return
	}
	fmt.Fprintln(w, "targets missed:")
	for _, m := range rep.misses() {
		fmt.Fprintf(w, "  - %s: %s: %s\n", m.Scenario, m.Kind, m.Detail)
	}
}

// reference sums up a reference detector's verdict in one cell.
func reference(r *result, v *verdict) string {
	if !v.alerted() {
		return "-"
	}
	if !r.Leak {
		return fmt.Sprintf("FALSE ALARM @%d", v.Sample)
	}
	s := fmt.Sprintf("@%d", v.Sample)
	switch {
	case v.RightSite && v.Site != "":
		s += fmt.Sprintf(" (%+d) right site", v.Detect)
	case v.RightSite:
		s += fmt.Sprintf(" (%+d)", v.Detect)
	default:
		s += " wrong: " + strings.Join(v.Wrong, ", ")
	}
	return s
}

func detectTime(samples, secs float64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%g samples (%.2fs)", samples, secs)
}

// seconds returns samples as a duration at rep's tick.
func seconds(rep *report, samples float64) string {
	return fmt.Sprintf("%.2fs", samples*rep.tick.Seconds())
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func printSweepHeader(w io.Writer, c *corpus, cfg config) {
	length := "max(96, 8×window)"
	if cfg.Ticks != 0 {
		length = fmt.Sprint(cfg.Ticks)
	}
	fmt.Fprintf(w, "%s, GOEXPERIMENT=%s; tick %s, maxskip %d; %d scenarios; %s ticks a run\n",
		c.GoVersion, c.GoExperiment, cfg.Tick, cfg.MaxSkip, len(c.Names), length)
	fmt.Fprintln(w, "sentinel only; FALSE ALARMS: benign alerted + leaks alerted at a wrong site; detect: samples after the leak began")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s  %-7s  %-5s  %-6s  %-7s  %-12s  %-22s  %-22s  %-9s  %s\n",
		"WINDOW", "TIME", "TICKS", "RECALL", "CREATOR", "FALSE ALARMS", "MEDIAN DETECT", "WORST DETECT", "IN 2 WIN", "MISSES")
}

// printSweepLine writes one window's summary. Lines are printed as each
// window finishes, so fixed-width columns stand in for tabwriter.
func printSweepLine(w io.Writer, rep *report) {
	t := rep.sentinel()
	fmt.Fprintf(w, "%-6d  %-7s  %-5d  %-6s  %-7s  %-12s  %-22s  %-22s  %-9s  %s\n",
		rep.Window, seconds(rep, float64(rep.Window)), rep.Ticks,
		fmt.Sprintf("%d/%d", t.Found, t.Leaks), fmt.Sprintf("%d/%d", t.FoundCreator, t.Leaks),
		fmt.Sprintf("%d/%d + %d", t.FalseBenign, t.Benign, t.WrongSite),
		detectTime(t.MedianSamples, t.MedianSeconds, t.Found),
		detectTime(float64(t.WorstSamples), t.WorstSeconds, t.Found),
		fmt.Sprintf("%d/%d", t.InTime, t.Leaks), summarizeMisses(rep.misses(), t.Leaks))
}

// summarizeMisses groups misses by kind: "late: all 23; false alarm:
// longwaits, tenants".
func summarizeMisses(misses []miss, leaks int) string {
	if len(misses) == 0 {
		return "none"
	}
	var kinds []string
	byKind := make(map[string][]string)
	for _, m := range misses {
		if byKind[m.Kind] == nil {
			kinds = append(kinds, m.Kind)
		}
		byKind[m.Kind] = append(byKind[m.Kind], m.Scenario)
	}
	var parts []string
	for _, k := range kinds {
		names := byKind[k]
		if len(names) == leaks && len(names) > 3 {
			parts = append(parts, fmt.Sprintf("%s: all %d leaks", k, leaks))
			continue
		}
		parts = append(parts, k+": "+strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ")
}
