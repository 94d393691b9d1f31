package leaksentinel

import (
	"cmp"
	"slices"
	"strings"
)

// Delta is one site's change between two snapshots.
type Delta struct {
	Site
	Before, After int
}

// Growth returns After - Before.
func (d Delta) Growth() int { return d.After - d.Before }

// Diff returns each site's change from base to cur, largest growth first,
// then largest count: what `go tool pprof -base` shows, by blocking site.
// Sites whose count did not change are left out. A nil snapshot counts as
// empty.
//
// When the two snapshots come from sources that see states differently (a
// text dump and a profile), states are compared as the coarser source reports
// them, so the same goroutines match whatever captured them. Diff runs in
// time linear in the number of sites.
func Diff(base, cur *Snapshot) []Delta {
	p := max(base.prec(), cur.prec())
	counts := make(map[Site]*Delta)
	var order []*Delta
	add := func(s *Snapshot, after bool) {
		if s == nil {
			return
		}
		for i := range s.Groups {
			g := &s.Groups[i]
			site := g.Site
			site.State = site.State.coarsen(p)
			d, ok := counts[site]
			if !ok {
				d = &Delta{Site: site}
				counts[site] = d
				order = append(order, d)
			}
			if after {
				d.After += g.Count
			} else {
				d.Before += g.Count
			}
		}
	}
	add(base, false)
	add(cur, true)
	deltas := make([]Delta, 0, len(order))
	for _, d := range order {
		if d.Before != d.After {
			deltas = append(deltas, *d)
		}
	}
	slices.SortFunc(deltas, func(x, y Delta) int {
		return cmp.Or(
			cmp.Compare(y.Growth(), x.Growth()),
			cmp.Compare(y.After, x.After),
			strings.Compare(x.Site.String(), y.Site.String()),
		)
	})
	return deltas
}
