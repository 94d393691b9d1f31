package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// With -shapes, gen writes testdata/shapes/go1.NN instead: the dumps of
// testdata/go1.NN as people paste them (a shape is a transformation of a
// clean capture, named <capture>.<shape>.txt), several captures one after
// another (series.*.txt), and real panics and SIGQUIT dumps of park under
// GOTRACEBACK=system and crash, which the go1.NN set lacks. The clean
// captures must be there first: run gen without -shapes before.

// shapeJobs are the real runs of -shapes.
var shapeJobs = []job{
	{
		name: "panic-system", program: "park", args: []string{"-mode", "panic"}, gotb: "system",
		files:  []capture{{"panic_system.txt", "stderr of the child (log lines, then the dump) after a panic in a non-main goroutine"}},
		stderr: true, exit: 2,
	},
	{
		name: "panic-crash", program: "park", args: []string{"-mode", "panic"}, gotb: "crash",
		files:  []capture{{"panic_crash.txt", "stderr of the child (log lines, then the dump) after a panic in a non-main goroutine; the child dies of SIGABRT"}},
		stderr: true, exit: -1,
	},
	{
		name: "sigquit-crash", program: "park", args: []string{"-mode", "sigquit"}, gotb: "crash",
		files:  []capture{{"sigquit_crash.txt", "stderr of the child after SIGQUIT: the dump, then one section per thread after a \"-----\" line; the child dies of SIGABRT"}},
		stderr: true, sigquit: true, exit: -1,
	},
}

// A shape turns a clean capture into the text a person pastes.
type shape struct {
	name, how string
	from      []string // the captures it is applied to
	apply     func([]byte) []byte
}

var shapes = []shape{
	{"spaces4", "every tab turned into 4 spaces (Markdown, consoles, issue trackers)",
		[]string{"stack.txt", "debug2.txt", "debug1.txt"}, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\t"), []byte("    ")) }},
	{"spaces8", "every tab turned into 8 spaces",
		[]string{"stack.txt"}, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\t"), []byte("        ")) }},
	{"indented", "every line indented by 4 spaces, tabs kept (a Markdown code block)",
		[]string{"stack.txt", "debug1.txt", "panic.txt"}, func(b []byte) []byte { return prefixLines(b, "    ") }},
	{"issue", "every line indented by 2 spaces and its leading tab turned into 4 spaces, inside a fenced block with prose around it (an issue thread)",
		[]string{"stack.txt", "sigquit.txt"}, func(b []byte) []byte {
			b = prefixLines(leadingTabs(b, "    "), "  ")
			return fence(b)
		}},
	{"quoted", `every line quoted with "> " (a reply in an email or a Markdown quote)`,
		[]string{"stack.txt"}, func(b []byte) []byte { return prefixLines(b, "> ") }},
	{"markdown", "inside a fenced code block with prose before and after, tabs kept",
		[]string{"stack.txt", "debug1.txt"}, fence},
	{"crlf", "CRLF line ends",
		[]string{"stack.txt", "debug1.txt"}, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }},
	{"logprefix", `written with log.Printf("%s", dump): a timestamp before the first header`,
		[]string{"stack.txt", "debug2.txt"}, func(b []byte) []byte { return append([]byte("2026/12/01 10:00:00 "), b...) }},
	{"glued", "written right after a log message without a newline: the first header glued to its text",
		[]string{"stack.txt"}, func(b []byte) []byte {
			return append([]byte("2026/12/01 10:00:00 service: got SIGQUIT, dumping all stacks"), b...)
		}},
	{"nonewline", "the final newlines removed (an editor's save, a JavaScript string)",
		[]string{"stack.txt", "debug2.txt"}, func(b []byte) []byte { return bytes.TrimRight(b, "\n") }},
}

// A series is captures written one after another into one file.
type series struct {
	name, how string
	parts     []string
	between   string // text written between two parts
	// fromGoroutines cuts the parts after the first to start at their
	// first goroutine header, as a paste that begins there.
	fromGoroutines bool
}

var serieses = []series{
	{"series.log.txt", "stack.txt, then a log line, panic.txt (its log lines and the panic), then debug2.txt (a later capture of stack.txt's process)",
		[]string{"stack.txt", "panic.txt", "debug2.txt"}, "2026/12/01 10:00:01 service: still running\n", false},
	{"series.panic.txt", "panic.txt twice (a panic printed twice)", []string{"panic.txt", "panic.txt"}, "", false},
	{"series.debug1.txt", "debug1.txt twice (a cron job appending ?debug=1 profiles)", []string{"debug1.txt", "debug1.txt"}, "", false},
	{"series.stack.txt", "stack.txt, labels.txt and stack_minutes.txt with nothing between them: only repeated goroutine ids tell them apart",
		[]string{"stack.txt", "labels.txt", "stack_minutes.txt"}, "", false},
	{"series.pasted.txt", "stack.txt, then panic.txt pasted from its first goroutine on, without the panic line: the second dump begins at its running goroutine, a new id",
		[]string{"stack.txt", "panic.txt"}, "", true},
}

func leadingTabs(b []byte, spaces string) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		if len(l) > 0 && l[0] == '\t' {
			lines[i] = append([]byte(spaces), l[1:]...)
		}
	}
	return bytes.Join(lines, nil)
}

