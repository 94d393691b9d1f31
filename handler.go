package leaksentinel

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// handlerSites is the number of sites, besides the leaking ones, that the
// handler shows: the largest.
const handlerSites = 100

// Handler returns an HTTP handler that shows what the sentinel sees: one
// row per site, leaking sites first, each with its count over the samples
// the sentinel keeps. Nothing is served unless the caller mounts it; it
// shows function names, file paths and stacks, so mount it where only
// operators reach it, as net/http/pprof:
//
//	mux.Handle("/debug/leaksentinel", requireOperator(s.Handler()))
//
// It answers GET and HEAD. By default it serves an HTML page with no
// scripts and no external resources. With ?format=json it serves the same
// data as one JSON object, whose field names are stable:
//
//	time             the last capture's time (RFC 3339, UTC), null before the first
//	total            goroutines at the last capture
//	ticks            ticks so far, those that skipped the capture included ([Stats].Ticks)
//	captures         full captures so far ([Stats].Captures)
//	leaks            leaks reported so far ([Stats].Leaks)
//	leaking          sites leaking now
//	alerts_dropped   alerts OnLeak never got ([Stats].Dropped)
//	sites_omitted    sites of the last capture not listed
//	memory           the process's memory at the last capture ([Memory]), null before it:
//	  heap_live_bytes, stack_bytes, total_bytes, gc_cycles
//	heap_alerts      memory alerts so far ([Stats].HeapAlerts)
//	turned_over      rises not reported: none of the site's goroutines stayed ([Stats].TurnedOver)
//	failed           captures that failed ([Stats].Failed)
//	sites            the leaking sites, largest first, then the 100 largest others
//
// A site is written in one JSON shape everywhere: here, in [Sentinel.Expvar],
// by [Leak.MarshalJSON] and [Group.MarshalJSON], and in the CLI's --json
// output. Its fields:
//
//	state                why the goroutines are parked ([State])
//	function, file, line the site's frame ([Site])
//	count                goroutines at the site at the last capture
//	leaking              whether the site is leaking now
//	growth               rise of the site's floor when last reported; 0 unless leaking
//	rate_per_minute      that growth per minute; 0 unless leaking
//	since                when the growth began (RFC 3339, UTC); null unless leaking
//	found                when the leak was reported (the sample's time); left out unless leaking
//	sample               the capture it was reported at, from 1; left out unless leaking
//	window_samples       the samples the growth was seen over; left out unless leaking
//	created_by           [{function, file, line, count}], most common first; empty when unknown
//	oldest_wait_seconds  the longest wait as the runtime printed it (whole minutes); 0 when unknown
//	stack_bytes          estimated stack memory held ([Leak].StackBytes); 0 unless leaking
//	heap_growth_bytes    the live heap's growth meanwhile ([Leak].HeapGrowth); left out when 0
//	confirmed            whether the runtime's goroutineleak profile proved the leak
//	proved_at            when it did; left out unless confirmed
//	confirm_note         why confirmation was not attempted, when it was not
//	leaked               goroutines the source marks leaked ([Group].Leaked); left out when 0
//	locked_to_thread     goroutines locked to their thread; left out when 0
//	labels               pprof labels seen on the goroutines, {key: [values]}
//	history              the site's count at each sample kept, oldest first (the handler only)
//	stack                a representative stack, [{function, file, line}], innermost first
//	stacks               every distinct stack, [{count, frames, created_by}] ([Group.MarshalJSON] only)
//
// The handler is safe for concurrent use. A request reads the sentinel's
// state through the lock its sampler takes, holding it only to copy, and
// does not delay a sample otherwise.
func (s *Sentinel) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Sentinel) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", pageCSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "leaksentinel: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var (
		b   bytes.Buffer
		err error
	)
	switch f := r.URL.Query().Get("format"); f {
	case "", "html":
		h.Set("Content-Type", "text/html; charset=utf-8")
		err = pageTemplate.Execute(&b, s.buildView(handlerSites, true))
	case "json":
		h.Set("Content-Type", "application/json; charset=utf-8")
		err = json.NewEncoder(&b).Encode(s.buildView(handlerSites, true))
	default:
		http.Error(w, fmt.Sprintf("leaksentinel: unknown format %q (want html or json)", f), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, "leaksentinel: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	if r.Method == http.MethodGet {
		w.Write(b.Bytes())
	}
}

// view is the handler's data; its JSON form is documented on Handler.
type view struct {
	Time       *time.Time  `json:"time"`
	Total      int         `json:"total"`
	Ticks      int         `json:"ticks"`
	Captures   int         `json:"captures"`
	Leaks      int         `json:"leaks"`
	Leaking    int         `json:"leaking"`
	Dropped    int         `json:"alerts_dropped"`
	Omitted    int         `json:"sites_omitted"`
	Memory     *memoryView `json:"memory"`
	HeapAlerts int         `json:"heap_alerts"`
	TurnedOver int         `json:"turned_over"`
	Failed     int         `json:"failed"`
	Sites      []siteView  `json:"sites"`
}

