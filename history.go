package leaksentinel

import "slices"

// history keeps each site's count over the last samples, for views that
// draw it (the HTTP page's sparklines). Its size is bounded by the number of
// samples it spans times MaxSites. It is guarded by the sentinel's mutex.
type history struct {
	span  int // samples kept
	max   int // sites kept
	n     int // samples recorded
	sites map[Site]*siteHistory
}

type siteHistory struct {
	ring []int32
	last int // sample of the last write
	now  int // count at that sample
}

func newHistory(span, maxSites int) *history {
	return &history{span: span, max: maxSites, sites: make(map[Site]*siteHistory)}
}

// add records one sample's counts. A site not yet kept is added only if
// it is among the max largest of the sample, so that a sample of many
// small sites costs no more than max histories.
func (h *history) add(counts map[Site]int) {
	h.n++
	least := 0 // the smallest count of a new site kept
	if len(counts) > h.max {
		all := make([]int, 0, len(counts))
		for _, c := range counts {
			all = append(all, c)
		}
		slices.SortFunc(all, func(a, b int) int { return b - a })
		least = all[h.max-1]
	}
	for site, c := range counts {
		sh, ok := h.sites[site]
		if !ok && (c < least || (c == least && len(h.sites) >= h.max)) {
			continue
		}
		if !ok {
			sh = &siteHistory{ring: make([]int32, h.span), last: h.n - 1}
			h.sites[site] = sh
		}
		for i := sh.last + 1; i < h.n && i > h.n-h.span; i++ {
			sh.ring[i%h.span] = 0 // absent in between
		}
		sh.ring[h.n%h.span] = int32(min(c, 1<<30))
		sh.last, sh.now = h.n, c
	}
	for site, sh := range h.sites {
		if h.n-sh.last >= h.span {
			delete(h.sites, site)
		} else if sh.last != h.n {
			sh.now = 0
		}
	}
	if len(h.sites) > h.max {
		type entry struct {
			site Site
			now  int
		}
		all := make([]entry, 0, len(h.sites))
		for site, sh := range h.sites {
			all = append(all, entry{site, sh.now})
		}
		slices.SortFunc(all, func(a, b entry) int { return b.now - a.now })
		for _, e := range all[h.max:] {
			delete(h.sites, e.site)
		}
	}
}

// counts returns site's counts over the samples kept, oldest first; nil if
// the site is not kept.
func (h *history) counts(site Site) []int {
	sh, ok := h.sites[site]
	if !ok {
		return nil
	}
	n := min(h.n, h.span)
	out := make([]int, n)
	for i := range n {
		sample := h.n - n + 1 + i
		if sample > sh.last || sample <= sh.last-h.span {
			continue
		}
		out[i] = int(sh.ring[sample%h.span])
	}
	return out
}
