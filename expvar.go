package leaksentinel

// expvarSites is the number of sites, besides the leaking ones, that
// Expvar lists: /debug/vars is often polled, so it stays small.
const expvarSites = 20

// Expvar returns the sentinel's state as a value for the expvar package,
// which serves it as JSON at /debug/vars once published:
//
//	expvar.Publish("leaksentinel", expvar.Func(s.Expvar))
//
// The value has the counters of the handler's JSON view (total, ticks,
// captures, leaks, leaking, alerts_dropped, sites_omitted, failed; see
// [Sentinel.Handler]) and its sites, in the same shape but without their
// history: the leaking sites, then the 20 largest others. Each call reads
// the sentinel's state afresh.
//
// The sentinel does not publish itself: expvar names are process-wide and
// expvar.Publish panics on a name published twice, and this package does
// not import expvar, whose initialisation adds /debug/vars, with the
// command line, to http.DefaultServeMux of every program that imports it.
func (s *Sentinel) Expvar() any {
	rep := s.buildView(expvarSites, false)
	return expvarReport{
		Total:    rep.Total,
		Ticks:    rep.Ticks,
		Captures: rep.Captures,
		Leaks:    rep.Leaks,
		Leaking:  rep.Leaking,
		Dropped:  rep.Dropped,
		Omitted:  rep.Omitted,
		Failed:   rep.Failed,
		Sites:    rep.Sites,
	}
}

type expvarReport struct {
	Total    int        `json:"total"`
	Ticks    int        `json:"ticks"`
	Captures int        `json:"captures"`
	Leaks    int        `json:"leaks"`
	Leaking  int        `json:"leaking"`
	Dropped  int        `json:"alerts_dropped"`
	Omitted  int        `json:"sites_omitted"`
	Failed   int        `json:"failed"`
	Sites    []siteView `json:"sites"`
}
