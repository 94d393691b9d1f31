package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// siteExpect is one entry of expect.json, derived from stack.txt.
type siteExpect struct {
	Name string `json:"name"`
	// Function is the function of the site's frame, as tracebacks print
	// it without the argument list: "main.parkGeneric[...]".
	Function string `json:"function"`
	// Inlined says the site's frame is printed as inlined: "(...)".
	Inlined bool `json:"inlined"`
	// State is the wait reason in the goroutine header.
	State     string `json:"state"`
	Count     int    `json:"count"`
	CreatedBy string `json:"created_by"`
	// File and Line locate the site's frame: the base name of the file and
	// the line the traceback prints under Function.
	File string `json:"file"`
	Line int    `json:"line"`
	// SourceLine is the line of the "// site:NAME" comment in main.go
	// when it differs from Line (the signal.Notify call for "signal",
	// whose goroutine blocks inside the runtime).
	SourceLine int  `json:"source_line,omitempty"`
	Leaked     bool `json:"leaked"`
	// Primitive: "local" (reachable only from the parked goroutines'
	// stacks), "global" (a package-level channel), "nil" (a nil channel),
	// "none" (nothing the leak detector looks at).
	Primitive string `json:"primitive"`
	// Elided says the traceback elides frames ("...N frames elided...").
	Elided bool `json:"elided,omitempty"`
}

type expectFile struct {
	Version string `json:"version"`
	Program string `json:"program"`
	// Goroutines is the number of goroutines in stack.txt: main plus
	// every site's goroutines.
	Goroutines int `json:"goroutines"`
	// LeakedTotal is the total of the goroutineleak profile.
	LeakedTotal int `json:"leaked_total"`
	// Labels are the pprof labels of the "labels" site's goroutines, and
	// LabelsHeader the header suffix labels.txt prints for them.
	Labels       map[string]string `json:"labels"`
	LabelsHeader string            `json:"labels_header"`
	Sites        []siteExpect      `json:"sites"`
}

type leakDemoExpect struct {
	Version   string `json:"version"`
	Program   string `json:"program"`
	Function  string `json:"function"`
	Inlined   bool   `json:"inlined"`
	State     string `json:"state"`
	Count     int    `json:"count"`
	CreatedBy string `json:"created_by"`
	File      string `json:"file"`
	Line      int    `json:"line"`
}

// siteLines scans a source file for lines ending in "// site:NAME".
func siteLines(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`^\s*[^/\s].*// site:(\w+)$`)
	lines := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			if lines[m[1]] != 0 {
				return nil, fmt.Errorf("%s: site %s on lines %d and %d", path, m[1], lines[m[1]], n)
			}
			lines[m[1]] = n
		}
	}
	return lines, nil
}

// checker accumulates problems.
type checker struct{ errs []error }

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (g *gen) read(name string) []byte {
	b, err := os.ReadFile(filepath.Join(g.out, name))
	if err != nil {
		return nil
	}
	return b
}

// siteGoroutines returns the goroutines of site s in gs.
func siteGoroutines(gs []*goroutine, s siteInfo, line int) []*goroutine {
	var out []*goroutine
	for _, g := range gs {
		if s.Match != "" && g.hasFunc(s.Match) {
			out = append(out, g)
		} else if _, ok := g.has("/testdata/park/main.go", line); ok && s.Match == "" {
			out = append(out, g)
		}
	}
	return out
}

// check verifies every capture and writes expect.json,
// leak_demo.expect.json, VERSION and manifest.json into the staging
// directory.
func (g *gen) check() error {
	c := &checker{}
	lines, err := siteLines(parkSource)
	if err != nil {
		return err
	}
	for _, s := range g.info.Sites {
		if lines[s.Name] == 0 {
			c.errorf("no // site:%s line in %s", s.Name, parkSource)
		}
	}
	if len(c.errs) > 0 {
		return errors.Join(c.errs...)
	}

	exp := g.deriveExpect(c, lines)
	if len(c.errs) > 0 {
		return errors.Join(c.errs...)
	}
	for _, name := range []string{"stack.txt", "debug2.txt", "stack_minutes.txt", "ancestors.txt", "labels.txt", "stack_leaked.txt", "system.txt", "sigquit.txt", "panic.txt"} {
		g.checkDump(c, name, exp, lines)
	}
	g.checkOthers(c, exp, lines)
	leak := g.checkLeakDemo(c)
	if len(c.errs) > 0 {
		return errors.Join(c.errs...)
	}
	if err := g.writeJSON("expect.json", exp); err != nil {
		return err
	}
	if err := g.writeJSON("leak_demo.expect.json", leak); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(g.out, "VERSION"), []byte(g.info.Version+"\n"), 0o644); err != nil {
		return err
	}
	return g.writeManifest()
}

