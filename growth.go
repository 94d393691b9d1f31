package leaksentinel

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strconv"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// maxStacksKept bounds the stacks per site remembered for attributing
// growth: the few most common say which callers a site's goroutines come
// from.
const maxStacksKept = 8

// stackCounts is, for one capture, the goroutines of each stack of each
// tracked site, keyed by a hash of the stack's frames. It lets an alert
// tell the stacks that grew from those that were already there: a leak
// that shares its site with a healthy pool is named by the leak's caller
// and creator, not the pool's.
type stackCounts struct {
	sample int
	sites  map[Site]map[uint64]int
}

var stackSeed = maphash.MakeSeed()

// stackKey hashes frames: equal frames give equal keys whatever the source.
func stackKey(frames []Frame) uint64 {
	var h maphash.Hash
	h.SetSeed(stackSeed)
	for _, f := range frames {
		h.WriteString(f.Function)
		h.WriteByte(0)
		h.WriteString(f.File)
		h.WriteByte(':')
		h.WriteString(strconv.Itoa(f.Line))
		h.WriteByte('\n')
	}
	return h.Sum64()
}

// keepStacks remembers the stacks of snap's tracked sites, keeping the
// captures that cover a window: memory is bounded by Window+1 times
// MaxSites times maxStacksKept counts.
func (s *Sentinel) keepStacks(snap *Snapshot, counts map[Site]int) {
	entry := stackCounts{sample: s.det.Samples(), sites: make(map[Site]map[uint64]int)}
	for i := range snap.Groups {
		g := &snap.Groups[i]
		if !s.det.Tracked(g.Site) {
			continue
		}
		m := make(map[uint64]int, min(len(g.Stacks), maxStacksKept))
		for _, st := range g.Stacks[:min(len(g.Stacks), maxStacksKept)] {
			m[stackKey(st.Frames)] += st.Count
		}
		entry.sites[g.Site] = m
	}
	s.stacks = append(s.stacks, entry)
	if len(s.stacks) > s.opts.Window+1 {
		s.stacks = slices.Delete(s.stacks, 0, len(s.stacks)-s.opts.Window-1)
	}
}

// stackGrowth returns, for each stack of site in snap, how many goroutines
// it gained since the capture nearest the window's start.
func (s *Sentinel) stackGrowth(snap *Snapshot, site Site, start int) map[uint64]int {
	var base map[uint64]int
	if len(s.stacks) > 0 {
		i := 0 // the last capture at or before start, else the oldest
		for j, e := range s.stacks {
			if e.sample <= start {
				i = j
			}
		}
		base = s.stacks[i].sites[site]
	}
	g := match(snap, site, snap.precision)
	if g == nil {
		return nil
	}
	growth := make(map[uint64]int, len(g.Stacks))
	for _, st := range g.Stacks {
		k := stackKey(st.Frames)
		growth[k] = st.Count - base[k]
	}
	return growth
}

// byGrowth orders a group's creators and picks its representative stack by
// the growth of the stacks they started, most first; the order stays as it
// was where growth does not tell them apart.
func byGrowth(g *Group, growth map[uint64]int) (creators []Creator, stack Stack) {
	creators = slices.Clone(g.Creators)
	if len(g.Stacks) > 0 {
		stack = g.Stacks[0]
	}
	if len(growth) == 0 {
		return creators, stack
	}
	byCreator := make(map[Frame]int)
	best := -1 << 62
	for _, st := range g.Stacks {
		d := growth[stackKey(st.Frames)]
		byCreator[st.CreatedBy] += d
		if d > best {
			best, stack = d, st
		}
	}
	slices.SortStableFunc(creators, func(a, b Creator) int {
		return byCreator[b.Frame] - byCreator[a.Frame]
	})
	return creators, stack
}

// born is a goroutine of a dump: its id and its creator.
type born struct {
	id      int64
	creator Frame
}

// births lists, by site (states as a source of precision p reports
// them), the ids and creators of a dump's goroutines, handed to add one by
// one as parseDump reads them.
type births struct {
	p     classify.Precision
	at    map[Site][]born
	top   int64 // the highest id: above every goroutine of the dump
	funcs []string
}

func newBirths(p classify.Precision) *births {
	return &births{p: p, at: make(map[Site][]born)}
}

func (b *births) add(t *stack.Table, g *stack.Goroutine) {
	if g.ID == 0 {
		return
	}
	b.top = max(b.top, g.ID)
	b.funcs = b.funcs[:0]
	for _, f := range g.Frames {
		b.funcs = append(b.funcs, t.String(f.Func))
	}
	i := classify.SiteIndex(len(b.funcs), func(i int) string { return b.funcs[i] })
	if i < 0 {
		return
	}
	f := g.Frames[i]
	site := Site{State: State(t.String(g.State)).coarsen(b.p), Function: b.funcs[i], File: t.String(f.File), Line: int(f.Line)}
	c := g.CreatedBy
	b.at[site] = append(b.at[site], born{g.ID, Frame{Function: t.String(c.Func), File: t.String(c.File), Line: int(c.Line)}})
}

// newestCreators returns the creators of the goroutines at site that
// arrived while it rose, most common first: those with an id above since,
// the goroutine clock when the rise began, or, without a clock, the n
// created last. Goroutine ids grow with creation, so where a leak shares
// its site (and its frames) with an older healthy pool, the goroutines that
// arrived are the leak's: their creator is the line to fix.
//
// The clock is the better rule: ids grow with creation only batch by batch
// (each P hands out its own batch of 16), so among a few dozen goroutines
// the n highest ids can be a pool's, created early on another P; the pool's
// are all below a clock read after them.
func newestCreators(at []born, since int64, n int) []Creator {
	if len(at) == 0 || n <= 0 {
		return nil
	}
	at = slices.Clone(at)
	slices.SortFunc(at, func(a, b born) int { return cmp.Compare(b.id, a.id) })
	if since > 0 {
		n = 0
		for n < len(at) && at[n].id > since {
			n++
		}
	}
	counts := make(map[Frame]int)
	var order []Frame
	for _, b := range at[:min(n, len(at))] {
		if b.creator == (Frame{}) {
			continue
		}
		if counts[b.creator] == 0 {
			order = append(order, b.creator)
		}
		counts[b.creator]++
	}
	out := make([]Creator, 0, len(order))
	for _, f := range order {
		out = append(out, Creator{Frame: f, Count: counts[f]})
	}
	slices.SortStableFunc(out, func(a, b Creator) int { return b.Count - a.Count })
	return out
}

// leadWith reorders creators so that those in lead come first, in lead's
// order; counts stay those of the whole site.
func leadWith(creators, lead []Creator) []Creator {
	rank := make(map[Frame]int, len(lead))
	for i, c := range lead {
		rank[c.Frame] = len(lead) - i
	}
	out := slices.Clone(creators)
	slices.SortStableFunc(out, func(a, b Creator) int { return rank[b.Frame] - rank[a.Frame] })
	return out
}
