// Package detect finds blocking sites whose floor keeps rising.
//
// A leak is goroutines that arrive at a site and never leave, so the site's
// floor (its lowest count over a stretch of samples) rises and never comes
// back. Healthy sites have floors that stay put whatever their peaks: worker
// pools, keep-alive connections, bursts that drain, sawtooth load. A ramp
// that ends in a plateau moves the floor once; a leak moves it again and
// again.
//
// The detector keeps, for each site, the floors of the last Window stretches
// at several scales (stretches of 1, 2, 4 and 8 samples), and calls a site
// leaking when, at some scale, the floors rise steadily across the whole
// window: Kendall's tau of the floors over time is at least MinTau (a single
// step up scores about one half, a steady rise one), and the floor rose by at
// least MinGrowth goroutines and by MinRise of itself between the first and
// the last third of the window. Rejected alternatives: an absolute count
// threshold (LeakProf) flags large healthy pools and misses small leaks; the
// total goroutine count (holmes) is drowned by healthy churn; floors compared
// between thirds alone fire on any ramp that plateaus.
//
// Everything is counted in samples, so the same settings hold at any
// sampling interval.
package detect

import (
	"cmp"
	"slices"
)

// Config holds the detection settings, in samples and goroutines.
type Config struct {
	Window    int     // floors per scale; at least 6
	Levels    int     // scales: stretches of 1, 2, ..., 2^(Levels-1) samples
	MinGrowth int     // smallest rise of the floor that is reported
	MinRise   float64 // smallest rise as a fraction of the floor
	MinTau    float64 // smallest Kendall's tau of the floors over time
	MaxSites  int     // sites tracked; the smallest are forgotten past it
}

// The settings the sentinel and the CLI share, chosen on the corpus (see
// docs/how-it-decides.md): scales up to 8 windows, a rise steady enough (a single step
// up scores about one half), and a rise of a quarter of the floor besides
// MinGrowth, so that sites with many healthy goroutines are not reported
// for load that grows slowly.
const (
	Levels  = 4
	MinTau  = 0.75
	MinRise = 0.25
)

// Standard returns the shared settings with the given window, minimum
// growth and site bound.
func Standard(window, minGrowth, maxSites int) Config {
	return Config{Window: window, Levels: Levels, MinGrowth: minGrowth, MinRise: MinRise, MinTau: MinTau, MaxSites: maxSites}
}

// Horizon returns the number of samples the largest scale spans.
func (c Config) Horizon() int { return c.Window << (c.Levels - 1) }

// Kind is what happened to a site.
type Kind uint8

const (
	// Leak is a site found leaking.
	Leak Kind = iota + 1
	// Grew is a leaking site whose growth over its floor doubled since it
	// was last reported.
	Grew
	// Resolved is a leaking site back at the floor it rose from.
	Resolved
)

// Event is a change in a site's verdict.
type Event[K comparable] struct {
	Key    K
	Kind   Kind
	Count  int // at the site now
	Floor  int // the floor the growth started from
	Growth int // the rise of the floor over the window, or since the floor for Grew
	Start  int // the first sample of the window (Leak, Grew), counting from 1
	Span   int // the window's length in samples
	Level  int // the scale it was found at: stretches of 2^Level samples
}

// Detector tracks sites across samples. It is not safe for concurrent use.
type Detector[K comparable] struct {
	cfg   Config
	sites map[K]*site
	n     int // samples observed
}

type site struct {
	levels []level
	count  int
	quiet  int // consecutive samples at zero

	leaking    bool
	floor      int // the floor the leak rose from
	reported   int // growth over floor when last reported
	leakStart  int
	leakLevel  int
	leakGrowth int
}

// level is the floors of one scale: a ring of Window points, each the
// lowest count over 2^l samples.
type level struct {
	ring  []int32
	next  int // index of the next write
	n     int // points written, up to len(ring)
	acc   int32
	accN  int
	width int // samples per point
}

