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

// jsonGroup is a site of group --json: the library's one JSON shape of a
// site ([leaksentinel.Group.MarshalJSON], documented on Sentinel.Handler),
// its stacks only with --stacks, and the source listings of --source.
type jsonGroup struct {
	leaksentinel.Group
	withStacks    bool
	Source        *listing
	CreatorSource *listing
}

func (g jsonGroup) MarshalJSON() ([]byte, error) {
	b, err := g.Group.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if !g.withStacks {
		delete(m, "stacks")
	}
	for k, v := range map[string]*listing{"source": g.Source, "creator_source": g.CreatorSource} {
		if v != nil {
			if m[k], err = json.Marshal(v); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(m)
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
		jg := jsonGroup{Group: g, withStacks: c.stacks}
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
