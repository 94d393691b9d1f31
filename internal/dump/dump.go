// Package dump reads the text forms of goroutine dumps: tracebacks as
// runtime.Stack, /debug/pprof/goroutine?debug=2, panics and SIGQUIT print
// them (with any unrelated lines around them), GODEBUG=tracebackancestors
// blocks, and the grouped /debug/pprof/goroutine?debug=1 form.
//
// It streams: memory does not grow with the input, only with the number of
// distinct function and file names, and it never panics on bad input.
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
)

// Info describes what Parse read.
type Info struct {
	Lines      int
	Goroutines int // goroutines passed to the callback, counting grouped ones
	Precision  classify.Precision
	Truncated  bool
}

// Parse reads text dumps from r, interning names into t, and calls fn for
// every complete goroutine. fn must not keep the Goroutine or its slices.
//
// The error joins every problem found, each naming its line; goroutines that
// were complete are still passed to fn. An input that ends inside a goroutine
// yields an error wrapping ErrTruncated; one with no goroutine an error
// wrapping ErrNoGoroutines.
func Parse(r io.Reader, t *stack.Table, fn func(*stack.Goroutine)) (Info, error) {
	s := &scanner{
		lr:      lineReader{r: r, buf: make([]byte, 64<<10)},
		t:       t,
		fn:      fn,
		headers: make(map[uint32]classify.Header),
		frames:  make(map[string]stack.Frame),
	}
	s.run()
	return s.info, s.err()
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
)

type scanner struct {
	lr lineReader
	t  *stack.Table
	fn func(*stack.Goroutine)
	// eofNoNewline reports whether the last line had no newline.
	eofNoNewline bool

	info    Info
	headers map[uint32]classify.Header // bracket contents, parsed once

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
		if s.eofNoNewline && (s.block != noBlock || startsHeader(line)) {
			// The input was cut inside a goroutine: the last line
			// may be any prefix of the real one, so nothing in it
			// can be trusted, nor the goroutine it belongs to.
			if s.block == noBlock {
				s.open(traceback, s.info.Lines)
			}
			s.truncated()
			break
		}
		s.line(line)
	}
	s.atEOF()
}

var (
	prefixGoroutine  = []byte("goroutine ")
	prefixCreatedBy  = []byte("created by ")
	prefixAncestor   = []byte("[originating from goroutine ")
	prefixLabels     = []byte("# labels: ")
	prefixNonGo      = []byte("non-Go function")
	inGoroutine      = []byte(" in goroutine ")
	profileTotal     = []byte(" profile: total ")
	unavailableStack = []byte("\tgoroutine running on other thread; stack unavailable")
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
	if bytes.HasPrefix(line, prefixGoroutine) {
		s.header(n, line)
		return
	}
	if i := bytes.Index(line, profileTotal); i > 0 && isWord(line[:i]) {
		if total, err := strconv.Atoi(string(line[i+len(profileTotal):])); err == nil {
			s.startProfile(n, total)
			// Every goroutine of a goroutineleak profile is one
			// the runtime proved leaked.
			s.groupedLeaked = bytes.Equal(line[:i], []byte("goroutineleak"))
			return
		}
	}
	if len(line) > 0 && isDigit(line[0]) {
		s.groupedRecord(n, line)
	}
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
// does not parse is an error.
func (s *scanner) header(n int, line []byte) {
	if line[len(line)-1] != ':' {
		return
	}
	rest := line[len(prefixGoroutine):]
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	if i == 0 || i > 19 {
		return
	}
	id, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return
	}
	rest = rest[i:]
	open := bytes.Index(rest, []byte(" ["))
	if open < 0 || (open > 0 && !bytes.HasPrefix(rest, []byte(" gp=")) && !bytes.HasPrefix(rest, []byte(" m="))) {
		return
	}
	body := rest[open+2:]
	var status, labels []byte
	if j := bytes.Index(body, []byte(" labels:{")); j >= 0 {
		status = body[:j]
		labels = body[j+len(" labels:"):]
		if !bytes.HasSuffix(labels, []byte("]:")) {
			s.errorf(n, "goroutine header: %q: no closing %q", clip(line), "]:")
			return
		}
		labels = labels[:len(labels)-2]
	} else {
		j := bytes.IndexByte(body, ']')
		if j < 0 {
			s.errorf(n, "goroutine header: %q: no closing %q", clip(line), "]")
			return
		}
		status = body[:j]
		tail := body[j+1:]
		switch {
		case len(tail) == 1 && tail[0] == ':':
		case bytes.HasPrefix(tail, []byte(" {")) && bytes.HasSuffix(tail, []byte("}:")):
			labels = tail[1 : len(tail)-1]
		default:
			s.errorf(n, "goroutine header: %q: want %q after the state", clip(line), "]:")
			return
		}
	}
	sid := s.t.IDBytes(status)
	h, ok := s.headers[sid]
	if !ok {
		h, ok = classify.ParseStatus(string(status))
		if !ok {
			s.errorf(n, "goroutine header: %q: empty state", clip(line))
			return
		}
		s.headers[sid] = h
	}
	if s.block != noBlock {
		s.endBlock(n)
	}
	s.open(traceback, n)
	s.g.ID = id
	s.g.State = s.t.ID(h.State)
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
}

