// Package dump reads the text forms of goroutine dumps: tracebacks as
// runtime.Stack, /debug/pprof/goroutine?debug=2, panics and SIGQUIT print
// them (with any unrelated lines around them), GODEBUG=tracebackancestors
// blocks, and the grouped /debug/pprof/goroutine?debug=1 form.
//
// It reads them as people paste them too: indented with spaces or a common
// margin (Markdown, consoles, issue trackers), with CRLF line ends, with a
// header glued to the log text before it, without a final newline, and
// several dumps one after another (see Parse for how a new one is told).
//
// It streams, and its memory is bounded whatever the input: the caches it
// keeps are cleared when they grow past a fixed size, and the caller bounds
// the stack.Table. It never panics on bad input.
package dump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// ErrTruncated is wrapped by the error Parse returns when the input ends in
// the middle of a goroutine.
var ErrTruncated = errors.New("dump truncated")

// ErrNoGoroutines is wrapped by the error Parse returns when the input holds
// no goroutine at all.
var ErrNoGoroutines = errors.New("no goroutines found")

const (
	// maxLine bounds the length of one line. A longer line inside a
	// goroutine is an error; outside one it is skipped.
	maxLine = 1 << 20
	// maxProblems bounds the errors kept; the rest are counted.
	maxProblems = 20
	// maxFrames bounds the frames kept of one goroutine or ancestor
	// block, maxAncestors its ancestor blocks. The runtime prints at most
	// 100 frames a goroutine and 50 ancestors; more is not its output.
	maxFrames    = 1024
	maxAncestors = 64
	// maxCount bounds a ?debug=1 record's count: no process holds more
	// goroutines (each needs a stack of at least 2 KiB), and sums of
	// counts so bounded cannot overflow.
	maxCount = 1<<31 - 1
	// Cache bounds: the frame cache is cleared past maxCachedBytes of
	// keys, the header cache past maxCachedHeaders entries.
	maxCachedBytes   = 8 << 20
	maxCachedHeaders = 4096
	// maxDumps bounds the dumps of a series described in Info.
	maxDumps = 64
	// maxDenseID bounds the ids kept in a bit slice (8 MiB at most);
	// maxIDWords the words of the map that holds larger ids (64 ids a
	// word). Past it, repeats are no longer looked for.
	maxDenseID = 1 << 26
	maxIDWords = 1 << 16
)

// Info describes what Parse read.
type Info struct {
	Lines      int
	Goroutines int // goroutines passed to the callback, counting grouped ones
	Precision  classify.Precision
	Truncated  bool
	// Dumps describes the dumps the input held, in input order: one,
	// unless several were written one after another; at most maxDumps
	// of them, the first. DumpCount counts them all.
	Dumps     []Dump
	DumpCount int
	// Notes say what the parser doubted, skipped or bounded, besides the
	// errors, each naming its line.
	Notes []string
}

// Dump is one dump of an input that may hold several.
type Dump struct {
	Line   int    // the line of its first goroutine
	Reason string // why a new dump begins at Line; "" for the first
}

// Parse reads text dumps from r, interning names into t, and calls fn for
// every complete goroutine. fn must not keep the Goroutine or its slices.
//
// The error joins every problem found, each naming its line; goroutines that
// were complete are still passed to fn. An input that ends inside a goroutine
// yields an error wrapping ErrTruncated; one with no goroutine an error
// wrapping ErrNoGoroutines.
//
// An input may hold several dumps one after another (a log with a
// runtime.Stack dump and later a SIGQUIT one, a panic printed twice, a file
// of ?debug=1 profiles appended by a cron job). Each goroutine's Dump field
// says which it belongs to, and Info.Dumps describes them. Once a dump has
// a goroutine, a new one begins at a goroutine header or ?debug=1 profile
// header when
//
//   - the header's goroutine id was already seen in the dump (the runtime
//     prints each goroutine once; id 0, the threads' g0, is exempt);
//   - a line since the dump's last goroutine starts a new traceback, as
//     "SIGQUIT: quit", "panic: ..." or "fatal error: ..." do, unless the
//     line before it is "-----": that is how the runtime separates the
//     threads of one GOTRACEBACK=crash dump, which reprint goroutines
//     already shown (those repeats are counted once, and noted);
//   - the header is glued to other text on its line (a dump written right
//     after a log message without a newline);
//   - its goroutine is a second one in state "running" with its stack
//     printed (a dump prints the stack of the running goroutine that took
//     it only; the dump then begins at that goroutine, so that
//     runtime.Stack output logged twice splits where the second starts),
//     or
//   - the format changes: ?debug=1 records after tracebacks, or back.
//
// Two dumps with no goroutine in common and nothing between them cannot be
// told apart and are read as one.
func Parse(r io.Reader, t *stack.Table, fn func(*stack.Goroutine)) (Info, error) {
	s := &scanner{
		lr:      lineReader{r: r, buf: make([]byte, 64<<10)},
		t:       t,
		fn:      fn,
		headers: make(map[uint32]header),
		frames:  make(map[string]stack.Frame),
		ids:     make(map[int64]uint64),
	}
	s.running = t.ID(classify.Running)
	s.run()
	s.finishNotes()
	return s.info, s.err()
}

// header is a parsed header status with its state interned.
type header struct {
	classify.Header
	state uint32
}

type blockKind uint8

const (
	noBlock blockKind = iota
	traceback
	grouped
)

type pendingKind uint8

