package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

var groupCommand = &command{
	name:    "group",
	summary: "sites of a dump or profile, largest first",
	help: `Usage: leaksentinel group [flags] FILE|-

Group reads a goroutine dump or profile and prints its blocking sites,
largest first: how many goroutines are parked there, in which state, the
share of all goroutines, the oldest wait and the goroutines' creators
(text dumps only: profiles carry neither), and the goroutines the runtime
proved leaked, where the input says so. A site is a state and the first
frame outside the runtime and the blocking plumbing of sync, net, os, io.

FILE is any dump or profile the runtime writes, gzipped or not, detected by
content: runtime.Stack output, /debug/pprof/goroutine?debug=2 or ?debug=1,
panic and SIGQUIT tracebacks, the ?debug=0 protobuf profile, and the same
for the goroutineleak profile. '-' reads standard input.

A dump cut short (runtime.Stack into a small buffer) prints the goroutines
that were complete, then reports the cut on stderr and exits 3.

Examples:
  leaksentinel group dump.txt
  curl -s 'localhost:6060/debug/pprof/goroutine?debug=2' | leaksentinel group -
  leaksentinel group --stacks --source --top 3 goroutine.pb.gz
  leaksentinel group --json dump.txt.gz | jq '.sites[0]'
`,
	flags: func(fs *flag.FlagSet) any {
		c := &groupConfig{}
		fs.BoolVar(&c.json, "json", false, "print JSON")
		fs.BoolVar(&c.stacks, "stacks", false, "print each site's distinct stacks with their counts (pprof's traces)")
		fs.BoolVar(&c.source, "source", false, "print the source lines around each site and its creator, where the\nfiles are present (pprof's list)")
		fs.StringVar(&c.sourceDir, "source-dir", "", "look for source files missing at their recorded path under `DIR`,\nmatching the path's trailing elements")
		fs.IntVar(&c.top, "top", 0, "print only the `N` largest sites (0: all)")
		return c
	},
	run: func(ctx context.Context, e *env, cfg any, args []string) error {
		return runGroup(e, cfg.(*groupConfig), args)
	},
}

type groupConfig struct {
	json, stacks, source bool
	sourceDir            string
	top                  int
}

func runGroup(e *env, c *groupConfig, args []string) error {
	if len(args) != 1 {
		return usageError("want one FILE (or - for stdin), got %d arguments", len(args))
	}
	if c.top < 0 {
		return usageError("--top %d is negative", c.top)
	}
	in, err := load(args[0], e.stdin)
	if in == nil || in.snap == nil {
		if err == nil {
			err = errors.New("no goroutines")
		}
		return err
	}
	src := &sources{dir: c.sourceDir}
	if c.json {
		r := groupReport(in, c, src, err)
		if werr := writeJSON(e.stdout, r); werr != nil {
			return werr
		}
	} else {
		writeGroup(e.stdout, in, c, src, err)
	}
	return err
}

// sites returns the groups to print.
func (c *groupConfig) sites(s *leaksentinel.Snapshot) []leaksentinel.Group {
	if c.top > 0 && c.top < len(s.Groups) {
		return s.Groups[:c.top]
	}
	return s.Groups
}