func (s *scanner) open(kind blockKind, n int) {
	s.block = kind
	s.g.Reset()
	s.g.Count = 1
	s.g.Line = n
	s.ancestor = -1
	s.pending = noPending
	s.nframes = 0
	s.unavailable = false
	s.createdBy = false
}

// tracebackLine handles a line inside a traceback block. It returns false
// when the line ended the block and must be looked at as outside text.
func (s *scanner) tracebackLine(n int, line []byte) bool {
	if len(line) == 0 {
		s.endBlock(n)
		return true
	}
	if line[0] == '\t' {
		if s.pending == noPending {
			if bytes.Equal(line, unavailableStack) {
				s.unavailable = true
				return true
			}
			s.errorf(n, "file line %q without a function line above it", clip(line))
			return true
		}
		f, ok := s.frame(line[1:])
		if !ok {
			s.errorf(n, "want %q, got %q", "\tfile.go:123 +0x1f", clip(line))
			s.pending = noPending
			return true
		}
		s.addFrame(f)
		return true
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
	}
	// Unrelated text: the goroutine ended without a blank line.
	s.endBlock(n)
	return false
}

func (s *scanner) setPending(kind pendingKind, n int, fn []byte) {
	s.pending = kind
	s.key = append(append(s.key[:0], fn...), 0)
	s.pendingLine = n
}

// frame returns the frame of the pending function at the position of a
// file line (the part after the tab), from the cache when the same function
// and position were seen before.
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
	f := stack.Frame{Func: s.t.IDBytes(s.key[:fn]), File: s.t.IDBytes(file), Line: int32(line)}
	s.frames[string(s.key)] = f
	return f, true
}

func (s *scanner) addFrame(f stack.Frame) {
	kind := s.pending
	s.pending = noPending
	if s.ancestor >= 0 {
		a := &s.g.Ancestors[s.ancestor]
		if kind == pendingCreatedBy {
			a.CreatedBy = f
		} else {
			a.Frames = append(a.Frames, f)
		}
		return
	}
	if kind == pendingCreatedBy {
		s.g.CreatedBy = f
		s.createdBy = true
		return
	}
	s.g.Frames = append(s.g.Frames, f)
	s.nframes++
}

// argsStart returns the index of the parenthesis that opens the arguments
// of a function line, skipping pointer receivers:
//
//	main.(*T).m(0xc000010000, {0x4b5f2a?, 0x1})
//	main.(*T[...]).m(...)
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
		if i+1 < len(line) && line[i+1] == '*' && i > 0 && line[i-1] == '.' {
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
	s.groupedTotal, s.groupedSeen, s.groupedHeaderLine = total, 0, n
}