type memoryView struct {
	HeapLive uint64 `json:"heap_live_bytes"`
	Stacks   uint64 `json:"stack_bytes"`
	Total    uint64 `json:"total_bytes"`
	GCCycles uint64 `json:"gc_cycles"`
}

// buildView gathers the leaking sites and the largest others, at most limit of
// those, with their histories and stacks when detail is set.
func (s *Sentinel) buildView(limit int, detail bool) view {
	snap, leaks, st := s.Snapshot(), s.Leaks(), s.Stats()
	rep := view{
		Ticks:      st.Ticks,
		Captures:   st.Captures,
		Leaks:      st.Leaks,
		Leaking:    len(leaks),
		Dropped:    st.Dropped,
		HeapAlerts: st.HeapAlerts,
		TurnedOver: st.TurnedOver,
		Failed:     st.Failed,
		Sites:      []siteView{},
	}
	leaking := make(map[Site]Leak, len(leaks))
	for _, l := range leaks {
		leaking[l.Site] = l
	}
	// Groups are unique by site and largest first; merge anyway, so that
	// a source that splits a site cannot show it twice.
	var groups []Group
	if snap != nil {
		t := snap.Time.UTC()
		rep.Time, rep.Total, rep.Omitted = &t, snap.Total, snap.omitted
		m := snap.Memory
		rep.Memory = &memoryView{HeapLive: m.HeapLive, Stacks: m.Stacks, Total: m.Total, GCCycles: m.GCCycles}
		index := make(map[Site]int, len(snap.Groups))
		for _, g := range snap.Groups {
			if i, ok := index[g.Site]; ok {
				groups[i].Count += g.Count
				continue
			}
			index[g.Site] = len(groups)
			groups = append(groups, g)
		}
	}
	seen := make(map[Site]bool, len(leaks))
	for _, l := range leaks {
		seen[l.Site] = true
		rep.Sites = append(rep.Sites, leakView(l))
	}
	var others []siteView
	for i := range groups {
		g := &groups[i]
		if seen[g.Site] {
			continue
		}
		if len(others) == limit {
			rep.Omitted++
			continue
		}
		others = append(others, groupView(g))
	}
	slices.SortStableFunc(others, func(a, b siteView) int { return b.Count - a.Count })
	rep.Sites = append(rep.Sites, others...)
	if !detail {
		return rep
	}
	for i := range rep.Sites {
		r := &rep.Sites[i]
		r.History = s.siteHistory(r.site())
		if r.History == nil {
			r.History = []int{}
		}
	}
	return rep
}

// Sparkline geometry, in CSS pixels.
const (
	sparkWidth  = 120
	sparkHeight = 24
	sparkPad    = 2 // keeps the stroke inside the box
)

// sparkline returns the points of an SVG polyline drawing counts scaled to
// their maximum, oldest on the left: a flat line along the bottom when
// there is nothing to draw.
func sparkline(counts []int) string {
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	y := func(c int) float64 {
		if top == 0 {
			return sparkHeight - sparkPad
		}
		return sparkPad + float64(sparkHeight-2*sparkPad)*float64(top-c)/float64(top)
	}
	if len(counts) < 2 {
		c := 0
		if len(counts) == 1 {
			c = counts[0]
		}
		return fmt.Sprintf("0,%g %d,%g", y(c), sparkWidth, y(c))
	}
	var b strings.Builder
	step := float64(sparkWidth) / float64(len(counts)-1)
	for i, c := range counts {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", float64(i)*step, y(c))
	}
	return b.String()
}

// wrapPoints splits a path after each slash, and a function name also
// after each dot of its last path element ("net/http.(*conn).serve"): the
// page lets a long one wrap there (<wbr>) rather than widen its column and
// make the page scroll sideways. File names are not split at dots, so that
// "server.go:3434" stays whole.
func wrapPoints(s string, function bool) []string {
	var parts []string
	for {
		seps := "/"
		if function && !strings.Contains(s, "/") {
			seps = "/."
		}
		i := strings.IndexAny(s, seps)
		if i < 0 || i == len(s)-1 {
			return append(parts, s)
		}
		parts = append(parts, s[:i+1])
		s = s[i+1:]
	}
}