func writeGroup(w io.Writer, in *input, c *groupConfig, src *sources, err error) {
	s := in.snap
	kind := in.format.describe()
	if in.gzip {
		kind += ", gzipped"
	}
	fmt.Fprintf(w, "%s: %s, %s at %s", in.name, kind, plural(s.Total, "goroutine"), plural(len(s.Groups), "site"))
	if !s.Time.IsZero() {
		fmt.Fprintf(w, ", taken %s", s.Time.Format(time.DateTime))
	}
	io.WriteString(w, "\n")
	switch {
	case errors.Is(err, leaksentinel.ErrTruncated):
		io.WriteString(w, "the input is cut short: these are its complete goroutines\n")
	case err != nil:
		io.WriteString(w, "the input has errors: these are the goroutines that could be read\n")
	}
	if in.format == formatDebug1 {
		fmt.Fprintf(w, "note: %s\n", debug1Note)
	}
	for _, n := range s.Notes() {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	groups := c.sites(s)
	if len(groups) < len(s.Groups) {
		fmt.Fprintf(w, "showing the %d largest of %d sites\n", len(groups), len(s.Groups))
	}
	io.WriteString(w, "\n")
	writeTable(w, s.Total, groups)
	if !c.stacks && !c.source {
		return
	}
	for i := range groups {
		g := &groups[i]
		fmt.Fprintf(w, "\n%s at %s\n", plural(g.Count, "goroutine"), g.Site)
		if len(g.Labels) > 0 {
			fmt.Fprintf(w, "  labels: %s\n", formatLabels(g.Labels))
		}
		if c.stacks {
			for _, st := range g.Stacks {
				if len(st.Frames) == 0 && st.CreatedBy == (leaksentinel.Frame{}) && g.Site.Function != "" {
					fmt.Fprintf(w, "  %d with stacks past the parser's bound, not kept\n", st.Count)
					continue
				}
				fmt.Fprintf(w, "  %d with this stack:\n", st.Count)
				writeStack(w, "    ", st, 0)
			}
		}
		if c.source {
			src.write(w, "  ", g.Site.Frame(), g.Count)
			if len(g.Creators) > 0 {
				io.WriteString(w, "  created by:\n")
				src.write(w, "  ", g.Creators[0].Frame, g.Creators[0].Count)
			}
		}
	}
}

// writeTable prints one line per group.
func writeTable(w io.Writer, total int, groups []leaksentinel.Group) {
	var wait, leaked, creators bool
	for _, g := range groups {
		wait = wait || g.OldestWait > 0
		leaked = leaked || g.Leaked > 0
		creators = creators || len(g.Creators) > 0
	}
	width := len("COUNT")
	for _, g := range groups {
		width = max(width, len(fmt.Sprint(g.Count)))
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	cols := []string{fmt.Sprintf("%*s", width, "COUNT"), "%", "STATE"}
	if wait {
		cols = append(cols, "OLDEST WAIT")
	}
	if leaked {
		cols = append(cols, "LEAKED")
	}
	cols = append(cols, "SITE")
	if creators {
		cols = append(cols, "CREATED BY")
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, g := range groups {
		cols = append(cols[:0], fmt.Sprintf("%*d", width, g.Count), percent(g.Count, total), string(g.State))
		if wait {
			cols = append(cols, formatWait(g.OldestWait))
		}
		if leaked {
			cols = append(cols, fmt.Sprint(g.Leaked))
		}
		cols = append(cols, siteShort(g.Site))
		if creators {
			cols = append(cols, formatCreators(g.Creators))
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
	// An empty last column leaves the padding of the one before it.
	for line := range strings.Lines(buf.String()) {
		io.WriteString(w, strings.TrimRight(line, " \n")+"\n")
	}
}

// writeStack prints st as a traceback prints it, at most limit frames
// (0: all).
func writeStack(w io.Writer, indent string, st leaksentinel.Stack, limit int) {
	frames := st.Frames
	if limit > 0 && len(frames) > limit {
		frames = frames[:limit]
	}
	for _, f := range frames {
		fmt.Fprintf(w, "%s%s\n%s\t%s:%d\n", indent, f.Function, indent, f.File, f.Line)
	}
	if len(frames) < len(st.Frames) {
		fmt.Fprintf(w, "%s...%d frames more\n", indent, len(st.Frames)-len(frames))
	}
	if st.CreatedBy != (leaksentinel.Frame{}) {
		fmt.Fprintf(w, "%screated by %s\n%s\t%s:%d\n", indent, st.CreatedBy.Function, indent, st.CreatedBy.File, st.CreatedBy.Line)
	}
}

// siteShort is "function file.go:53", the file without its directory.
func siteShort(s leaksentinel.Site) string {
	if s == (leaksentinel.Site{}) {
		return "(other sites, past the parser's bound)"
	}
	if s.Function == "" {
		return "?"
	}
	return frameShort(s.Frame())
}

func frameShort(f leaksentinel.Frame) string {
	if f.File == "" {
		return f.Function
	}
	return fmt.Sprintf("%s %s:%d", f.Function, filepath.Base(f.File), f.Line)
}

func formatCreators(cs []leaksentinel.Creator) string {
	if len(cs) == 0 {
		return ""
	}
	s := frameShort(cs[0].Frame)
	if len(cs) > 1 {
		s += fmt.Sprintf(" (+%d more)", len(cs)-1)
	}
	return s
}

func formatWait(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func formatLabels(labels map[string][]string) string {
	var parts []string
	for _, k := range sortedKeys(labels) {
		parts = append(parts, k+"="+strings.Join(labels[k], ","))
	}
	return strings.Join(parts, " ")
}

func percent(n, total int) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
