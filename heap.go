package leaksentinel

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"
)

// HeapGrowth is a memory alert: the live heap's floor kept rising over the
// heap window while no goroutine site did. It is the other half of the
// field guide: when memory climbs and no goroutines pile up, diff two heap
// profiles with go tool pprof -base.
type HeapGrowth struct {
	// HeapLive is the heap the last garbage collection found reachable.
	HeapLive uint64
	// Growth is how much the live heap's floor rose over the window.
	Growth uint64
	// Rate is the growth in bytes per minute.
	Rate float64
	// Since is the start of the window.
	Since time.Time
	// BaseProfile and Profile are heap profiles written in ProfileDir: one
	// taken near the start of the growth, one at the alert. Empty when
	// ProfileDir is not set.
	BaseProfile, Profile string
}

// Command returns the go tool pprof command that shows what grew between
// the two profiles, or "" without them.
func (h HeapGrowth) Command() string {
	if h.BaseProfile == "" || h.Profile == "" {
		return ""
	}
	return fmt.Sprintf("go tool pprof -top -lines -base %s %s", h.BaseProfile, h.Profile)
}

// LogValue implements [slog.LogValuer]: heap_live_bytes,
// growth_bytes, rate_bytes_per_minute, since and, with profiles, pprof (the
// command that compares them).
func (h HeapGrowth) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Uint64("heap_live_bytes", h.HeapLive),
		slog.Uint64("growth_bytes", h.Growth),
		slog.Float64("rate_bytes_per_minute", roundRate(h.Rate)),
		slog.Time("since", h.Since),
	}
	if c := h.Command(); c != "" {
		attrs = append(attrs, slog.String("pprof", c))
	}
	return slog.GroupValue(attrs...)
}

const (
	// DefaultHeapWindow is the number of ticks over which the live heap's
	// floor must keep rising before a memory alert.
	DefaultHeapWindow = 60
	// heapMinGrowth and heapMinRise: the floor must grow by at least
	// 1 MiB and a tenth of itself.
	heapMinGrowth = 1 << 20
	heapMinRise   = 0.10
	// heapMinPoints is the fewest garbage collections a window must hold
	// to be judged: the live heap is only measured by one.
	heapMinPoints = 6
)

// heapPoint is the live heap measured by one garbage collection.
type heapPoint struct {
	tick int
	when time.Time
	live uint64
}

// heapProfile is a heap profile kept in memory until an alert needs it.
type heapProfile struct {
	tick int
	data []byte
}

// heapWatch follows the live heap, one point per garbage collection seen,
// and reports when its floor rises steadily over the window. It is owned by
// the sampling goroutine.
type heapWatch struct {
	window   int
	ticks    int
	cycles   uint64
	points   []heapPoint // within the window, oldest first
	profiles []heapProfile
	alerted  bool
	reported uint64 // growth when last reported
}

func newHeapWatch(window int) *heapWatch {
	return &heapWatch{window: window}
}

// observe records a tick's memory reading. It returns an alert when the
// live heap's floor rose steadily over the window.
func (h *heapWatch) observe(m Memory, now time.Time) (HeapGrowth, bool) {
	h.ticks++
	if m.GCCycles != h.cycles && m.HeapLive > 0 {
		h.cycles = m.GCCycles
		h.points = append(h.points, heapPoint{tick: h.ticks, when: now, live: m.HeapLive})
	}
	for len(h.points) > 0 && h.points[0].tick <= h.ticks-h.window {
		h.points = h.points[1:]
	}
	if h.ticks < h.window || len(h.points) < heapMinPoints || h.points[0].tick > h.ticks-h.window*3/4 {
		return HeapGrowth{}, false
	}
	growth, floor, ok := h.rising()
	switch {
	case !ok && h.alerted && m.HeapLive <= floor+growth/2:
		h.alerted = false // it fell back: the next rise is news again
	case ok && !h.alerted, ok && growth >= 2*h.reported:
		h.alerted = true
		h.reported = growth
		first := h.points[0]
		g := HeapGrowth{HeapLive: m.HeapLive, Growth: growth, Since: first.when}
		if d := now.Sub(first.when); d > 0 {
			g.Rate = float64(growth) / d.Minutes()
		}
		return g, true
	}
	return HeapGrowth{}, false
}

