package leaksentinel

import (
	"encoding/json"
	"time"
)

// siteView is the one JSON shape of a site, a group or a leak: the
// handler's ?format=json sites, [Sentinel.Expvar]'s, the CLI's --json
// output and [Leak.MarshalJSON] and [Group.MarshalJSON] all write it. Its
// fields are documented on [Sentinel.Handler]; a field the source or the
// kind of object does not have is zero, and the newer ones are left out
// when zero.
type siteView struct {
	State          State               `json:"state"`
	Function       string              `json:"function"`
	File           string              `json:"file"`
	Line           int                 `json:"line"`
	Count          int                 `json:"count"`
	Leaking        bool                `json:"leaking"`
	Growth         int                 `json:"growth"`
	RatePerMinute  float64             `json:"rate_per_minute"`
	Since          *time.Time          `json:"since"`
	Found          *time.Time          `json:"found,omitempty"`
	Sample         int                 `json:"sample,omitempty"`
	Window         int                 `json:"window_samples,omitempty"`
	CreatedBy      []creatorView       `json:"created_by"`
	OldestWait     float64             `json:"oldest_wait_seconds"`
	StackBytes     int64               `json:"stack_bytes"`
	HeapGrowth     int64               `json:"heap_growth_bytes,omitempty"`
	Confirmed      bool                `json:"confirmed"`
	ProvedAt       *time.Time          `json:"proved_at,omitempty"`
	ConfirmNote    string              `json:"confirm_note"`
	Leaked         int                 `json:"leaked,omitempty"`
	LockedToThread int                 `json:"locked_to_thread,omitempty"`
	Labels         map[string][]string `json:"labels"`
	History        []int               `json:"history,omitempty"`
	Stack          []frameView         `json:"stack"`
	Stacks         []stackView         `json:"stacks,omitempty"`
}

type frameView struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

type creatorView struct {
	frameView
	Count int `json:"count"`
}

type stackView struct {
	Count     int         `json:"count"`
	Frames    []frameView `json:"frames"`
	CreatedBy *frameView  `json:"created_by,omitempty"`
}

// MarshalJSON writes l in the JSON shape of a site that [Sentinel.Handler]
// documents, leaking.
func (l Leak) MarshalJSON() ([]byte, error) { return json.Marshal(leakView(l)) }

// MarshalJSON writes g in the JSON shape of a site that [Sentinel.Handler]
// documents, with every distinct stack under "stacks".
func (g Group) MarshalJSON() ([]byte, error) {
	v := groupView(&g)
	for _, st := range g.Stacks {
		sv := stackView{Count: st.Count, Frames: frameViews(st.Frames)}
		if st.CreatedBy != (Frame{}) {
			f := frameView{st.CreatedBy.Function, st.CreatedBy.File, st.CreatedBy.Line}
			sv.CreatedBy = &f
		}
		v.Stacks = append(v.Stacks, sv)
	}
	return json.Marshal(v)
}

func (r *siteView) site() Site {
	return Site{State: r.State, Function: r.Function, File: r.File, Line: r.Line}
}

func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func leakView(l Leak) siteView {
	r := siteView{
		State: l.State, Function: l.Function, File: l.File, Line: l.Line,
		Count:         l.Count,
		Leaking:       true,
		Growth:        l.Growth,
		RatePerMinute: roundRate(l.Rate),
		Since:         utc(l.Since),
		Found:         utc(l.Found),
		Sample:        l.Sample,
		Window:        l.Window,
		CreatedBy:     creatorViews(l.Creators),
		OldestWait:    l.OldestWait.Seconds(),
		StackBytes:    l.StackBytes,
		HeapGrowth:    l.HeapGrowth,
		Confirmed:     l.Confirmed,
		ProvedAt:      utc(l.ProvedAt),
		ConfirmNote:   l.ConfirmNote,
		Labels:        l.Labels,
		Stack:         frameViews(l.Stack.Frames),
	}
	if r.Labels == nil {
		r.Labels = map[string][]string{}
	}
	return r
}

func groupView(g *Group) siteView {
	r := siteView{
		State: g.State, Function: g.Function, File: g.File, Line: g.Line,
		Count:          g.Count,
		CreatedBy:      creatorViews(g.Creators),
		OldestWait:     g.OldestWait.Seconds(),
		Leaked:         g.Leaked,
		LockedToThread: g.LockedToThread,
		Labels:         g.Labels,
		Stack:          []frameView{},
	}
	if len(g.Stacks) > 0 {
		r.Stack = frameViews(g.Stacks[0].Frames)
	}
	if r.Labels == nil {
		r.Labels = map[string][]string{}
	}
	return r
}

func creatorViews(cs []Creator) []creatorView {
	out := make([]creatorView, len(cs))
	for i, c := range cs {
		out[i] = creatorView{frameView{c.Function, c.File, c.Line}, c.Count}
	}
	return out
}

func frameViews(fs []Frame) []frameView {
	out := make([]frameView, len(fs))
	for i, f := range fs {
		//lint:ignore S1016 a literal, so that a field added to Frame does not break the view
		out[i] = frameView{f.Function, f.File, f.Line}
	}
	return out
}
