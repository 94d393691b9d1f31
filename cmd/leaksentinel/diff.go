package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/leaksentinel/leaksentinel"
)

var diffCommand = &command{
	name:    "diff",
	summary: "what grew between two dumps or profiles, by site",
	help: `Usage: leaksentinel diff [flags] BASE CUR

Diff prints each blocking site whose goroutine count changed from BASE to
CUR, largest growth first: what 'go tool pprof -base BASE CUR' answers, by
site rather than by function. BASE and CUR can be any mix of the formats
group reads; when their formats see states differently (a text dump names a
nil-channel send, a profile cannot), states are compared as the coarser one
shows them. One of them may be '-' (standard input).

Both inputs must parse completely: a truncated dump would make its sites
look smaller, so diff refuses it (exit 3).

Examples:
  leaksentinel diff before.pb.gz after.pb.gz
  leaksentinel diff --top 5 monday.txt tuesday.txt
  curl -s localhost:6060/debug/pprof/goroutine | leaksentinel diff --fail-on-growth 100 base.pb.gz -
  leaksentinel diff --json base.pb.gz cur.txt | jq '.deltas[] | select(.growth > 0)'
`,
	flags: func(fs *flag.FlagSet) any {
		c := &diffConfig{}
		fs.BoolVar(&c.json, "json", false, "print JSON")
		fs.IntVar(&c.failOn, "fail-on-growth", 0, "exit 1 when any site grew by `N` goroutines or more (0: never)")
		fs.IntVar(&c.top, "top", 0, "print only the first `N` sites (0: all)")
		return c
	},
	run: func(ctx context.Context, e *env, cfg any, args []string) error {
		return runDiff(e, cfg.(*diffConfig), args)
	},
}

type diffConfig struct {
	json   bool
	failOn int
	top    int
}

type jsonDelta struct {
	jsonSite
	Before int `json:"before"`
	After  int `json:"after"`
	Growth int `json:"growth"`
}

type jsonDiffReport struct {
	Base   jsonInput   `json:"base"`
	Cur    jsonInput   `json:"cur"`
	States format      `json:"states_as"` // the format whose states were compared
	Deltas []jsonDelta `json:"deltas"`
	// Failed reports whether a site grew by --fail-on-growth or more.
	Failed bool `json:"failed,omitempty"`
}

func runDiff(e *env, c *diffConfig, args []string) error {
	if len(args) != 2 {
		return usageError("want BASE and CUR, got %d arguments", len(args))
	}
	if args[0] == "-" && args[1] == "-" {
		return usageError("only one of BASE and CUR can be standard input")
	}
	if c.failOn < 0 || c.top < 0 {
		return usageError("--fail-on-growth and --top cannot be negative")
	}
	var ins [2]*input
	for i, name := range args {
		in, err := load(name, e.stdin)
		if err == nil && (in == nil || in.snap == nil) {
			err = errors.New("no goroutines")
		}
		if err != nil {
			return err
		}
		ins[i] = in
	}
	base, cur := ins[0], ins[1]
	deltas := leaksentinel.Diff(base.snap, cur.snap)
	var worst *leaksentinel.Delta
	for i := range deltas {
		if c.failOn > 0 && deltas[i].Growth() >= c.failOn && (worst == nil || deltas[i].Growth() > worst.Growth()) {
			worst = &deltas[i]
		}
	}
	shown := deltas
	if c.top > 0 && c.top < len(shown) {
		shown = shown[:c.top]
	}
	states := coarser(base.format, cur.format)
	if c.json {
		r := jsonDiffReport{Base: toInput(base), Cur: toInput(cur), States: states, Deltas: []jsonDelta{}, Failed: worst != nil}
		for _, d := range shown {
			r.Deltas = append(r.Deltas, jsonDelta{jsonSite: toSite(d.Site), Before: d.Before, After: d.After, Growth: d.Growth()})
		}
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		writeDiff(e.stdout, base, cur, states, deltas, shown)
	}
	if worst != nil {
		return &exitError{code: exitFound, err: fmt.Errorf("%s grew by %d (--fail-on-growth %d)", worst.Site, worst.Growth(), c.failOn)}
	}
	return nil
}

// coarser returns the format whose states are the coarser: text names
// every wait reason, a profile infers most of them, ?debug=1 few.
func coarser(a, b format) format {
	rank := map[format]int{formatText: 0, formatProto: 1, formatDebug1: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func writeDiff(w io.Writer, base, cur *input, states format, all, shown []leaksentinel.Delta) {
	for _, x := range []struct {
		label string
		in    *input
	}{{"base:", base}, {"cur: ", cur}} {
		fmt.Fprintf(w, "%s %s (%s, %s)\n", x.label, x.in.name, x.in.format.describe(), plural(x.in.snap.Total, "goroutine"))
	}
	if base.format != cur.format {
		fmt.Fprintf(w, "states compared as the %s shows them\n", states.describe())
	}
	if states == formatDebug1 {
		fmt.Fprintf(w, "note: %s\n", debug1Note)
	}
	fmt.Fprintf(w, "goroutines: %d -> %d (%+d)\n\n", base.snap.Total, cur.snap.Total, cur.snap.Total-base.snap.Total)
	if len(all) == 0 {
		io.WriteString(w, "no site changed\n")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "GROWTH\tBEFORE\tAFTER\t  SITE")
	for _, d := range shown {
		fmt.Fprintf(tw, "%+d\t%d\t%d\t  %s\n", d.Growth(), d.Before, d.After, siteLine(d.Site))
	}
	tw.Flush()
	if len(shown) < len(all) {
		fmt.Fprintf(w, "... %s more\n", plural(len(all)-len(shown), "site"))
	}
}
