package main

import (
	"encoding/json"
	"io"
	"slices"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

// The JSON the commands print. Field names are snake_case and stable;
// fields that the source does not have are left out.

type jsonFrame struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

type jsonSite struct {
	State string `json:"state"`
	jsonFrame
}

type jsonCreator struct {
	jsonFrame
	Count int `json:"count"`
}

type jsonStack struct {
	Count     int         `json:"count"`
	Frames    []jsonFrame `json:"frames"`
	CreatedBy *jsonFrame  `json:"created_by,omitempty"`
}

type jsonGroup struct {
	jsonSite
	Count             int                 `json:"count"`
	Leaked            int                 `json:"leaked,omitempty"`
	LockedToThread    int                 `json:"locked_to_thread,omitempty"`
	OldestWaitMinutes int                 `json:"oldest_wait_minutes,omitempty"`
	Creators          []jsonCreator       `json:"creators,omitempty"`
	Labels            map[string][]string `json:"labels,omitempty"`
	Stacks            []jsonStack         `json:"stacks,omitempty"`
	Source            *listing            `json:"source,omitempty"`
	CreatorSource     *listing            `json:"creator_source,omitempty"`
}

type jsonInput struct {
	File   string     `json:"file"`
	Format format     `json:"format"` // text, debug1, proto
	Gzip   bool       `json:"gzip,omitempty"`
	Time   *time.Time `json:"time,omitempty"` // profiles only
	Total  int        `json:"goroutines"`
	Sites  int        `json:"total_sites"`
	Note   string     `json:"note,omitempty"`
	// Notes are what the parser doubted, left out or bounded
	// (Snapshot.Notes): several dumps in the input, folded sites.
	Notes []string `json:"notes,omitempty"`
}

type jsonGroupReport struct {
	jsonInput
	// Error is the parse error of an input read in part (a truncated
	// dump): Groups are its complete goroutines.
	Error  string      `json:"error,omitempty"`
	Groups []jsonGroup `json:"sites"`
}

func toFrame(f leaksentinel.Frame) jsonFrame {
	return jsonFrame{Function: f.Function, File: f.File, Line: f.Line}
}

func toSite(s leaksentinel.Site) jsonSite {
	return jsonSite{State: string(s.State), jsonFrame: toFrame(s.Frame())}
}

func toCreators(cs []leaksentinel.Creator) []jsonCreator {
	var out []jsonCreator
	for _, c := range cs {
		out = append(out, jsonCreator{jsonFrame: toFrame(c.Frame), Count: c.Count})
	}
	return out
}

func toStack(st leaksentinel.Stack) jsonStack {
	js := jsonStack{Count: st.Count, Frames: make([]jsonFrame, 0, len(st.Frames))}
	for _, f := range st.Frames {
		js.Frames = append(js.Frames, toFrame(f))
	}
	if st.CreatedBy != (leaksentinel.Frame{}) {
		f := toFrame(st.CreatedBy)
		js.CreatedBy = &f
	}
	return js
}

func toInput(in *input) jsonInput {
	j := jsonInput{File: in.name, Format: in.format, Gzip: in.gzip, Total: in.snap.Total, Sites: len(in.snap.Groups), Notes: in.snap.Notes()}
	if t := in.snap.Time; !t.IsZero() {
		j.Time = &t
	}
	if in.format == formatDebug1 {
		j.Note = debug1Note
	}
	return j
}

func groupReport(in *input, c *groupConfig, src *sources, err error) jsonGroupReport {
	r := jsonGroupReport{jsonInput: toInput(in), Groups: []jsonGroup{}}
	if err != nil {
		r.Error = err.Error()
	}
	for _, g := range c.sites(in.snap) {
		jg := jsonGroup{
			jsonSite:          toSite(g.Site),
			Count:             g.Count,
			Leaked:            g.Leaked,
			LockedToThread:    g.LockedToThread,
			OldestWaitMinutes: int(g.OldestWait / time.Minute),
			Creators:          toCreators(g.Creators),
			Labels:            g.Labels,
		}
		if c.stacks {
			for _, st := range g.Stacks {
				jg.Stacks = append(jg.Stacks, toStack(st))
			}
		}
		if c.source {
			jg.Source = src.list(g.Site.Frame())
			if len(g.Creators) > 0 {
				jg.CreatorSource = src.list(g.Creators[0].Frame)
			}
		}
		r.Groups = append(r.Groups, jg)
	}
	return r
}

// writeJSON writes v indented, for a person reading it as well as jq.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
