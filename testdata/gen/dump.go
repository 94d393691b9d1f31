package main

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// This file holds a deliberately small parser for the captures, good enough
// to check them against the site table. It is not the library's parser.

// A goroutine is one block of a text dump.
type goroutine struct {
	id     int
	header string // the header line
	state  string // "chan receive": the wait reason, without " (leaked)"
	leaked bool
	frames []frame // the goroutine's own frames (not the ancestors')
	// createdBy is the function of the "created by" line.
	createdBy string
	// ancestors counts the "[originating from goroutine N]:" sections.
	ancestors int
	elided    bool // "...N frames elided..."
}

type frame struct {
	fn      string // "main.parkGeneric[...]"
	inlined bool   // printed with "(...)" arguments
	file    string
	line    int
}

var (
	headerRE   = regexp.MustCompile(`^goroutine (\d+)(?: gp=\S+ m=\S+(?: mp=\S+)?)? \[([^\]]*)\].*:$`)
	locationRE = regexp.MustCompile(`^\t(\S.*?):(\d+)(?: .*)?$`)
	createdRE  = regexp.MustCompile(`^created by (\S+) in goroutine \d+$`)
)

// parseDump returns the goroutine blocks of a text dump, skipping anything
// else (log lines, "panic: ...", register dumps).
func parseDump(text []byte) []*goroutine {
	var (
		gs   []*goroutine
		g    *goroutine
		fn   string // function line waiting for its location
		part = "frames"
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := headerRE.FindStringSubmatch(line); m != nil {
			id, _ := strconv.Atoi(m[1])
			// Go 1.26 prints labels inside the brackets, without a
			// comma: "[chan receive, 1 minutes labels:{...}]".
			state, _, _ := strings.Cut(m[2], " labels:{")
			state, _, _ = strings.Cut(state, ",")
			g = &goroutine{id: id, header: line}
			g.state, g.leaked = strings.CutSuffix(state, " (leaked)")
			gs = append(gs, g)
			fn, part = "", "frames"
			continue
		}
		if g == nil {
			continue
		}
		switch {
		case line == "":
			g = nil
		case strings.HasPrefix(line, "...") && strings.HasSuffix(line, "frames elided..."):
			g.elided = true
		case strings.HasPrefix(line, "[originating from goroutine "):
			g.ancestors++
			part = "ancestors"
		case strings.HasPrefix(line, "created by "):
			if m := createdRE.FindStringSubmatch(line); m != nil && part == "frames" {
				g.createdBy = m[1]
			}
			part = "created"
		case strings.HasPrefix(line, "\t"):
			m := locationRE.FindStringSubmatch(line)
			if m == nil || fn == "" || part != "frames" {
				fn = ""
				continue
			}
			n, _ := strconv.Atoi(m[2])
			f := frame{fn: fn, file: m[1], line: n}
			if i := strings.LastIndex(fn, "("); i > 0 && strings.HasSuffix(fn, ")") {
				f.fn, f.inlined = fn[:i], fn[i:] == "(...)"
			}
			g.frames = append(g.frames, f)
			fn = ""
		default:
			fn = line
		}
	}
	return gs
}

// has reports whether one of g's own frames is at file (a path suffix)
// and line.
func (g *goroutine) has(file string, line int) (frame, bool) {
	for _, f := range g.frames {
		if f.line == line && strings.HasSuffix(f.file, file) {
			return f, true
		}
	}
	return frame{}, false
}

// hasFunc reports whether one of g's own frames is in function fn.
func (g *goroutine) hasFunc(fn string) bool {
	for _, f := range g.frames {
		if f.fn == fn {
			return true
		}
	}
	return false
}

// A record is one stack of a debug=1 profile.
type record struct {
	count  int
	frames []string // "main.parkCond+0x2b /path/main.go:247"
	labels string   // the "# labels: " line, if any
}

var recordRE = regexp.MustCompile(`^(\d+) @( 0x[0-9a-f]+)+$`)

// parseDebug1 returns the total from the first line of a debug=1 profile
// and its records.
func parseDebug1(text []byte) (total int, recs []*record) {
	lines := strings.Split(string(text), "\n")
	if f := strings.Fields(lines[0]); len(f) == 4 && f[1] == "profile:" && f[2] == "total" {
		total, _ = strconv.Atoi(f[3])
	} else {
		total = -1
	}
	var r *record
	for _, line := range lines[1:] {
		switch {
		case recordRE.MatchString(line):
			n, _ := strconv.Atoi(strings.Fields(line)[0])
			r = &record{count: n}
			recs = append(recs, r)
		case r != nil && strings.HasPrefix(line, "# labels: "):
			r.labels = strings.TrimPrefix(line, "# labels: ")
		case r != nil && strings.HasPrefix(line, "#\t"):
			f := strings.Fields(line[2:])
			if len(f) == 3 {
				r.frames = append(r.frames, f[1]+" "+f[2])
			}
		}
	}
	return total, recs
}

// count sums the records with a frame at file:line or in function fn+.
func countRecords(recs []*record, match func(frame string) bool) int {
	n := 0
	for _, r := range recs {
		for _, f := range r.frames {
			if match(f) {
				n += r.count
				break
			}
		}
	}
	return n
}
