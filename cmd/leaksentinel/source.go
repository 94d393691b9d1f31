package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/leaksentinel/leaksentinel"
)

// sourceContext is the number of lines shown on each side of a site.
const sourceContext = 3

// sources reads source files for listings, each file once.
type sources struct {
	dir   string // --source-dir
	files map[string]*sourceFile
}

type sourceFile struct {
	path  string   // where it was found; "" if not
	lines [][]byte // without their newlines
}

// lookup returns the file recorded as name: at that path, or under dir
// with the longest trailing part of name that exists there.
func (s *sources) lookup(name string) *sourceFile {
	if f, ok := s.files[name]; ok {
		return f
	}
	if s.files == nil {
		s.files = make(map[string]*sourceFile)
	}
	f := &sourceFile{}
	s.files[name] = f
	candidates := []string{filepath.FromSlash(name)}
	if s.dir != "" {
		parts := strings.Split(strings.TrimPrefix(name, "/"), "/")
		for i := range parts {
			candidates = append(candidates, filepath.Join(s.dir, filepath.Join(parts[i:]...)))
		}
	}
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f.path = p
		f.lines = bytes.Split(data, []byte("\n"))
		break
	}
	return f
}

// listing is the lines around one frame.
type listing struct {
	File  string       `json:"file"` // where the source was found
	Line  int          `json:"line"` // the frame's line
	Lines []sourceLine `json:"lines"`
}

type sourceLine struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// list returns the lines around f, or nil when the file is missing or
// does not have that line.
func (s *sources) list(f leaksentinel.Frame) *listing {
	if f.File == "" || f.Line <= 0 {
		return nil
	}
	sf := s.lookup(f.File)
	if sf.path == "" || f.Line > len(sf.lines) {
		return nil
	}
	l := &listing{File: sf.path, Line: f.Line}
	for n := max(1, f.Line-sourceContext); n <= min(len(sf.lines), f.Line+sourceContext); n++ {
		l.Lines = append(l.Lines, sourceLine{Line: n, Text: strings.TrimRight(string(sf.lines[n-1]), "\r")})
	}
	return l
}

// write prints the lines around f, marking f's line with count, as
// pprof's list does:
//
//	     51	        buf := make([]byte, 1024)
//	     52	        _ = len(buf)
//	20000 53	        outCh <- 0 // site:alloc2
func (s *sources) write(w io.Writer, indent string, f leaksentinel.Frame, count int) {
	l := s.list(f)
	if l == nil {
		hint := ""
		if s.dir == "" {
			hint = "; --source-dir says where to look"
		}
		fmt.Fprintf(w, "%s(no source for %s:%d%s)\n", indent, f.File, f.Line, hint)
		return
	}
	fmt.Fprintf(w, "%s%s in %s:\n", indent, f.Function, l.File)
	mark := fmt.Sprint(count)
	for _, sl := range l.Lines {
		m := ""
		if sl.Line == l.Line {
			m = mark
		}
		line := fmt.Sprintf("%s%*s %5d  %s", indent, len(mark), m, sl.Line, sl.Text)
		fmt.Fprintln(w, strings.TrimRight(line, " \t"))
	}
}
