package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/leaksentinel/leaksentinel"
)

// format is the kind of input, detected from its content.
type format string

const (
	// formatText is a traceback: runtime.Stack, ?debug=2, panic and
	// SIGQUIT output. Headers carry states, wait minutes and creators.
	formatText format = "text"
	// formatDebug1 is ?debug=1 text (goroutine or goroutineleak): grouped
	// stacks without the runtime frames that tell chan and select waits
	// apart.
	formatDebug1 format = "debug1"
	// formatProto is a pprof protobuf profile, ?debug=0: states inferred
	// from the runtime frames, labels, no creators.
	formatProto format = "proto"
)

// describe returns the format as a person would name it.
func (f format) describe() string {
	switch f {
	case formatDebug1:
		return "?debug=1 text"
	case formatProto:
		return "pprof profile"
	}
	return "text dump"
}

// debug1Note is printed with every ?debug=1 input: the library reports
// states it cannot know as unknown, and the reader should know why.
const debug1Note = "?debug=1 text hides the runtime frames that tell a chan send, chan receive, select or runnable goroutine apart: those show as \"unknown\" (?debug=2 and the proto, ?debug=0, have them)"

// input is a parsed dump or profile.
type input struct {
	name   string // the file name as given, or "stdin"
	format format
	gzip   bool
	snap   *leaksentinel.Snapshot
}

// inputError is an input that could not be read or parsed, named.
type inputError struct {
	name string
	err  error
}

func (e *inputError) Error() string {
	// The library's messages start with "leaksentinel: ", which the
	// command's own prefix already says.
	return e.name + ": " + strings.TrimPrefix(e.err.Error(), "leaksentinel: ")
}

func (e *inputError) Unwrap() error { return e.err }

// load reads the file name ("-": stdin). On a parse error that left
// goroutines (a truncated dump), it returns them with the error.
func load(name string, stdin io.Reader) (*input, error) {
	var r io.Reader
	in := &input{name: name}
	if name == "-" {
		in.name = "stdin"
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err // "open NAME: no such file or directory"
		}
		defer f.Close()
		r = f
	}
	if err := in.parse(r); err != nil {
		return in, &inputError{name: in.name, err: err}
	}
	return in, nil
}

// sniffLen is how much of the input detection looks at.
const sniffLen = 512

// parse detects the format of r and parses it into in.snap.
func (in *input) parse(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	src := io.Reader(br)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		in.gzip = true
		src = zr
	}
	// The dump parser takes a failing read for the end of the input (a
	// corrupt gzip stream, a connection cut mid-body): remember the
	// error, which says more than "truncated", or nothing at all when the
	// cut fell between two goroutines.
	er := &errReader{r: src}
	br = bufio.NewReaderSize(er, 64<<10)
	head, err := br.Peek(sniffLen)
	if len(head) == 0 {
		if er.err != nil {
			return er.error(in.gzip)
		}
		if err != nil && err != io.EOF {
			return err
		}
		return fmt.Errorf("empty input")
	}
	in.format = sniff(head)
	if in.format == formatProto {
		in.snap, err = leaksentinel.ParseProfile(br)
	} else {
		in.snap, err = leaksentinel.ParseDump(br)
	}
	if er.err != nil {
		return er.error(in.gzip)
	}
	return err
}

// errReader records the first error of r other than io.EOF.
type errReader struct {
	r   io.Reader
	n   int64
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (e *errReader) error(gzipped bool) error {
	if gzipped {
		return fmt.Errorf("gzip: after %d bytes decompressed: %w", e.n, e.err)
	}
	return fmt.Errorf("read: after %d bytes: %w", e.n, e.err)
}

// sniff tells a protobuf profile from text by the control bytes a text
// dump never holds (a profile's first field is framed by some), and ?debug=1
// text from the others by its first line:
//
//	goroutine profile: total 326
//	goroutineleak profile: total 274
func sniff(head []byte) format {
	for _, c := range head {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return formatProto
		}
	}
	line, _, _ := bytes.Cut(bytes.TrimLeft(head, "\r\n\t "), []byte("\n"))
	name, total, ok := bytes.Cut(line, []byte(" profile: total "))
	if ok && len(name) > 0 && !bytes.ContainsAny(name, " \t") && len(total) > 0 && total[0] >= '0' && total[0] <= '9' {
		return formatDebug1
	}
	return formatText
}