func prefixLines(b []byte, prefix string) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	var out []byte
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		if !bytes.Equal(l, []byte("\n")) {
			out = append(out, prefix...)
		}
		out = append(out, l...)
	}
	return out
}

func fence(b []byte) []byte {
	var out []byte
	out = append(out, "The service hangs after a while; here is the dump:\n\n```text\n"...)
	out = append(out, b...)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "```\n\nAny idea what holds it?\n"...)
}

// The files of testdata/shapes are stored gzipped, as ParseDump reads them:
// a shape is in the decompressed text.

// shapesEntry describes one file of testdata/shapes/go1.NN.
type shapesEntry struct {
	File        string   `json:"file"`
	From        []string `json:"from,omitempty"` // captures of ../go1.NN it is made of
	How         string   `json:"how"`
	GOTRACEBACK string   `json:"GOTRACEBACK,omitempty"`
}

func (g *gen) runShapes() error {
	start := time.Now()
	if err := os.Mkdir(g.out, 0o755); err != nil {
		return err
	}
	if err := g.goBuild("park", "./testdata/park"); err != nil {
		return err
	}
	if err := g.parkInfo(); err != nil {
		return err
	}
	dir, err := versionDir(g.info.Version)
	if err != nil {
		return err
	}
	clean := filepath.Join("testdata", dir)
	expData, err := os.ReadFile(filepath.Join(clean, "expect.json"))
	if err != nil {
		return fmt.Errorf("%v: run gen without -shapes first", err)
	}
	var exp expectFile
	if err := json.Unmarshal(expData, &exp); err != nil {
		return err
	}
	if exp.Version != g.info.Version {
		return fmt.Errorf("%s is from %s, this toolchain is %s: regenerate it first", clean, exp.Version, g.info.Version)
	}
	log.Printf("%s: running %d jobs", g.info.Version, len(shapeJobs))
	jobs = shapeJobs
	if err := g.runJobs(); err != nil {
		return err
	}
	var entries []shapesEntry
	for _, j := range shapeJobs {
		gzipped[j.files[0].name] = true
		entries = append(entries, shapesEntry{File: j.files[0].name + ".gz", How: "real run of " + parkSource + " -mode " + j.args[1] + ": " + j.files[0].how, GOTRACEBACK: j.gotb})
	}
	if err := g.checkShapeRuns(&exp); err != nil {
		return fmt.Errorf("checking the captures (nothing written): %v", err)
	}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(clean, name)) }
	for _, sh := range shapes {
		for _, from := range sh.from {
			b, err := read(from)
			if err != nil {
				return err
			}
			name := strings.TrimSuffix(from, ".txt") + "." + sh.name + ".txt"
			out := sh.apply(b)
			if bytes.Equal(out, b) {
				return fmt.Errorf("%s: shape %s changed nothing", name, sh.name)
			}
			if err := os.WriteFile(filepath.Join(g.out, name), out, 0o644); err != nil {
				return err
			}
			gzipped[name] = true
			entries = append(entries, shapesEntry{File: name + ".gz", From: []string{from}, How: sh.how})
		}
	}
	for _, s := range serieses {
		var out []byte
		for i, p := range s.parts {
			b, err := read(p)
			if err != nil {
				return err
			}
			if i > 0 {
				out = append(out, s.between...)
				if s.fromGoroutines {
					j := bytes.Index(b, []byte("\ngoroutine "))
					if j < 0 {
						return fmt.Errorf("%s: %s has no goroutine header", s.name, p)
					}
					b = b[j+1:]
				}
			}
			out = append(out, b...)
		}
		if err := os.WriteFile(filepath.Join(g.out, s.name), out, 0o644); err != nil {
			return err
		}
		gzipped[s.name] = true
		entries = append(entries, shapesEntry{File: s.name + ".gz", From: s.parts, How: s.how})
	}
	sort.Slice(entries, func(i, k int) bool { return entries[i].File < entries[k].File })
	if err := g.writeJSON("manifest.json", map[string]any{
		"version":   g.info.Version,
		"generator": "go run ./testdata/gen -shapes (see testdata/README.md)",
		"files":     entries,
	}); err != nil {
		return err
	}
	target := filepath.Join("testdata", "shapes", dir)
	if err := install(g.out, target); err != nil {
		return err
	}
	log.Printf("wrote %s in %s", target, time.Since(start).Round(time.Second))
	return nil
}

