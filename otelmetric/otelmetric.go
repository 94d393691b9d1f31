// Package otelmetric exports what a [leaksentinel.Sentinel] sees as
// OpenTelemetry metrics: observable instruments on a meter provider you
// pass in, read at each collection. It is a module of its own, so that a
// program importing leaksentinel alone has no OpenTelemetry SDK in its
// build or its module graph. It exports the facts of the Prometheus
// collector (the prom module), under OpenTelemetry's names:
//
//	leaksentinel.goroutines            gauge    {goroutine}  goroutines at the last full capture
//	leaksentinel.site.goroutines       gauge    {goroutine}  goroutines at one site, for the top sites (see Options.TopSites)
//	leaksentinel.leak.goroutines       gauge    {goroutine}  goroutines at each site leaking now, and who started them
//	leaksentinel.leaks                 counter  {site}       sites found leaking (repeat alerts not counted)
//	leaksentinel.leaking_sites         gauge    {site}       sites leaking now
//	leaksentinel.captures              counter  {capture}    full captures taken
//	leaksentinel.sample.duration       counter  s            time spent on them
//	leaksentinel.alerts.dropped        counter  {alert}      alerts Options.OnLeak never got because its queue was full
//	leaksentinel.heap.live             gauge    By           live heap at the last full capture (the floor of the sawtooth)
//	leaksentinel.stack                 gauge    By           goroutine stack memory at the last full capture
//	leaksentinel.heap.alerts           counter  {alert}      memory alerts (Options.WatchHeap)
//	leaksentinel.turned_over           counter  {site}       rises not reported: none of the site's goroutines stayed
//
// A site's series carries the OpenTelemetry semantic conventions for code,
// code.function.name, code.file.path and code.line.number, and the state
// its goroutines are parked in, leaksentinel.state ("chan send", ...); a
// leak's series also has the function that started most of its goroutines,
// leaksentinel.created_by, when known. The sites beyond the top are summed
// in one series whose function, file and state are "other" and which has
// no line.
//
// The sample cost is a total and a count, not a histogram: OpenTelemetry
// has no asynchronous histogram, and a synchronous one would need a hook in
// the sentinel's loop. Their rates give the mean cost of a capture over
// any window. Through OpenTelemetry's Prometheus exporter the other
// metrics take the prom module's names, so the alerting rules in the
// repository's deploy directory fire on them too; their annotations name
// the site by prom's labels (function, location), here
// code_function_name, code_file_path and code_line_number.
//
// Wire it to the meter provider of your pipeline:
//
//	reg, err := otelmetric.Register(sentinel, meterProvider, otelmetric.Options{})
//	...
//	defer reg.Unregister()
package otelmetric

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/leaksentinel/leaksentinel"
)

// DefaultTopSites is the number of sites with a series of their own when
// Options.TopSites is zero.
const DefaultTopSites = 20

// ScopeName is the instrumentation scope of the instruments: the name of
// the meter they are created on.
const ScopeName = "github.com/leaksentinel/leaksentinel/otelmetric"

// StateKey is the attribute of a site's series that holds the state its
// goroutines are parked in.
const StateKey = attribute.Key("leaksentinel.state")

// CreatedByKey is the attribute of a leak's series that holds the function
// that started most of its goroutines.
const CreatedByKey = attribute.Key("leaksentinel.created_by")

// other is every string attribute of the series that sums the sites not in
// the top.
const other = "other"

// Options configures [Register]. The zero value is ready to use.
type Options struct {
	// TopSites bounds the series of leaksentinel.site.goroutines: the
	// leaking sites, largest first, then the largest others, up to
	// TopSites, each have a series; the goroutines of the remaining sites
	// are summed in the series whose attributes are "other". Zero means
	// DefaultTopSites; negative means no site of its own, only "other".
	TopSites int
}

// source is what the callback reads; *leaksentinel.Sentinel has it.
type source interface {
	Snapshot() *leaksentinel.Snapshot
	Leaks() []leaksentinel.Leak
	Stats() leaksentinel.Stats
}

// Register creates the instruments on mp's meter named [ScopeName] and
// registers one callback that reads s at each collection: a collection
// costs the sentinel nothing but a few short holds of its lock. Call the
// returned registration's Unregister before dropping the sentinel. For
// two sentinels in one process, give each a meter provider whose resource
// or views tell them apart.
func Register(s *leaksentinel.Sentinel, mp metric.MeterProvider, opts Options) (metric.Registration, error) {
	return register(s, mp, opts)
}

// instruments are the observables of one registration.
type instruments struct {
	goroutines, site, leak, leaking, heapLive, stacks metric.Int64ObservableGauge
	leaks, captures, dropped, heapAlerts, turnedOver  metric.Int64ObservableCounter
	duration                                          metric.Float64ObservableCounter
}