// deriveExpect derives expect.json from stack.txt and the site table.
func (g *gen) deriveExpect(c *checker, lines map[string]int) *expectFile {
	gs := parseDump(g.read("stack.txt"))
	exp := &expectFile{
		Version:    g.info.Version,
		Program:    parkSource,
		Goroutines: len(gs),
		Labels:     map[string]string{"tenant": "a b", "worker": "w1"},
	}
	want := 1
	seen := map[*goroutine]string{}
	for _, s := range g.info.Sites {
		want += s.Count
		if s.Leaked {
			exp.LeakedTotal += s.Count
		}
		sg := siteGoroutines(gs, s, lines[s.Name])
		if len(sg) != s.Count {
			c.errorf("stack.txt: site %s: %d goroutines, want %d", s.Name, len(sg), s.Count)
			continue
		}
		e := siteExpect{
			Name: s.Name, Count: s.Count, Leaked: s.Leaked, Primitive: s.Primitive,
			State: sg[0].state, CreatedBy: sg[0].createdBy, Elided: sg[0].elided,
		}
		var f frame
		if s.Match != "" {
			f = sg[0].frames[0]
			e.SourceLine = lines[s.Name]
		} else {
			f, _ = sg[0].has("/testdata/park/main.go", lines[s.Name])
		}
		e.Function, e.Inlined, e.File, e.Line = f.fn, f.inlined, filepath.Base(f.file), f.line
		for _, x := range sg {
			if other, dup := seen[x]; dup {
				c.errorf("stack.txt: goroutine %d belongs to sites %s and %s", x.id, other, s.Name)
			}
			seen[x] = s.Name
			if x.state != e.State || x.createdBy != e.CreatedBy || x.elided != e.Elided {
				c.errorf("stack.txt: site %s: goroutine %d differs: %q %q, first: %q %q", s.Name, x.id, x.state, x.createdBy, e.State, e.CreatedBy)
			}
		}
		if e.Function == "" || e.State == "" || e.CreatedBy == "" {
			c.errorf("stack.txt: site %s: incomplete %+v", s.Name, e)
		}
		exp.Sites = append(exp.Sites, e)
	}
	if len(gs) != want {
		c.errorf("stack.txt: %d goroutines, want %d", len(gs), want)
	}
	for _, x := range gs {
		if seen[x] == "" && x.state != "running" {
			c.errorf("stack.txt: goroutine %d belongs to no site: %s", x.id, x.header)
		}
	}
	// The labels header, as labels.txt prints it.
	for _, x := range parseDump(g.read("labels.txt")) {
		if x.hasFunc(siteFunc(exp, "labels")) {
			_, suffix, _ := strings.Cut(x.header, " [")
			exp.LabelsHeader = "[" + suffix
			break
		}
	}
	return exp
}

func siteFunc(exp *expectFile, name string) string {
	for _, e := range exp.Sites {
		if e.Name == name {
			return e.Function
		}
	}
	return ""
}

// checkDump checks a full text dump: every site has its count and state,
// plus what is particular to the file.
func (g *gen) checkDump(c *checker, name string, exp *expectFile, lines map[string]int) {
	text := g.read(name)
	gs := parseDump(text)
	if len(gs) == 0 {
		c.errorf("%s: no goroutines", name)
		return
	}
	labelled := 0
	for i, s := range g.info.Sites {
		e := exp.Sites[i]
		sg := siteGoroutines(gs, s, lines[s.Name])
		if len(sg) != s.Count {
			c.errorf("%s: site %s: %d goroutines, want %d", name, s.Name, len(sg), s.Count)
		}
		for _, x := range sg {
			if x.state != e.State {
				c.errorf("%s: site %s: goroutine %d state %q, want %q", name, s.Name, x.id, x.state, e.State)
			}
			if strings.Contains(x.header, "tenant") {
				labelled++
			}
			switch name {
			case "stack_minutes.txt":
				if !regexp.MustCompile(`, [1-9]\d* minutes`).MatchString(x.header) {
					c.errorf("%s: site %s: no minutes: %s", name, s.Name, x.header)
				}
			case "stack_leaked.txt":
				if x.leaked != s.Leaked {
					c.errorf("%s: site %s: goroutine %d leaked=%v, want %v", name, s.Name, x.id, x.leaked, s.Leaked)
				}
			case "ancestors.txt":
				want := 1
				if s.Name == "grandchild" {
					want = 3
				}
				if x.ancestors < want {
					c.errorf("%s: site %s: goroutine %d has %d ancestors, want %d+", name, s.Name, x.id, x.ancestors, want)
				}
			case "system.txt":
				if !strings.Contains(x.header, " gp=") {
					c.errorf("%s: header without gp=: %s", name, x.header)
				}
			}
		}
	}
	wantLabelled := 0
	if name == "labels.txt" || name == "stack_minutes.txt" { // GODEBUG=tracebacklabels=1
		for _, s := range g.info.Sites {
			if s.Name == "labels" {
				wantLabelled = s.Count
			}
		}
	}
	if labelled != wantLabelled {
		c.errorf("%s: %d headers with labels, want %d", name, labelled, wantLabelled)
	}
	mustContain := map[string][]string{
		"stack.txt":   {"frames elided..."},
		"system.txt":  {"SIGQUIT: quit", " fp=0x", "runtime.gopark("},
		"sigquit.txt": {"park: all", "SIGQUIT: quit"},
		"panic.txt":   {"park: about to crash", "\npanic: park: simulated crash", "main.crash("},
	}
	for _, s := range mustContain[name] {
		if !bytes.Contains(text, []byte(s)) {
			c.errorf("%s: does not contain %q", name, s)
		}
	}
}