const (
	noPending pendingKind = iota
	pendingFrame
	pendingCreatedBy
	// pendingBare is a line with no argument list right after a header,
	// kept to see whether a file line follows: gccgo prints frames so.
	pendingBare
)

type scanner struct {
	lr lineReader
	t  *stack.Table
	fn func(*stack.Goroutine)
	// eofNoNewline reports whether the last line had no newline.
	eofNoNewline bool

	info    Info
	headers map[uint32]header // bracket contents, parsed once

	block    blockKind
	g        stack.Goroutine
	ancestor int // index into g.Ancestors of the open block, or -1
	pending  pendingKind
	// key is the pending function name, then a NUL, then the
	// "file:line" of its frame: the key of frames, which caches the
	// interned form of every frame seen, one lookup per frame.
	key         []byte
	frames      map[string]stack.Frame
	pendingLine int
	nframes     int  // complete frames of the current goroutine
	unavailable bool // "goroutine running on other thread; stack unavailable"
	createdBy   bool // a complete "created by" frame was read
	funcs       []string

	cachedBytes int // bytes of the keys of frames

	// margin is the indentation of the open block's header (spaces,
	// tabs, Markdown's "> "), stripped from the lines inside it.
	margin []byte

	// Series bookkeeping: the dump being read, its goroutines, the ids
	// seen in it (a bit set: id/64 -> word), those printed without a
	// stack, and why the next header starts a new dump, if it does.
	dump        int
	dumpCount   int // goroutines of the dump passed on, or open
	idBits      []uint64
	idHigh      int // idBits[idHigh:] are zero
	ids         map[int64]uint64
	nextDump    string // reason, set by a preamble line
	afterRule   bool   // the last text line outside a block was "-----"
	crashThread bool   // inside a GOTRACEBACK=crash thread section
	running     uint32 // the interned "running" state
	runningSeen bool   // the dump has a running goroutine with frames
	lastKind    blockKind
	skip        bool // the open goroutine repeats one already counted

	// Counts behind the notes.
	glued, glueLine     int
	deep, deepLine      int
	repeats, repeatLine int
	idsFullLine         int
	gccgo               bool
	cutLast             string
	wholeLast           int // the last line, without a line ending, taken as whole

	// debug=1 bookkeeping: the "total N" of the last profile header.
	groupedTotal, groupedSeen int
	groupedHeaderLine         int
	groupedLeaked             bool

	problems int
	errs     []error
}

func (s *scanner) errorf(line int, format string, args ...any) {
	s.problems++
	if len(s.errs) < maxProblems {
		s.errs = append(s.errs, fmt.Errorf("line %d: "+format, append([]any{line}, args...)...))
	}
}

func (s *scanner) err() error {
	errs := s.errs
	if s.lr.err != nil {
		// What looks truncated may be a read that failed: say so first.
		errs = append([]error{fmt.Errorf("after line %d: read: %w", s.info.Lines, s.lr.err)}, errs...)
	}
	if extra := s.problems - len(s.errs); extra > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", extra))
	}
	if s.info.Goroutines == 0 && !s.info.Truncated {
		errs = append(errs, fmt.Errorf("%d lines read: %w", s.info.Lines, ErrNoGoroutines))
	}
	return errors.Join(errs...)
}

// readLine returns the next line without its line ending. The slice is valid
// until the next call. ok is false at the end of the input. A line longer
// than maxLine is returned cut to maxLine bytes, the rest skipped.
func (s *scanner) readLine() (line []byte, ok bool) {
	line, ok = s.lr.next()
	if !ok {
		return nil, false
	}
	s.info.Lines++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	} else {
		s.eofNoNewline = true
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, true
}

// lineReader splits its input into lines in a buffer of its own: the lines
// alias the buffer, so nothing is copied but the reads themselves.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	eof        bool
	skipping   bool  // inside the rest of an overlong line
	empty      int   // consecutive reads that returned nothing
	err        error // the read error that ended the input, other than io.EOF
}