func (l *level) add(c int32) bool {
	if l.accN == 0 || c < l.acc {
		l.acc = c
	}
	l.accN++
	if l.accN < l.width {
		return false
	}
	l.ring[l.next] = l.acc
	l.next = (l.next + 1) % len(l.ring)
	l.n = min(l.n+1, len(l.ring))
	l.accN = 0
	return true
}

// points returns the floors oldest first, into dst.
func (l *level) points(dst []int32) []int32 {
	dst = dst[:0]
	if l.n < len(l.ring) {
		return append(dst, l.ring[:l.n]...)
	}
	dst = append(dst, l.ring[l.next:]...)
	return append(dst, l.ring[:l.next]...)
}

// New returns a Detector with cfg.
func New[K comparable](cfg Config) *Detector[K] {
	return &Detector[K]{cfg: cfg, sites: make(map[K]*site)}
}

// Samples returns the number of samples observed.
func (d *Detector[K]) Samples() int { return d.n }

// Tracked reports whether key has a history.
func (d *Detector[K]) Tracked(key K) bool {
	_, ok := d.sites[key]
	return ok
}

// Restart forgets key's history, verdict included: its next verdict needs
// a full window of new samples.
func (d *Detector[K]) Restart(key K) {
	if s, ok := d.sites[key]; ok {
		c := s.count
		*s = *d.newSite()
		s.count = c
	}
}

// Len returns the number of sites tracked.
func (d *Detector[K]) Len() int { return len(d.sites) }

// Observe records one sample: the count of every site (sites left out count
// zero) and returns what changed, in no particular order.
func (d *Detector[K]) Observe(counts map[K]int) []Event[K] {
	d.n++
	var events []Event[K]
	// A new site is tracked only if it is among the MaxSites largest of
	// the sample: a sample of many small sites must not grow the map
	// (maps do not shrink) nor allocate a history per site.
	least := 1
	if d.cfg.MaxSites > 0 && len(counts) > d.cfg.MaxSites {
		all := make([]int, 0, len(counts))
		for _, c := range counts {
			all = append(all, c)
		}
		slices.SortFunc(all, func(a, b int) int { return b - a })
		least = max(1, all[d.cfg.MaxSites-1])
	}
	for k, c := range counts {
		if c < least {
			continue
		}
		if _, ok := d.sites[k]; !ok && (c > least || d.cfg.MaxSites <= 0 || len(d.sites) < d.cfg.MaxSites) {
			d.sites[k] = d.newSite()
		}
	}
	var buf []int32
	for k, s := range d.sites {
		c := counts[k]
		if ev, ok := d.update(k, s, c, &buf); ok {
			events = append(events, ev)
		}
		if c == 0 {
			s.quiet++
		} else {
			s.quiet = 0
		}
		if !s.leaking && s.quiet > d.horizon() {
			delete(d.sites, k)
		}
	}
	d.evict()
	return events
}

func (d *Detector[K]) horizon() int { return d.cfg.Horizon() }

func (d *Detector[K]) newSite() *site {
	s := &site{levels: make([]level, d.cfg.Levels)}
	for i := range s.levels {
		s.levels[i] = level{ring: make([]int32, d.cfg.Window), width: 1 << i}
	}
	return s
}

// update adds a sample to s and judges it.
func (d *Detector[K]) update(k K, s *site, c int, buf *[]int32) (Event[K], bool) {
	s.count = c
	c32 := int32(min(c, 1<<30))
	found := false
	var best Event[K]
	for i := range s.levels {
		l := &s.levels[i]
		if !l.add(c32) || l.n < len(l.ring) || found || s.leaking {
			continue
		}
		*buf = l.points(*buf)
		if growth, floor, ok := d.rising(*buf, c); ok {
			found = true
			span := len(l.ring) * l.width
			best = Event[K]{Key: k, Kind: Leak, Count: c, Floor: floor, Growth: growth,
				Start: d.n - span + 1, Span: span, Level: i}
		}
	}
	switch {
	case found:
		s.leaking = true
		s.floor = best.Floor
		s.reported = c - best.Floor
		s.leakStart, s.leakLevel, s.leakGrowth = best.Start, best.Level, best.Growth
		return best, true
	case s.leaking && c <= s.floor:
		s.leaking = false
		// Start afresh: the history holds the leak being drained.
		*s = *d.newSite()
		s.count = c
		return Event[K]{Key: k, Kind: Resolved, Count: c}, true
	case s.leaking && c-s.floor >= 2*s.reported:
		s.reported = c - s.floor
		span := d.cfg.Window << s.leakLevel
		return Event[K]{Key: k, Kind: Grew, Count: c, Floor: s.floor, Growth: c - s.floor,
			Start: s.leakStart, Span: span, Level: s.leakLevel}, true
	}
	return Event[K]{}, false
}

