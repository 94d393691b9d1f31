// Package prom exports what a [leaksentinel.Sentinel] sees as Prometheus
// metrics. It is a module of its own, so that a program importing
// leaksentinel alone has no metrics library in its build or in its module
// graph.
//
// Register a [Collector] for the sentinel, and serve the registry as usual:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(prom.NewCollector(s, prom.Options{}))
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The metrics:
//
//	leaksentinel_goroutines                      gauge      goroutines at the last full capture
//	leaksentinel_site_goroutines{state,function,location}
//	                                             gauge      goroutines at one site, for the top sites (see Options.TopSites)
//	leaksentinel_leak_goroutines{state,function,location,created_by}
//	                                             gauge      goroutines at each site leaking now, and who started them
//	leaksentinel_leaks_total                     counter    sites found leaking (repeat alerts not counted)
//	leaksentinel_leaking_sites                   gauge      sites leaking now
//	leaksentinel_sample_duration_seconds         histogram  the work of each full capture
//	leaksentinel_alerts_dropped_total            counter    alerts Options.OnLeak never got because its queue was full
//	leaksentinel_heap_live_bytes                 gauge      live heap at the last full capture (the floor of the sawtooth)
//	leaksentinel_stack_bytes                     gauge      goroutine stack memory at the last full capture
//	leaksentinel_heap_alerts_total               counter    memory alerts (Options.WatchHeap)
//	leaksentinel_turned_over_total               counter    rises not reported: none of the site's goroutines stayed
//
// The values are read from the sentinel at each scrape; a scrape costs
// nothing to the sentinel but a few short holds of its lock. The gauges of
// goroutines appear after the sentinel's first capture.
//
// An alert rule that pages when a site leaks, naming it in its labels:
//
//	leaksentinel_leak_goroutines > 0
//
// and a panel of the sites over time:
//
//	topk(10, leaksentinel_site_goroutines)
//
// The module's deploy directory (github.com/leaksentinel/leaksentinel/deploy)
// has alerting rules and a Grafana dashboard, tested against a real
// Prometheus.
package prom

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leaksentinel/leaksentinel"
)

// DefaultTopSites is the number of sites with a series of their own when
// Options.TopSites is zero.
const DefaultTopSites = 20

// other is every label of the series that sums the sites not in the top.
const other = "other"

// Options configures a [Collector]. The zero value is ready to use.
type Options struct {
	// TopSites bounds the series of leaksentinel_site_goroutines: the
	// leaking sites, largest first, then the largest others, up to
	// TopSites, each have a series; the goroutines of the remaining sites
	// are summed in one series whose three labels are "other". Zero means
	// DefaultTopSites; negative means no site of its own, only "other".
	TopSites int
}

// source is what the collector reads; *leaksentinel.Sentinel has it.
type source interface {
	Snapshot() *leaksentinel.Snapshot
	Leaks() []leaksentinel.Leak
	Stats() leaksentinel.Stats
}

// Collector is a [prometheus.Collector] of a sentinel's state. Create one
// with [NewCollector]. It is safe for concurrent use, as registries require.
type Collector struct {
	src  source
	top  int
	desc struct {
		goroutines, site, leak, leaks, leaking, duration, dropped *prometheus.Desc
		heapLive, stacks, heapAlerts, turnedOver                  *prometheus.Desc
	}
}

// NewCollector returns a collector of s's state, for a
// [prometheus.Registerer]. Register one collector per sentinel; for two
// sentinels in one process, wrap one registerer with constant labels
// (prometheus.WrapRegistererWith) to tell them apart.
func NewCollector(s *leaksentinel.Sentinel, opts Options) *Collector {
	return newCollector(s, opts)
}

func newCollector(src source, opts Options) *Collector {
	c := &Collector{src: src, top: opts.TopSites}
	if c.top == 0 {
		c.top = DefaultTopSites
	}
	c.top = max(c.top, 0)
	d := &c.desc
	d.goroutines = prometheus.NewDesc("leaksentinel_goroutines",
		"Goroutines in the process at the sentinel's last full capture.", nil, nil)
	d.site = prometheus.NewDesc("leaksentinel_site_goroutines",
		`Goroutines parked at one site (state, function, file:line) at the last full capture: the leaking sites and the largest others; the rest are summed in the series whose labels are "other".`,
		[]string{"state", "function", "location"}, nil)
	d.leak = prometheus.NewDesc("leaksentinel_leak_goroutines",
		`Goroutines at each site the sentinel finds leaking now (state, function, file:line), and the function that started most of them ("" when unknown).`,
		[]string{"state", "function", "location", "created_by"}, nil)
	d.leaks = prometheus.NewDesc("leaksentinel_leaks_total",
		"Sites the sentinel found leaking; repeat alerts for a site are not counted.", nil, nil)
	d.leaking = prometheus.NewDesc("leaksentinel_leaking_sites",
		"Sites leaking now.", nil, nil)
	d.duration = prometheus.NewDesc("leaksentinel_sample_duration_seconds",
		"Time the sentinel spent on each full capture.", nil, nil)
	d.dropped = prometheus.NewDesc("leaksentinel_alerts_dropped_total",
		"Alerts OnLeak never got because its queue was full.", nil, nil)
	d.heapLive = prometheus.NewDesc("leaksentinel_heap_live_bytes",
		"Heap the last garbage collection found reachable, at the sentinel's last full capture: the floor of the heap's sawtooth.", nil, nil)
	d.stacks = prometheus.NewDesc("leaksentinel_stack_bytes",
		"Memory of goroutine stacks at the sentinel's last full capture.", nil, nil)
	d.heapAlerts = prometheus.NewDesc("leaksentinel_heap_alerts_total",
		"Memory alerts: the live heap kept rising while no goroutine site did (Options.WatchHeap).", nil, nil)
	d.turnedOver = prometheus.NewDesc("leaksentinel_turned_over_total",
		"Sites whose floor rose like a leak's but whose goroutines had all been replaced: growing load, not reported.", nil, nil)
	return c
}