func (l *lineReader) next() ([]byte, bool) {
	for {
		if i := bytes.IndexByte(l.buf[l.start:l.end], '\n'); i >= 0 {
			line := l.buf[l.start : l.start+i+1]
			l.start += i + 1
			if l.skipping {
				l.skipping = false
				continue
			}
			return line, true
		}
		if l.eof {
			if l.start == l.end || l.skipping {
				return nil, false
			}
			line := l.buf[l.start:l.end]
			l.start = l.end
			return line, true
		}
		if l.start > 0 {
			l.end = copy(l.buf, l.buf[l.start:l.end])
			l.start = 0
		}
		if l.end == len(l.buf) {
			if len(l.buf) < maxLine {
				l.buf = append(l.buf, make([]byte, len(l.buf))...)
			} else {
				// Return the first maxLine bytes; drop the rest
				// up to the newline.
				line := l.buf[:maxLine]
				l.start, l.end = 0, 0
				l.skipping = true
				return line, true
			}
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if n == 0 && err == nil {
			l.empty++
			if l.empty < 100 {
				continue
			}
			err = io.ErrNoProgress
		}
		l.empty = 0
		if err != nil {
			l.eof = true
			if err != io.EOF {
				l.err = err
			}
		}
	}
}

func (s *scanner) run() {
	for {
		line, ok := s.readLine()
		if !ok {
			break
		}
		if s.eofNoNewline && s.cutShort(line) {
			// The input was cut inside a goroutine: the last line
			// may be any prefix of the real one, so nothing in it
			// can be trusted, nor the goroutine it belongs to.
			if s.block == noBlock {
				_, rest := cutMargin(line)
				if startsHeader(rest) {
					s.open(traceback, s.info.Lines)
				} else {
					s.open(grouped, s.info.Lines)
					s.g.Count, _ = strconv.Atoi(string(rest[:bytes.IndexByte(rest, ' ')]))
				}
			}
			s.cutLast = fmt.Sprintf("line %d, the last, has no line ending and may be cut", s.info.Lines)
			s.truncated()
			break
		}
		if s.eofNoNewline && s.block == traceback {
			s.wholeLast = s.info.Lines
		}
		s.line(line)
	}
	s.atEOF()
}

// cutShort reports whether the last line of the input, which has no line
// ending, may be a cut part of a goroutine. Inside a traceback, only a
// file line whose line number is followed by the PC offset is surely
// whole (the offset may be cut, but it is not kept):
//
//	/tmp/x/main.go:24 +0x1d
//
// as the last line of a goroutine is, in a file an editor saved without
// a final newline.
func (s *scanner) cutShort(line []byte) bool {
	switch s.block {
	case noBlock:
		//	goroutine 20 [chan se
		//	1 @ 0x4711ee 0x40a0
		_, rest := cutMargin(line)
		i := 0
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		return startsHeader(rest) || (i > 0 && bytes.HasPrefix(rest[i:], []byte(" @")))
	case traceback:
		line = s.unindent(line)
		if len(line) == 0 || (line[0] != '\t' && line[0] != ' ') || s.pending == noPending || s.pending == pendingBare {
			return true
		}
		b := trimBlank(line)
		colon := bytes.LastIndexByte(b, ':')
		if colon < 0 {
			return true
		}
		i := colon + 1
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		rest := b[i:]
		return i == colon+1 || !bytes.HasPrefix(rest, []byte(" +0x")) || len(rest) < 5 || !isHex(rest[4])
	}
	return true
}

func isHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') }

var (
	prefixGoroutine  = []byte("goroutine ")
	prefixCreatedBy  = []byte("created by ")
	prefixAncestor   = []byte("[originating from goroutine ")
	prefixLabels     = []byte("# labels: ")
	prefixNonGo      = []byte("non-Go function")
	inGoroutine      = []byte(" in goroutine ")
	profileTotal     = []byte(" profile: total ")
	unavailableStack = []byte("goroutine running on other thread; stack unavailable")
	threadRule       = []byte("-----")
	gopanic          = []byte("runtime.gopanic")
)

func (s *scanner) line(line []byte) {
	n := s.info.Lines
	if len(line) >= maxLine {
		if s.block != noBlock {
			s.errorf(n, "line longer than %d bytes inside goroutine %d", maxLine, s.g.ID)
			s.endBlock(n)
		}
		return
	}
	switch s.block {
	case traceback:
		if s.tracebackLine(n, line) {
			return
		}
	case grouped:
		if s.groupedLine(n, line) {
			return
		}
	}
	// Outside a goroutine: a header starts one; anything else is
	// unrelated text (log lines, "panic: ...", register dumps).
	if bytes.HasPrefix(line, prefixGoroutine) && s.header(n, line, false) {
		s.margin = s.margin[:0]
		return
	}
	margin, rest := cutMargin(line)
	if len(rest) == 0 {
		return
	}
	if len(margin) > 0 && bytes.HasPrefix(rest, prefixGoroutine) {
		s.margin = append(s.margin[:0], margin...)
		if s.header(n, rest, false) {
			return
		}
	}
	if i := bytes.Index(rest, profileTotal); i > 0 && isWord(rest[:i]) {
		if total, err := strconv.Atoi(string(rest[i+len(profileTotal):])); err == nil {
			s.margin = append(s.margin[:0], margin...)
			s.startProfile(n, total)
			// Every goroutine of a goroutineleak profile is one
			// the runtime proved leaked.
			s.groupedLeaked = bytes.Equal(rest[:i], []byte("goroutineleak"))
			return
		}
	}
	if isDigit(rest[0]) && s.groupedRecord(n, margin, rest) {
		return
	}
	if rest[len(rest)-1] == ':' {
		//	SIGQUIT: dumping all stacksgoroutine 1 [running]:
		//	2026/12/01 10:00:00 goroutine 7 [running]:
		if i := gluedHeader(rest); i > 0 {
			s.margin = s.margin[:0]
			if s.header(n, rest[i:], true) {
				if s.glued++; s.glued == 1 {
					s.glueLine = n
				}
			}
			return
		}
	}
	s.text(rest)
}

// text looks at a line of text outside any goroutine for the start of a
// new traceback.
func (s *scanner) text(line []byte) {
	afterRule := s.afterRule
	s.afterRule = bytes.Equal(line, threadRule)
	if s.dumpCount == 0 || !startsTraceback(line) {
		return
	}
	if afterRule {
		// One thread of a GOTRACEBACK=crash dump: part of the dump.
		s.crashThread = true
		return
	}
	s.crashThread = false
	s.nextDump = fmt.Sprintf("%q at line %d", clip(line), s.info.Lines)
}

// startsTraceback reports whether a line is one the runtime prints before
// the goroutines of a traceback:
//
//	SIGQUIT: quit
//	panic: boom
//	fatal error: all goroutines are asleep - deadlock!
func startsTraceback(line []byte) bool {
	if bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: ")) {
		return true
	}
	if !bytes.HasPrefix(line, []byte("SIG")) {
		return false
	}
	i := 3
	for i < len(line) && ('A' <= line[i] && line[i] <= 'Z' || isDigit(line[i])) {
		i++
	}
	return i > 3 && bytes.HasPrefix(line[i:], []byte(": "))
}