func register(src source, mp metric.MeterProvider, opts Options) (metric.Registration, error) {
	top := opts.TopSites
	if top == 0 {
		top = DefaultTopSites
	}
	top = max(top, 0)
	m := mp.Meter(ScopeName)
	var in instruments
	var errs []error
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	in.goroutines = gauge("leaksentinel.goroutines", "{goroutine}",
		"Goroutines in the process at the sentinel's last full capture.")
	in.site = gauge("leaksentinel.site.goroutines", "{goroutine}",
		`Goroutines parked at one site (state, function, file, line) at the last full capture: the leaking sites and the largest others; the rest are summed in the series whose attributes are "other".`)
	in.leak = gauge("leaksentinel.leak.goroutines", "{goroutine}",
		"Goroutines at each site the sentinel finds leaking now, and the function that started most of them when known.")
	in.leaks = counter("leaksentinel.leaks", "{site}",
		"Sites the sentinel found leaking; repeat alerts for a site are not counted.")
	in.leaking = gauge("leaksentinel.leaking_sites", "{site}", "Sites leaking now.")
	in.captures = counter("leaksentinel.captures", "{capture}", "Full captures the sentinel took.")
	var err error
	in.duration, err = m.Float64ObservableCounter("leaksentinel.sample.duration", metric.WithUnit("s"),
		metric.WithDescription("Time the sentinel spent on its full captures, in all."))
	errs = append(errs, err)
	in.dropped = counter("leaksentinel.alerts.dropped", "{alert}",
		"Alerts OnLeak never got because its queue was full.")
	in.heapLive = gauge("leaksentinel.heap.live", "By",
		"Heap the last garbage collection found reachable, at the sentinel's last full capture: the floor of the heap's sawtooth.")
	in.stacks = gauge("leaksentinel.stack", "By", "Memory of goroutine stacks at the sentinel's last full capture.")
	in.heapAlerts = counter("leaksentinel.heap.alerts", "{alert}",
		"Memory alerts: the live heap kept rising while no goroutine site did (Options.WatchHeap).")
	in.turnedOver = counter("leaksentinel.turned_over", "{site}",
		"Sites whose floor rose like a leak's but whose goroutines had all been replaced: growing load, not reported.")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("leaksentinel: otelmetric: creating instruments: %w", err)
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		in.observe(o, src, top)
		return nil
	}, in.goroutines, in.site, in.leak, in.leaks, in.leaking, in.captures, in.duration, in.dropped,
		in.heapLive, in.stacks, in.heapAlerts, in.turnedOver)
	if err != nil {
		return nil, fmt.Errorf("leaksentinel: otelmetric: registering the callback: %w", err)
	}
	return reg, nil
}

// observe reports src's state: the callback of a collection.
func (in *instruments) observe(o metric.Observer, src source, top int) {
	st := src.Stats()
	leaks := src.Leaks()
	snap := src.Snapshot()
	o.ObserveInt64(in.leaks, int64(st.Leaks))
	o.ObserveInt64(in.dropped, int64(st.Dropped))
	o.ObserveInt64(in.leaking, int64(len(leaks)))
	for _, l := range leaks { // one per site
		attrs := siteAttributes(l.Site)
		if c := l.CreatedBy(); c != "" {
			attrs = append(attrs, CreatedByKey.String(valid(c)))
		}
		o.ObserveInt64(in.leak, int64(l.Count), metric.WithAttributes(attrs...))
	}
	o.ObserveInt64(in.captures, int64(st.Captures))
	o.ObserveFloat64(in.duration, st.TotalDuration.Seconds())
	o.ObserveInt64(in.heapAlerts, int64(st.HeapAlerts))
	o.ObserveInt64(in.turnedOver, int64(st.TurnedOver))
	if snap == nil {
		return
	}
	o.ObserveInt64(in.goroutines, int64(snap.Total))
	if mem := snap.Memory; mem.GCCycles > 0 {
		o.ObserveInt64(in.heapLive, int64(mem.HeapLive))
		o.ObserveInt64(in.stacks, int64(mem.Stacks))
	}
	sites, restCount, rest := topSites(snap, leaks, top)
	for _, g := range sites {
		o.ObserveInt64(in.site, int64(g.Count), metric.WithAttributes(siteAttributes(g.Site)...))
	}
	if rest > 0 {
		o.ObserveInt64(in.site, int64(restCount), metric.WithAttributes(
			semconv.CodeFunctionName(other), semconv.CodeFilePath(other), StateKey.String(other)))
	}
}

// siteAttributes are the attributes of a site's series.
func siteAttributes(s leaksentinel.Site) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.CodeFunctionName(valid(s.Function)),
		semconv.CodeFilePath(valid(s.File)),
		semconv.CodeLineNumber(s.Line),
		StateKey.String(valid(string(s.State))),
	}
}

// topSites returns the sites with a series of their own: the leaking ones,
// largest first, then the largest others, up to n; and the goroutines and
// the number of the sites left.
func topSites(snap *leaksentinel.Snapshot, leaks []leaksentinel.Leak, n int) (top []leaksentinel.Group, restCount, rest int) {
	// Sum by site: a site must not yield two series with the same
	// attributes, which the SDK would merge as it pleases.
	counts := make(map[leaksentinel.Site]int, len(snap.Groups))
	var order []leaksentinel.Site // largest first, as the snapshot lists them
	for _, g := range snap.Groups {
		if _, seen := counts[g.Site]; !seen {
			order = append(order, g.Site)
		}
		counts[g.Site] += g.Count
	}
	picked := make(map[leaksentinel.Site]bool, n)
	pick := func(site leaksentinel.Site) {
		if c, ok := counts[site]; ok && !picked[site] && len(top) < n {
			picked[site] = true
			top = append(top, leaksentinel.Group{Site: site, Count: c})
		}
	}
	for _, l := range leaks {
		pick(l.Site)
	}
	for _, site := range order {
		pick(site)
	}
	for _, site := range order {
		if !picked[site] {
			rest++
			restCount += counts[site]
		}
	}
	return top, restCount, rest
}

// valid makes s a valid attribute value: OTLP carries strings as protobuf
// strings, which must be UTF-8, and a file path need not be. One invalid
// string would fail the whole export.
func valid(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