// checkGroupedTotal reports a debug=1 profile whose records add up to less
// than its header's total: the file was cut.
func (s *scanner) checkGroupedTotal(n int) {
	if s.groupedHeaderLine > 0 && s.groupedSeen < s.groupedTotal {
		s.info.Truncated = true
		s.errorf(n, "profile from line %d says %d goroutines, records add up to %d: %w",
			s.groupedHeaderLine, s.groupedTotal, s.groupedSeen, ErrTruncated)
	}
	s.groupedHeaderLine = 0
}

// groupedRecord opens a debug=1 record:
//
//	20000 @ 0x4711ee 0x40a085 0x409d12 0x4bfc38 0x478b01
func (s *scanner) groupedRecord(n int, line []byte) {
	i := 0
	for i < len(line) && isDigit(line[i]) {
		i++
	}
	if !bytes.HasPrefix(line[i:], []byte(" @ ")) && !bytes.Equal(line[i:], []byte(" @")) {
		return
	}
	count, err := strconv.Atoi(string(line[:i]))
	if err != nil || count <= 0 {
		s.errorf(n, "record %q: bad count", clip(line))
		return
	}
	if s.block != noBlock {
		s.endBlock(n)
	}
	s.open(grouped, n)
	s.g.Count = count
	s.g.Leaked = s.groupedLeaked
}

// groupedLine handles a line inside a debug=1 record:
//
//	# labels: {"handler":"/api", "tenant":"a"}
//	#	0x4bfc37	main.alloc2.func1+0x37	/tmp/leak_demo.go:53
//	#	0x4bfc37
func (s *scanner) groupedLine(n int, line []byte) bool {
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
	if len(line) < 2 || line[0] != '#' || line[1] != '\t' {
		s.endBlock(n)
		return false
	}
	var fields [4][]byte
	nf := 0
	for rest := line[2:]; len(rest) > 0 && nf <= len(fields); {
		f := rest
		if i := bytes.IndexByte(rest, '\t'); i >= 0 {
			f, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
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
			s.g.Frames = append(s.g.Frames, stack.Frame{Func: s.t.IDBytes(fn), File: s.t.IDBytes(file), Line: int32(lineNo)})
			s.nframes++
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
	if s.pending != noPending {
		s.errorf(s.pendingLine, "function line without its file line in goroutine %d", s.g.ID)
		s.pending = noPending
	}
	switch kind {
	case traceback:
		if s.nframes == 0 && !s.unavailable {
			s.errorf(s.g.Line, "goroutine %d has no frames", s.g.ID)
			return
		}
		s.info.Precision = max(s.info.Precision, classify.Text)
	case grouped:
		if s.nframes == 0 {
			s.errorf(s.g.Line, "record has no frames")
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
	s.info.Goroutines += s.g.Count
	s.fn(&s.g)
}

// atEOF closes the last goroutine. Without the blank line that ends a
// goroutine, a goroutine is complete only if its last line is: the input
// ended with a newline, no frame waits for its file line, and a goroutine
// other than the main one has its "created by" (every goroutine but the
// first is created by another, and the runtime prints it last).
func (s *scanner) atEOF() {
	n := s.info.Lines
	switch s.block {
	case traceback:
		if s.eofNoNewline || s.pending != noPending || (s.nframes == 0 && !s.unavailable) ||
			(!s.createdBy && s.g.ID > 1) {
			s.truncated()
			return
		}
		s.endBlock(n)
	case grouped:
		if s.eofNoNewline || s.pending != noPending {
			s.truncated()
			return
		}
		s.endBlock(n)
	}
	s.checkGroupedTotal(n)
}

// truncated drops the open goroutine, which the input cut short.
func (s *scanner) truncated() {
	s.block = noBlock
	s.pending = noPending
	s.info.Truncated = true
	what := fmt.Sprintf("goroutine %d", s.g.ID)
	if s.g.ID == 0 && s.g.Count > 1 {
		what = "a record"
	}
	s.errorf(s.info.Lines, "input ends inside %s (started at line %d): %w", what, s.g.Line, ErrTruncated)
	s.groupedHeaderLine = 0 // the missing goroutines are explained
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