// Describe implements [prometheus.Collector].
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.desc
	for _, desc := range []*prometheus.Desc{d.goroutines, d.site, d.leak, d.leaks, d.leaking, d.duration, d.dropped, d.heapLive, d.stacks, d.heapAlerts, d.turnedOver} {
		ch <- desc
	}
}

// Collect implements [prometheus.Collector].
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := &c.desc
	st := c.src.Stats()
	leaks := c.src.Leaks()
	snap := c.src.Snapshot()
	ch <- constMetric(d.leaks, prometheus.CounterValue, float64(st.Leaks))
	ch <- constMetric(d.dropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- constMetric(d.leaking, prometheus.GaugeValue, float64(len(leaks)))
	for _, l := range leaks { // one per site
		ch <- constMetric(d.leak, prometheus.GaugeValue, float64(l.Count),
			label(string(l.State)), label(l.Function), location(l.Site), label(l.CreatedBy()))
	}
	ch <- histogram(d.duration, st.Durations)
	ch <- constMetric(d.heapAlerts, prometheus.CounterValue, float64(st.HeapAlerts))
	ch <- constMetric(d.turnedOver, prometheus.CounterValue, float64(st.TurnedOver))
	if snap == nil {
		return
	}
	ch <- constMetric(d.goroutines, prometheus.GaugeValue, float64(snap.Total))
	if m := snap.Memory; m.GCCycles > 0 {
		ch <- constMetric(d.heapLive, prometheus.GaugeValue, float64(m.HeapLive))
		ch <- constMetric(d.stacks, prometheus.GaugeValue, float64(m.Stacks))
	}
	sites, rest, restCount := c.topSites(snap, leaks)
	for _, g := range sites {
		ch <- constMetric(d.site, prometheus.GaugeValue, float64(g.Count),
			label(string(g.State)), label(g.Function), location(g.Site))
	}
	if rest > 0 {
		ch <- constMetric(d.site, prometheus.GaugeValue, float64(restCount), other, other, other)
	}
}

// topSites returns the sites with a series of their own, and the number of
// other sites and their goroutines.
func (c *Collector) topSites(snap *leaksentinel.Snapshot, leaks []leaksentinel.Leak) (top []leaksentinel.Group, rest, restCount int) {
	// Groups are unique by site and largest first; merge anyway, so that
	// a site cannot yield two series with the same labels.
	index := make(map[leaksentinel.Site]int, len(snap.Groups))
	var groups []leaksentinel.Group
	for _, g := range snap.Groups {
		if i, ok := index[g.Site]; ok {
			groups[i].Count += g.Count
			continue
		}
		index[g.Site] = len(groups)
		groups = append(groups, leaksentinel.Group{Site: g.Site, Count: g.Count})
	}
	chosen := make([]bool, len(groups))
	for _, l := range leaks { // largest first
		if i, ok := index[l.Site]; ok && len(top) < c.top {
			chosen[i] = true
			top = append(top, groups[i])
		}
	}
	for i, g := range groups {
		switch {
		case chosen[i]:
		case len(top) < c.top:
			top = append(top, g)
		default:
			rest++
			restCount += g.Count
		}
	}
	// A sentinel keeps at most MaxSites groups of a capture: the
	// goroutines of the sites it did not keep are others too.
	shown := 0
	for _, g := range groups {
		shown += g.Count
	}
	if unkept := snap.Total - shown; unkept > 0 {
		rest, restCount = max(rest, 1), restCount+unkept
	}
	return top, rest, restCount
}

// label makes s a valid label value: Prometheus requires UTF-8, and a file
// path need not be.
func label(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// location is the location label of a site: file:line.
func location(s leaksentinel.Site) string {
	return label(s.File + ":" + strconv.Itoa(s.Line))
}

// constMetric is prometheus.MustNewConstMetric without the panic: a
// collector runs in the user's process.
func constMetric(desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}

// histogram converts the sentinel's histogram, whose counts are per bucket,
// to Prometheus's cumulative buckets in seconds.
func histogram(desc *prometheus.Desc, h leaksentinel.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, c := range h.Counts {
		n += c
		if i < len(h.Bounds) {
			buckets[h.Bounds[i].Seconds()] = n
		}
	}
	m, err := prometheus.NewConstHistogram(desc, n, h.Sum.Seconds(), buckets)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