// cutMargin splits a line into its indentation (spaces, tabs, and the
// "> " of a Markdown quote) and the rest.
func cutMargin(line []byte) (margin, rest []byte) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '>') {
		i++
	}
	return line[:i], line[i:]
}

// unindent strips the margin of the open block's header from a line inside
// it, or as much of it as the line shares.
func (s *scanner) unindent(line []byte) []byte {
	m := s.margin
	if len(m) == 0 {
		return line
	}
	i := 0
	for i < len(m) && i < len(line) && line[i] == m[i] {
		i++
	}
	return line[i:]
}

// trimBlank strips the leading spaces and tabs of a file line.
func trimBlank(b []byte) []byte {
	i := 0
	for i < len(b) && (b[i] == '\t' || b[i] == ' ') {
		i++
	}
	return b[i:]
}

// gluedHeader returns where a goroutine header starts inside a line that
// has other text before it, or -1.
func gluedHeader(line []byte) int {
	for off := 1; off < len(line); {
		i := bytes.Index(line[off:], prefixGoroutine)
		if i < 0 {
			return -1
		}
		i += off
		if j := i + len(prefixGoroutine); j < len(line) && isDigit(line[j]) {
			return i
		}
		off = i + 1
	}
	return -1
}

// startsHeader reports whether a line cut short may be the start of a
// goroutine header.
func startsHeader(line []byte) bool {
	if len(line) <= len(prefixGoroutine) {
		return len(line) > 0 && bytes.HasPrefix(prefixGoroutine, line)
	}
	return bytes.HasPrefix(line, prefixGoroutine) && isDigit(line[len(prefixGoroutine)])
}

// isWord reports whether b is a profile name such as "goroutine" or
// "goroutineleak".
func isWord(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// header parses a traceback header and opens a goroutine:
//
//	goroutine 20 [chan send, 2 minutes]:
//	goroutine 18 gp=0xc000102380 m=nil [chan send (leaked)]:
//	goroutine 7 [select, locked to thread labels:{"k": "v"}]:   (Go 1.26, tracebacklabels=1)
//	goroutine 7 [select, locked to thread] {k: v, "a b": "c"}:  (Go 1.27)
//
// A line that starts with "goroutine <digits>" but has no bracket is taken
// for unrelated text ("goroutine 5 exited" in a log); one with a bracket that
// does not parse is an error. glued says the line had other text before
// the header. It reports whether a goroutine was opened.
func (s *scanner) header(n int, line []byte, glued bool) bool {
	if line[len(line)-1] != ':' {
		return false
	}
	rest := line[len(prefixGoroutine):]
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	if i == 0 || i > 19 {
		return false
	}
	id, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return false
	}
	rest = rest[i:]
	open := bytes.Index(rest, []byte(" ["))
	if open < 0 || (open > 0 && !bytes.HasPrefix(rest, []byte(" gp=")) && !bytes.HasPrefix(rest, []byte(" m="))) {
		return false
	}
	body := rest[open+2:]
	var status, labels []byte
	if j := bytes.Index(body, []byte(" labels:{")); j >= 0 {
		status = body[:j]
		labels = body[j+len(" labels:"):]
		if !bytes.HasSuffix(labels, []byte("]:")) {
			s.headerError(n, glued, line, "no closing %q", "]:")
			return false
		}
		labels = labels[:len(labels)-2]
	} else {
		j := bytes.IndexByte(body, ']')
		if j < 0 {
			s.headerError(n, glued, line, "no closing %q", "]")
			return false
		}
		status = body[:j]
		tail := body[j+1:]
		switch {
		case len(tail) == 1 && tail[0] == ':':
		case bytes.HasPrefix(tail, []byte(" {")) && bytes.HasSuffix(tail, []byte("}:")):
			labels = tail[1 : len(tail)-1]
		default:
			s.headerError(n, glued, line, "want %q after the state", "]:")
			return false
		}
	}
	sid := s.t.IDBytes(status)
	h, ok := s.headers[sid]
	if !ok {
		h.Header, ok = classify.ParseStatus(string(status))
		if !ok {
			s.headerError(n, glued, line, "empty state")
			return false
		}
		h.state = s.t.ID(h.State)
		if len(s.headers) >= maxCachedHeaders {
			clear(s.headers)
		}
		s.headers[sid] = h
	}
	if s.block != noBlock {
		s.endBlock(n)
	}
	s.startGoroutine(n, id, glued, open > 0)
	s.open(traceback, n)
	s.g.ID = id
	s.g.State = h.state
	s.g.WaitMinutes = h.WaitMinutes
	s.g.Leaked = h.Leaked
	s.g.Locked = h.Locked
	if labels != nil {
		var err error
		s.g.Labels, err = parseLabels(s.t, s.g.Labels, labels)
		if err != nil {
			s.errorf(n, "goroutine header: labels: %v", err)
		}
	}
	return true
}

// headerError reports a header that does not parse, unless it was found
// inside other text, which may quote one.
func (s *scanner) headerError(n int, glued bool, line []byte, format string, args ...any) {
	if !glued {
		s.errorf(n, "goroutine header: %q: "+format, append([]any{clip(line)}, args...)...)
	}
}