// pageCSS is the page's only style sheet; the Content-Security-Policy
// allows it by hash, so no other style, script or resource can load.
const pageCSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1f2328; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
p.summary { margin: 0 0 1em; color: #57606a; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3em .6em; border-bottom: 1px solid #d0d7de; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.state { white-space: nowrap; }
td.fn, td.loc, pre { font-family: ui-monospace, monospace; font-size: 12px; }
td.fn, td.loc { overflow-wrap: anywhere; }
td.fn { width: 28%; min-width: 16em; }
td.loc { width: 17%; min-width: 10em; }
summary { cursor: pointer; }
td.loc div + div { margin-top: .4em; }
pre { margin: .4em 0 0; padding: .4em; background: #f6f8fa; white-space: pre-wrap; overflow-wrap: anywhere; tab-size: 4; }
tr.leak { background: #ffebe9; }
tr.leak td:first-child { border-left: 4px solid #cf222e; font-weight: 600; }
svg.spark { display: block; }
svg.spark polyline { fill: none; stroke: #57606a; stroke-width: 1.5; }
tr.leak svg.spark polyline { stroke: #cf222e; }
`

// pageCSP forbids everything but the page's own style sheet.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"spark":        sparkline,
	"wrapPath":     func(s string) []string { return wrapPoints(s, false) },
	"wrapFunction": func(s string) []string { return wrapPoints(s, true) },
	"wait": func(seconds float64) string {
		if seconds <= 0 {
			return ""
		}
		return (time.Duration(seconds) * time.Second).String()
	},
	"mib": func(b uint64) string {
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	},
	"stamp": func(t *time.Time) string {
		if t == nil {
			return "no capture yet"
		}
		return t.UTC().Format(time.RFC3339)
	},
	"min": func(h []int) int {
		if len(h) == 0 {
			return 0
		}
		return slices.Min(h)
	},
	"max": func(h []int) int {
		if len(h) == 0 {
			return 0
		}
		return slices.Max(h)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leaksentinel{{if .Leaking}}: {{.Leaking}} leaking{{end}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
<h1>leaksentinel</h1>
<p class="summary">{{.Total}} goroutines at {{stamp .Time}} &middot; <strong>{{.Leaking}} {{if eq .Leaking 1}}site{{else}}sites{{end}} leaking</strong> &middot; {{.Leaks}} {{if eq .Leaks 1}}leak{{else}}leaks{{end}} reported &middot; {{.Captures}} captures in {{.Ticks}} ticks{{if .Dropped}} &middot; {{.Dropped}} alerts dropped{{end}}{{if .Omitted}} &middot; {{.Omitted}} smaller sites not shown{{end}} &middot; <a href="?format=json">JSON</a></p>
{{with .Memory}}<p class="summary">live heap {{mib .HeapLive}} &middot; goroutine stacks {{mib .Stacks}} &middot; mapped {{mib .Total}} &middot; {{.GCCycles}} garbage collections{{if $.HeapAlerts}} &middot; <strong>{{$.HeapAlerts}} memory {{if eq $.HeapAlerts 1}}alert{{else}}alerts{{end}}</strong>{{end}}</p>{{end}}
{{- if .Sites}}
<table>
<thead><tr><th>state</th><th>function</th><th>file:line</th><th class="num">count</th><th>history</th><th class="num">growth</th><th class="num">rate/min</th><th>created by</th><th>oldest wait</th><th>confirmed</th></tr></thead>
<tbody>
{{- range .Sites}}
<tr class="{{if .Leaking}}leak{{else}}site{{end}}">
<td class="state">{{.State}}</td>
<td class="fn"><details><summary>{{template "function" .Function}}</summary><pre>{{range .Stack}}{{template "function" .Function}}
	{{template "path" .File}}:{{.Line}}
{{end}}</pre></details></td>
<td class="loc">{{template "path" .File}}:{{.Line}}</td>
<td class="num">{{.Count}}</td>
<td><svg class="spark" width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="count over the last {{len .History}} samples: {{min .History}} to {{max .History}}"><title>{{len .History}} samples: {{min .History}} to {{max .History}}</title><polyline points="{{spark .History}}"/></svg></td>
<td class="num">{{if .Leaking}}+{{.Growth}}{{end}}</td>
<td class="num">{{if .Leaking}}{{.RatePerMinute}}{{end}}</td>
<td class="loc">{{range .CreatedBy}}<div>{{template "function" .Function}}<br>{{template "path" .File}}:{{.Line}} ({{.Count}})</div>{{end}}</td>
<td>{{wait .OldestWait}}</td>
<td>{{if .Confirmed}}yes{{else if .Leaking}}<span title="{{.ConfirmNote}}">no</span>{{end}}</td>
</tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No capture yet.</p>
{{- end}}
</body>
</html>
{{- define "function"}}{{range $i, $part := wrapFunction .}}{{if $i}}<wbr>{{end}}{{$part}}{{end}}{{end}}
{{- define "path"}}{{range $i, $part := wrapPath .}}{{if $i}}<wbr>{{end}}{{$part}}{{end}}{{end}}
`))
