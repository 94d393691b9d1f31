package leaksentinel

// expvarSites is the number of sites, besides the leaking ones, that
// Expvar lists: /debug/vars is often polled, so it stays small.
const expvarSites = 20

// Expvar returns the sentinel's state as a value for the expvar package,
// which serves it as JSON at /debug/vars once published:
//
//	expvar.Publish("leaksentinel", expvar.Func(s.Expvar))
//
// The value has the counters of the handler's JSON view (total, samples,
// captures, leaks, leaking, alerts_dropped, sites_omitted; see
// [Sentinel.Handler]) and its sites cut down to state, function, file,
// line, count and leaking: the leaking sites, then the 20 largest others.
// Each call reads the sentinel's state afresh.
//
// The sentinel does not publish itself: expvar names are process-wide and
// expvar.Publish panics on a name published twice, and this package does
// not import expvar, whose initialisation adds /debug/vars, with the
// command line, to http.DefaultServeMux of every program that imports it.
func (s *Sentinel) Expvar() any {
	rep := s.buildView(expvarSites, false)
	out := expvarReport{
		Total:    rep.Total,
		Ticks:    rep.Ticks,
		Captures: rep.Captures,
		Leaks:    rep.Leaks,
		Leaking:  rep.Leaking,
		Dropped:  rep.Dropped,
		Omitted:  rep.Omitted,
		Sites:    make([]expvarSite, len(rep.Sites)),
	}
	for i, r := range rep.Sites {
		out.Sites[i] = expvarSite{State: r.State, Function: r.Function, File: r.File, Line: r.Line, Count: r.Count, Leaking: r.Leaking}
	}
	return out
}

type expvarReport struct {
	Total    int          `json:"total"`
	Ticks    int          `json:"ticks"`
	Captures int          `json:"captures"`
	Leaks    int          `json:"leaks"`
	Leaking  int          `json:"leaking"`
	Dropped  int          `json:"alerts_dropped"`
	Omitted  int          `json:"sites_omitted"`
	Sites    []expvarSite `json:"sites"`
}

type expvarSite struct {
	State    State  `json:"state"`
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Count    int    `json:"count"`
	Leaking  bool   `json:"leaking"`
}