// startGoroutine decides, at the header of goroutine id on line n, whether
// a new dump begins there (see Parse), and records the id. thread says the
// header names the goroutine's M ("gp=0x... m=3"), as those of crash
// dumps do.
func (s *scanner) startGoroutine(n int, id int64, glued, thread bool) {
	reason := s.nextDump
	repeat := s.seen(n, id)
	switch {
	case reason != "":
	case s.lastKind == grouped && s.dumpCount > 0:
		reason = "a traceback after ?debug=1 records"
	case glued && s.dumpCount > 0:
		reason = "a goroutine header after other text on its line"
	case repeat && s.crashThread && thread:
		// A thread of a crash dump prints its goroutine again.
		if s.repeats++; s.repeats == 1 {
			s.repeatLine = n
		}
		s.skip = true
		return
	case repeat:
		reason = fmt.Sprintf("goroutine %d repeats", id)
	}
	if reason != "" {
		s.newDump(n, reason)
		s.seen(n, id) // the first id of the new dump
	}
}

// runningFrames handles the first frame of a running goroutine. A dump
// prints the stack of one running goroutine, the one that took it (the
// others on other threads are "stack unavailable"); a second one is the
// first goroutine of a new dump, as where runtime.Stack output is logged
// twice:
//
//	goroutine 57 [running]:
//	main.handler(...)
func (s *scanner) runningFrames() {
	if !s.runningSeen {
		s.runningSeen = true
		return
	}
	s.dumpCount-- // the open goroutine goes with the new dump
	s.newDump(s.g.Line, fmt.Sprintf("goroutine %d is a second one running with its stack", s.g.ID))
	s.dumpCount++
	s.g.Dump = s.dump
	s.seen(s.g.Line, s.g.ID)
	s.runningSeen = true
}

// newDump ends the dump being read, if it has goroutines, and starts the
// next at line n.
func (s *scanner) newDump(n int, reason string) {
	s.nextDump = ""
	s.crashThread = false
	if s.dumpCount == 0 {
		return
	}
	s.runningSeen = false
	s.dump++
	s.dumpCount = 0
	s.addDump(Dump{Line: n, Reason: reason})
	clear(s.ids)
	clear(s.idBits[:s.idHigh])
	s.idHigh = 0
}

// seen reports whether goroutine id, read at line n, was already read in
// this dump, and records it. Ids 0, the threads' g0, never repeat. Ids
// are small in real dumps (they count the goroutines a process started):
// below maxDenseID they are bits of a slice, above it words of a map
// bounded by maxIDWords.
func (s *scanner) seen(n int, id int64) bool {
	if id <= 0 {
		return false
	}
	bit := uint64(1) << (id & 63)
	if id < maxDenseID {
		w := int(id >> 6)
		if w >= len(s.idBits) {
			s.idBits = append(s.idBits, make([]uint64, w+1-len(s.idBits))...)
		}
		if s.idBits[w]&bit != 0 {
			return true
		}
		s.idBits[w] |= bit
		s.idHigh = max(s.idHigh, w+1)
		return false
	}
	w, ok := s.ids[id>>6]
	if !ok && len(s.ids) >= maxIDWords {
		if s.idsFullLine == 0 {
			s.idsFullLine = n
		}
		return false
	}
	s.ids[id>>6] = w | bit
	return w&bit != 0
}

func (s *scanner) open(kind blockKind, n int) {
	s.block = kind
	s.g.Reset()
	s.g.Count = 1
	s.g.Line = n
	s.g.Dump = s.dump
	s.ancestor = -1
	s.pending = noPending
	s.nframes = 0
	s.unavailable = false
	s.createdBy = false
	s.dumpCount++
	if s.gccgo && kind == traceback {
		s.skip = true // the rest of a gccgo traceback
	}
	if s.info.DumpCount == 0 {
		s.addDump(Dump{Line: n})
	}
	s.g.Grouped = kind == grouped
}