// parkInfo reads what park -info prints.
func (g *gen) parkInfo() error {
	b, err := runOutput(g.bins["park"], "-info")
	if err != nil {
		return fmt.Errorf("park -info: %v", err)
	}
	return json.Unmarshal(b, &g.info)
}

// checkShapeRuns checks the real runs against park's site table: every
// site's goroutines, the panicking goroutine's frames, and in the crash
// SIGQUIT dump the thread sections that print goroutines again.
func (g *gen) checkShapeRuns(exp *expectFile) error {
	c := &checker{}
	lines, err := siteLines(parkSource)
	if err != nil {
		return err
	}
	for _, name := range []string{"panic_system.txt", "panic_crash.txt"} {
		g.checkDump(c, name, exp, lines)
		text := g.read(name)
		for _, s := range []string{"\npanic: park: simulated crash", "\npanic({", "runtime/panic.go:", " gp=0x"} {
			if !bytes.Contains(text, []byte(s)) {
				c.errorf("%s: does not contain %q", name, s)
			}
		}
	}
	text := g.read("sigquit_crash.txt")
	if !bytes.Contains(text, []byte("\n-----\n\nSIGQUIT: quit\n")) {
		c.errorf("sigquit_crash.txt: no thread section (\"-----\" then \"SIGQUIT: quit\")")
	}
	// The first part is the dump; the thread sections repeat some of
	// its goroutines.
	first, _, _ := bytes.Cut(text, []byte("\n-----\n"))
	gs := parseDump(first)
	ids := map[int]bool{}
	for _, x := range gs {
		ids[x.id] = true
	}
	repeated := 0
	for _, x := range parseDump(text[len(first):]) {
		if x.id != 0 && ids[x.id] {
			repeated++
		}
	}
	if repeated == 0 {
		c.errorf("sigquit_crash.txt: no goroutine printed again in a thread section")
	}
	for _, s := range g.info.Sites {
		if n := len(siteGoroutines(gs, s, lines[s.Name])); n != s.Count {
			c.errorf("sigquit_crash.txt: site %s: %d goroutines before the first thread section, want %d", s.Name, n, s.Count)
		}
	}
	return errors.Join(c.errs...)
}