// rising judges the points of the window: the floor of each third (by time)
// above the one before and the last point above the last floor, Kendall's
// tau of the points against time at least 0.75 (the goroutine detector's
// steadiness), and a rise of at least heapMinGrowth and heapMinRise of the
// floor.
func (h *heapWatch) rising() (growth, floor uint64, ok bool) {
	start := h.ticks - h.window
	var floors [3]uint64
	var seen [3]bool
	for _, p := range h.points {
		i := min(2, (p.tick-start-1)*3/h.window)
		if !seen[i] || p.live < floors[i] {
			floors[i], seen[i] = p.live, true
		}
	}
	// Rising in each third, and still rising at the end: the last point
	// above the last third's floor (a cache that filled and stopped has
	// its last third flat).
	last := h.points[len(h.points)-1].live
	if !seen[0] || !seen[1] || !seen[2] || !(floors[0] < floors[1] && floors[1] < floors[2] && floors[2] < last) {
		return 0, 0, false
	}
	growth = floors[2] - floors[0]
	if growth < max(heapMinGrowth, uint64(heapMinRise*float64(floors[0]))) {
		return 0, 0, false
	}
	s := 0
	for i := range h.points {
		for j := i + 1; j < len(h.points); j++ {
			s += cmp.Compare(h.points[j].live, h.points[i].live)
		}
	}
	n := len(h.points)
	return growth, floors[0], float64(s)/float64(n*(n-1)/2) >= 0.75
}

// keepProfile takes a heap profile every third of a window, keeping those
// that cover the window, so that an alert can write one from the start of
// the growth. Only with ProfileDir set.
func (h *heapWatch) keepProfile() error {
	if n := len(h.profiles); n > 0 && h.ticks-h.profiles[n-1].tick < max(1, h.window/3) {
		return nil
	}
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		return err
	}
	h.profiles = append(h.profiles, heapProfile{tick: h.ticks, data: b.Bytes()})
	for len(h.profiles) > 1 && h.profiles[1].tick <= h.ticks-h.window {
		h.profiles = h.profiles[1:]
	}
	return nil
}

// heapTick runs the heap watch for one tick, when asked for in Options.
func (s *Sentinel) heapTick(now time.Time) {
	if s.heap == nil {
		return
	}
	m := s.opts.memory()
	if s.opts.ProfileDir != "" {
		if err := s.heap.keepProfile(); err != nil {
			s.opts.Logger.Error("leaksentinel: heap profile", "err", err)
		}
	}
	g, ok := s.heap.observe(m, now)
	if !ok {
		return
	}
	s.mu.Lock()
	leaking := len(s.leaks)
	s.mu.Unlock()
	if leaking > 0 {
		// Goroutines pile up: their alerts say it, with the heap
		// growth seen while they did.
		return
	}
	if s.opts.ProfileDir != "" {
		g.BaseProfile, g.Profile = s.writeHeapProfiles(now)
	}
	s.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn, "leaksentinel: live heap keeps growing", g.LogValue().Group()...)
	s.mu.Lock()
	s.stats.HeapAlerts++
	s.mu.Unlock()
	s.enqueue(alert{heap: &g})
}

// writeHeapProfiles writes the kept profile from the window's start and a
// fresh one, and returns their paths.
func (s *Sentinel) writeHeapProfiles(now time.Time) (base, cur string) {
	if len(s.heap.profiles) == 0 {
		return "", ""
	}
	if err := os.MkdirAll(s.opts.ProfileDir, 0o700); err != nil {
		s.opts.Logger.Error("leaksentinel: profile dir", "err", err)
		return "", ""
	}
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		s.opts.Logger.Error("leaksentinel: heap profile", "err", err)
		return "", ""
	}
	s.pruneProfiles(s.opts.MaxProfiles - 1) // room for this capture
	stamp := s.profileBase(now)
	base, cur = stamp+".heap.base.pb.gz", stamp+".heap.alert.pb.gz"
	for _, f := range []struct {
		name string
		data []byte
	}{{base, s.heap.profiles[0].data}, {cur, b.Bytes()}} {
		if err := writeFile(f.name, f.data); err != nil {
			s.opts.Logger.Error("leaksentinel: writing heap profile", "err", err)
			return "", ""
		}
	}
	return base, cur
}