// tracebackLine handles a line inside a traceback block. It returns false
// when the line ended the block and must be looked at as outside text.
func (s *scanner) tracebackLine(n int, line []byte) bool {
	if len(s.margin) > 0 {
		line = s.unindent(line)
	}
	if len(line) == 0 {
		s.endBlock(n)
		return true
	}
	if line[0] == '\t' || line[0] == ' ' {
		//	/tmp/x/main.go:24 +0x1d
		// after a tab, or the spaces a tab was turned into.
		b := line[1:]
		if len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = trimBlank(b)
		}
		if len(b) == 0 {
			s.endBlock(n)
			return true
		}
		if s.pending == noPending {
			if bytes.Equal(b, unavailableStack) {
				s.unavailable = true
				return true
			}
			s.errorf(n, "file line %q without a function line above it", clip(line))
			return true
		}
		if s.pending == pendingBare {
			if _, _, ok := parseFileLine(b); ok && !s.gccgo {
				s.gccgo = true
				s.errorf(s.pendingLine, "goroutine %d: function line %q has no argument list, and a file line follows: "+
					"this looks like a gccgo (libgo) traceback, which is not read; its goroutines are skipped", s.g.ID, clip(s.key[:len(s.key)-1]))
			}
			s.pending = noPending
			s.skip = true
			return true
		}
		f, ok := s.frame(b)
		if !ok {
			s.errorf(n, "want %q, got %q", "\tfile.go:123 +0x1f", clip(line))
			s.pending = noPending
			return true
		}
		if s.pending == pendingFrame && s.ancestor == -1 && s.nframes > 0 && s.nframes < maxFrames {
			// The common case of addFrame, on the hot path.
			s.pending = noPending
			s.nframes++
			s.g.Frames = append(s.g.Frames, f)
			return true
		}
		s.addFrame(f)
		return true
	}
	if s.pending == pendingBare {
		// The line after the header was unrelated text.
		s.pending = noPending
		s.endBlock(n)
		return false
	}
	if s.pending != noPending {
		// A function line must be followed by its file line.
		s.errorf(s.pendingLine, "function line without its file line in goroutine %d", s.g.ID)
		s.pending = noPending
	}
	//	main.(*T).m(0xc000010000, {0x4b5f2a?, 0x1})
	//	main.inlined(...)
	// The most common line, and the only kind that ends with ')'.
	if line[len(line)-1] == ')' {
		if i := argsStart(line); i > 0 {
			s.setPending(pendingFrame, n, line[:i])
			return true
		}
	}
	switch {
	case bytes.HasPrefix(line, prefixCreatedBy):
		//	created by main.alloc1 in goroutine 1
		//	created by main.main
		fn := line[len(prefixCreatedBy):]
		if i := bytes.Index(fn, inGoroutine); i >= 0 {
			if s.ancestor < 0 {
				if id, err := strconv.ParseInt(string(fn[i+len(inGoroutine):]), 10, 64); err == nil {
					s.g.ParentID = id
				}
			}
			fn = fn[:i]
		}
		s.setPending(pendingCreatedBy, n, fn)
		return true
	case line[0] == '.' && bytes.HasPrefix(line, []byte("...")):
		//	...12 frames elided...
		//	...additional frames elided...
		s.g.Elided = true
		return true
	case bytes.HasPrefix(line, prefixAncestor):
		//	[originating from goroutine 7]:
		idText := bytes.TrimSuffix(line[len(prefixAncestor):], []byte("]:"))
		id, err := strconv.ParseInt(string(idText), 10, 64)
		if err != nil {
			s.errorf(n, "ancestor header %q: %v", clip(line), err)
		}
		if len(s.g.Ancestors) >= maxAncestors {
			s.ancestor = -2 // read on, keep nothing
			return true
		}
		s.g.Ancestors = append(s.g.Ancestors, stack.Ancestor{ID: id})
		s.ancestor = len(s.g.Ancestors) - 1
		return true
	case bytes.HasPrefix(line, prefixNonGo):
		//	non-Go function at pc=0x45f1a2
		return true
	case bytes.HasPrefix(line, prefixGoroutine):
		// A header without the blank line before it: let the
		// outside handler start the next goroutine.
		s.endBlock(n)
		return false
	case s.nframes == 0 && s.ancestor == -1 && !s.unavailable && isSymbol(line):
		//	main.main                  (gccgo: no argument list)
		s.setPending(pendingBare, n, line)
		return true
	}
	// Unrelated text: the goroutine ended without a blank line.
	s.endBlock(n)
	return false
}

// isSymbol reports whether a line could be a function name alone.
func isSymbol(b []byte) bool {
	return len(b) < 1024 && !bytes.ContainsAny(b, " ()")
}

func (s *scanner) setPending(kind pendingKind, n int, fn []byte) {
	s.pending = kind
	s.key = append(append(s.key[:0], fn...), 0)
	s.pendingLine = n
}

// frame returns the frame of the pending function at the position of a
// file line (without its indentation), from the cache when the same
// function and position were seen before.
func (s *scanner) frame(b []byte) (stack.Frame, bool) {
	end := bytes.IndexByte(b, ' ')
	if end < 0 {
		end = len(b)
	}
	fn := len(s.key) - 1
	s.key = append(s.key, b[:end]...)
	if f, ok := s.frames[string(s.key)]; ok {
		return f, true
	}
	file, line, ok := parseFileLine(b)
	if !ok {
		return stack.Frame{}, false
	}
	name := s.key[:fn]
	if string(name) == "panic" {
		// The runtime prints runtime.gopanic as "panic":
		//	panic({0x4a94e0?, 0xc0000120c0?})
		//		/usr/local/go/src/runtime/panic.go:879 +0x16f
		// named so, it is plumbing like the rest of the runtime,
		// and the site is the caller that panicked.
		name = gopanic
	}
	f := stack.Frame{Func: s.t.IDBytes(name), File: s.t.IDBytes(file), Line: int32(line)}
	if s.cachedBytes += len(s.key); s.cachedBytes > maxCachedBytes {
		clear(s.frames)
		s.cachedBytes = len(s.key)
	}
	s.frames[string(s.key)] = f
	return f, true
}

func (s *scanner) addFrame(f stack.Frame) {
	kind := s.pending
	s.pending = noPending
	if s.ancestor == -2 {
		return
	}
	if s.ancestor >= 0 {
		a := &s.g.Ancestors[s.ancestor]
		if kind == pendingCreatedBy {
			a.CreatedBy = f
		} else if len(a.Frames) < maxFrames {
			a.Frames = append(a.Frames, f)
		}
		return
	}
	if kind == pendingCreatedBy {
		s.g.CreatedBy = f
		s.createdBy = true
		return
	}
	s.nframes++
	if s.nframes == 1 && s.g.State == s.running && !s.crashThread {
		s.runningFrames()
	}
	if len(s.g.Frames) >= maxFrames {
		s.g.Elided = true
		if s.nframes == maxFrames+1 {
			if s.deep++; s.deep == 1 {
				s.deepLine = s.g.Line
			}
		}
		return
	}
	s.g.Frames = append(s.g.Frames, f)
}