// checkOthers checks the profiles and truncated.txt.
func (g *gen) checkOthers(c *checker, exp *expectFile, lines map[string]int) {
	match := func(s siteInfo) func(string) bool {
		if s.Match != "" {
			return func(f string) bool { return strings.HasPrefix(f, s.Match+"+0x") }
		}
		suffix := fmt.Sprintf("/testdata/park/main.go:%d", lines[s.Name])
		return func(f string) bool { return strings.HasSuffix(f, suffix) }
	}
	total, recs := parseDebug1(g.read("debug1.txt"))
	if total != exp.Goroutines {
		c.errorf("debug1.txt: total %d, want %d", total, exp.Goroutines)
	}
	ltotal, lrecs := parseDebug1(g.read("goroutineleak.debug1.txt"))
	if ltotal != exp.LeakedTotal {
		c.errorf("goroutineleak.debug1.txt: total %d, want %d", ltotal, exp.LeakedTotal)
	}
	for _, s := range g.info.Sites {
		if n := countRecords(recs, match(s)); n != s.Count {
			c.errorf("debug1.txt: site %s: %d goroutines, want %d", s.Name, n, s.Count)
		}
		want := 0
		if s.Leaked {
			want = s.Count
		}
		if n := countRecords(lrecs, match(s)); n != want {
			c.errorf("goroutineleak.debug1.txt: site %s: %d goroutines, want %d", s.Name, n, want)
		}
	}
	for _, name := range []string{"goroutine.pb.gz", "goroutineleak.pb.gz", "leak_demo.pb.gz"} {
		if n, err := gunzipLen(g.read(name)); err != nil || n == 0 {
			c.errorf("%s: not a gzipped profile: %d bytes, %v", name, n, err)
		}
	}
	if t := g.read("truncated.txt"); len(t) != 3000 || !bytes.HasPrefix(t, []byte("goroutine 1 [running]:\n")) {
		c.errorf("truncated.txt: %d bytes, want 3000 starting with goroutine 1", len(t))
	}
}

func gunzipLen(b []byte) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, zr)
}

// checkLeakDemo checks the leak_demo captures and derives its expectations.
func (g *gen) checkLeakDemo(c *checker) *leakDemoExpect {
	lines, err := siteLines(leakDemoSource)
	if err != nil || lines["alloc2"] == 0 {
		c.errorf("%s: no // site:alloc2 line (%v)", leakDemoSource, err)
		return nil
	}
	line := lines["alloc2"]
	e := &leakDemoExpect{Version: g.info.Version, Program: leakDemoSource}
	n := 0
	for _, x := range parseDump(g.read("leak_demo.stack.txt")) {
		f, ok := x.has("/testdata/leakdemo/leak_demo.go", line)
		if !ok {
			continue
		}
		if n == 0 {
			e.Function, e.Inlined, e.File, e.Line = f.fn, f.inlined, filepath.Base(f.file), f.line
			e.State, e.CreatedBy = x.state, x.createdBy
		} else if x.state != e.State || x.createdBy != e.CreatedBy || f.fn != e.Function {
			c.errorf("leak_demo.stack.txt: goroutine %d differs: %s", x.id, x.header)
		}
		n++
	}
	e.Count = n
	if n != leakDemoCount {
		c.errorf("leak_demo.stack.txt: %d goroutines at line %d, want %d", n, line, leakDemoCount)
	}
	suffix := fmt.Sprintf("/testdata/leakdemo/leak_demo.go:%d", line)
	_, recs := parseDebug1(g.read("leak_demo.debug1.txt"))
	if n := countRecords(recs, func(f string) bool { return strings.HasSuffix(f, suffix) }); n != leakDemoCount {
		c.errorf("leak_demo.debug1.txt: %d goroutines at line %d, want %d", n, line, leakDemoCount)
	}
	return e
}