// Suspects returns, as Leak events, the sites not leaking whose counts
// over the last stretch samples rise as a leak's floors do over a window
// (the same rule, on fewer points): a leak caught early, or noise. The
// caller confirms a suspect by other means (the runtime's proof) before it
// [Detector.Declare]s it; a stretch of at least 6 samples is needed.
func (d *Detector[K]) Suspects(stretch int) []Event[K] {
	stretch = min(stretch, d.cfg.Window)
	if stretch < 6 || d.n < stretch {
		return nil
	}
	var out []Event[K]
	var buf []int32
	for k, s := range d.sites {
		l := &s.levels[0]
		if s.leaking || l.n < stretch {
			continue
		}
		buf = l.points(buf)
		if growth, floor, ok := d.rising(buf[len(buf)-stretch:], s.count); ok {
			out = append(out, Event[K]{Key: k, Kind: Leak, Count: s.count, Floor: floor, Growth: growth,
				Start: d.n - stretch + 1, Span: stretch})
		}
	}
	return out
}

// Declare marks ev's site leaking, as if the detector had found it: later
// samples report its growth doubling and its resolution.
func (d *Detector[K]) Declare(ev Event[K]) {
	s, ok := d.sites[ev.Key]
	if !ok || s.leaking {
		return
	}
	s.leaking = true
	s.floor = ev.Floor
	s.reported = s.count - ev.Floor
	s.leakStart, s.leakLevel, s.leakGrowth = ev.Start, ev.Level, ev.Growth
}

// rising judges a window of floors, oldest first; now is the latest count.
// It returns the rise of the floor from the first third to the last, and
// the first third's floor.
func (d *Detector[K]) rising(p []int32, now int) (growth, floor int, ok bool) {
	third := len(p) / 3
	first := slices.Min(p[:third])
	last := slices.Min(p[len(p)-third:])
	growth = int(last - first)
	floor = int(first)
	need := max(d.cfg.MinGrowth, int(d.cfg.MinRise*float64(first)+0.999))
	if growth < need || now < int(last) {
		return 0, 0, false
	}
	return growth, floor, kendallTau(p) >= d.cfg.MinTau
}

// kendallTau returns Kendall's tau-a of p against time: the share of pairs
// (i < j) with p[i] < p[j], minus the share with p[i] > p[j].
func kendallTau(p []int32) float64 {
	s := 0
	for i := range p {
		for j := i + 1; j < len(p); j++ {
			s += cmp.Compare(p[j], p[i])
		}
	}
	pairs := len(p) * (len(p) - 1) / 2
	return float64(s) / float64(pairs)
}

// evict forgets the smallest sites that are not leaking when there are more
// than MaxSites.
func (d *Detector[K]) evict() {
	if d.cfg.MaxSites <= 0 || len(d.sites) <= d.cfg.MaxSites {
		return
	}
	type entry struct {
		k K
		s *site
	}
	all := make([]entry, 0, len(d.sites))
	for k, s := range d.sites {
		all = append(all, entry{k, s})
	}
	slices.SortFunc(all, func(a, b entry) int {
		if a.s.leaking != b.s.leaking {
			if a.s.leaking {
				return -1
			}
			return 1
		}
		return b.s.count - a.s.count
	})
	for _, e := range all[d.cfg.MaxSites:] {
		delete(d.sites, e.k)
	}
}