// argsStart returns the index of the parenthesis that opens the arguments
// of a function line, skipping receivers, which follow a dot:
//
//	main.(*T).m(0xc000010000, {0x4b5f2a?, 0x1})
//	main.(*T[...]).m(...)
//	example.com/safemem.(Writer).WriteFromBlocks-fm(...)
//
// Arguments are often longer than the name, so it scans forward.
func argsStart(line []byte) int {
	off := 0
	for {
		i := bytes.IndexByte(line[off:], '(')
		if i < 0 {
			return -1
		}
		i += off
		if i > 0 && line[i-1] == '.' {
			// A receiver: continue after its closing parenthesis.
			j := bytes.IndexByte(line[i:], ')')
			if j < 0 {
				return -1
			}
			off = i + j
			continue
		}
		return i
	}
}

// parseFileLine parses the part of a frame's second line after the tab:
//
//	/usr/local/go/src/runtime/proc.go:435 +0xce
//	/tmp/x/main.go:24
//	/usr/local/go/src/runtime/asm_amd64.s:1700 +0x1 fp=0xc0000 sp=0xc0000 pc=0x47a0c1
//	C:/Users/me/main.go:12 +0x1d
func parseFileLine(b []byte) (file []byte, line int, ok bool) {
	colon := bytes.LastIndexByte(b, ':')
	if colon <= 0 {
		return nil, 0, false
	}
	i := colon + 1
	for i < len(b) && isDigit(b[i]) {
		line = line*10 + int(b[i]-'0')
		if line > 1<<30 {
			return nil, 0, false
		}
		i++
	}
	if i == colon+1 || (i < len(b) && b[i] != ' ') {
		return nil, 0, false
	}
	return b[:colon], line, true
}

// startProfile handles the first line of a debug=1 profile:
//
//	goroutine profile: total 20005
//	goroutineleak profile: total 12
func (s *scanner) startProfile(n, total int) {
	if s.block != noBlock {
		s.endBlock(n)
	}
	s.checkGroupedTotal(n)
	s.newDump(n, "a new ?debug=1 profile")
	s.groupedTotal, s.groupedSeen, s.groupedHeaderLine = total, 0, n
}

// checkGroupedTotal reports a debug=1 profile whose records add up to less
// than its header's total: the file was cut.
func (s *scanner) checkGroupedTotal(n int) {
	if s.groupedHeaderLine > 0 && s.groupedSeen < s.groupedTotal {
		s.info.Truncated = true
		s.errorf(n, "?debug=1 profile from line %d says %d goroutines, its records add up to %d: %w",
			s.groupedHeaderLine, s.groupedTotal, s.groupedSeen, ErrTruncated)
	}
	s.groupedHeaderLine = 0
}

// groupedRecord opens a debug=1 record:
//
//	20000 @ 0x4711ee 0x40a085 0x409d12 0x4bfc38 0x478b01
//
// It reports false when the line is not one.
func (s *scanner) groupedRecord(n int, margin, line []byte) bool {
	i := 0
	for i < len(line) && isDigit(line[i]) {
		i++
	}
	if !bytes.HasPrefix(line[i:], []byte(" @ ")) && !bytes.Equal(line[i:], []byte(" @")) {
		return false
	}
	count, err := strconv.Atoi(string(line[:i]))
	if err != nil || count <= 0 || count > maxCount {
		s.errorf(n, "?debug=1 record %q: bad count (want 1 to %d)", clip(line), maxCount)
		return true
	}
	if s.block != noBlock {
		s.endBlock(n)
	}
	s.margin = append(s.margin[:0], margin...)
	if s.lastKind == traceback && s.groupedHeaderLine == 0 {
		s.newDump(n, "?debug=1 records after a traceback")
	}
	s.open(grouped, n)
	s.g.Count = count
	s.g.Leaked = s.groupedLeaked
	return true
}

// groupedLine handles a line inside a debug=1 record:
//
//	# labels: {"handler":"/api", "tenant":"a"}
//	#	0x4bfc37	main.alloc2.func1+0x37	/tmp/leak_demo.go:53
//	#	0x4bfc37
//
// The tabs may have been turned into spaces.
func (s *scanner) groupedLine(n int, line []byte) bool {
	if len(s.margin) > 0 {
		line = s.unindent(line)
	}
	if len(line) == 0 {
		s.endBlock(n)
		return true
	}
	if bytes.HasPrefix(line, prefixLabels) {
		var err error
		s.g.Labels, err = parseLabels(s.t, s.g.Labels, line[len(prefixLabels):])
		if err != nil {
			s.errorf(n, "labels: %v", err)
		}
		return true
	}
	if len(line) < 2 || line[0] != '#' || (line[1] != '\t' && line[1] != ' ') {
		s.endBlock(n)
		return false
	}
	sep := byte('\t')
	if bytes.IndexByte(line, '\t') < 0 {
		sep = ' '
	}
	var fields [4][]byte
	nf := 0
	for rest := line[2:]; len(rest) > 0 && nf <= len(fields); {
		f := rest
		if i := bytes.IndexByte(rest, sep); i >= 0 && (sep == '\t' || nf < 2) {
			f, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if sep == ' ' {
			f = bytes.TrimSpace(f)
		}
		if len(f) == 0 {
			continue // tabwriter padding
		}
		if nf < len(fields) {
			fields[nf] = f
		}
		nf++
	}
	switch nf {
	case 1: // a PC the runtime could not symbolize
		return true
	case 3:
		fn := fields[1]
		if i := bytes.LastIndex(fn, []byte("+0x")); i > 0 {
			fn = fn[:i]
		}
		file, lineNo, ok := parseFileLine(fields[2])
		if ok {
			s.nframes++
			if len(s.g.Frames) < maxFrames {
				s.g.Frames = append(s.g.Frames, stack.Frame{Func: s.t.IDBytes(fn), File: s.t.IDBytes(file), Line: int32(lineNo)})
			}
			return true
		}
	}
	s.errorf(n, "want %q, got %q", "#\t0x4bfc37\tmain.f+0x37\t/x/main.go:53", clip(line))
	return true
}

// endBlock closes the open goroutine and passes it on when complete. It is
// called at the line that ended the block.
func (s *scanner) endBlock(n int) {
	kind := s.block
	s.block = noBlock
	if s.pending == pendingBare {
		s.pending = noPending
	}
	if s.pending != noPending {
		s.errorf(s.pendingLine, "function line without its file line in goroutine %d", s.g.ID)
		s.pending = noPending
	}
	if s.skip {
		s.skip = false
		s.dumpCount--
		return
	}
	switch kind {
	case traceback:
		if s.nframes == 0 && !s.unavailable {
			if !s.gccgo {
				s.errorf(s.g.Line, "goroutine %d has no frames", s.g.ID)
			}
			s.dumpCount--
			return
		}
		s.info.Precision = max(s.info.Precision, classify.Text)
	case grouped:
		if s.nframes == 0 {
			s.errorf(s.g.Line, "?debug=1 record has no frames")
			s.dumpCount--
			return
		}
		s.funcs = s.funcs[:0]
		for _, f := range s.g.Frames {
			s.funcs = append(s.funcs, s.t.String(f.Func))
		}
		s.g.State = s.t.ID(classify.InferState(s.funcs, classify.UserFrames))
		s.groupedSeen += s.g.Count
		s.info.Precision = max(s.info.Precision, classify.UserFrames)
	default:
		return
	}
	s.lastKind = kind
	s.info.Goroutines += s.g.Count
	s.fn(&s.g)
}

// addDump records the start of a dump, keeping the first maxDumps.
func (s *scanner) addDump(d Dump) {
	s.info.DumpCount++
	if len(s.info.Dumps) < maxDumps {
		s.info.Dumps = append(s.info.Dumps, d)
	}
}

// atEOF closes the last goroutine. Without the blank line that ends a
// goroutine, a goroutine is complete only if its last line is: no frame
// waits for its file line, and a goroutine other than the main one has its
// "created by" (every goroutine but the first is created by another, and
// the runtime prints it last).
func (s *scanner) atEOF() {
	n := s.info.Lines
	switch s.block {
	case traceback:
		if s.pending == pendingBare {
			s.pending = noPending
		}
		if !s.skip && (s.pending != noPending || (s.nframes == 0 && !s.unavailable) ||
			(!s.createdBy && s.g.ID > 1)) {
			s.truncated()
			return
		}
		s.endBlock(n)
	case grouped:
		if s.pending != noPending {
			s.truncated()
			return
		}
		s.endBlock(n)
	}
	s.checkGroupedTotal(n)
}

// truncated drops the open goroutine, which the input cut short.
func (s *scanner) truncated() {
	kind := s.block
	s.block = noBlock
	s.pending = noPending
	s.info.Truncated = true
	s.dumpCount--
	what := fmt.Sprintf("goroutine %d", s.g.ID)
	if kind == grouped && s.g.Count > 0 {
		what = fmt.Sprintf("the ?debug=1 record of %d goroutines", s.g.Count)
		if s.g.Count == 1 {
			what = "the ?debug=1 record of 1 goroutine"
		}
	} else if kind == grouped {
		what = "a ?debug=1 record"
	}
	cut := ""
	if s.cutLast != "" {
		cut = s.cutLast + "; "
	}
	s.errorf(s.info.Lines, "%sinput ends inside %s (started at line %d), which is left out: %w",
		cut, what, s.g.Line, ErrTruncated)
	s.groupedHeaderLine = 0 // the missing goroutines are explained
}

// finishNotes turns what the scanner counted into notes.
func (s *scanner) finishNotes() {
	if s.wholeLast > 0 && !s.info.Truncated {
		s.note("line %d, the last, has no line ending: read as whole, since its line number is followed by the PC offset", s.wholeLast)
	}
	if s.glued > 0 {
		s.note("line %d: a goroutine header follows other text on its line; read as a header%s", s.glueLine, more(s.glued))
	}
	if s.repeats > 0 {
		s.note("line %d: a goroutine a GOTRACEBACK=crash thread prints again is counted once%s", s.repeatLine, more(s.repeats))
	}
	if s.deep > 0 {
		s.note("line %d: a goroutine deeper than %d frames keeps its first %d%s", s.deepLine, maxFrames, maxFrames, more(s.deep))
	}
	if s.idsFullLine > 0 {
		s.note("line %d: more distinct goroutine ids than the parser tracks: repeated ids, which start a new dump, are not looked for past it", s.idsFullLine)
	}
}

// more says how many more times a noted thing happened.
func more(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (and %d more such)", n-1)
}

func (s *scanner) note(format string, args ...any) {
	s.info.Notes = append(s.info.Notes, fmt.Sprintf(format, args...))
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
