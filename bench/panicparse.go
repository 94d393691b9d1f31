package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/maruel/panicparse/v2/stack"

	"github.com/leaksentinel/leaksentinel"
)

// parseOpts turns off everything panicparse does besides parsing:
// stack.DefaultOpts names pointer arguments (quadratic), guesses GOROOT and
// GOPATH by scanning the disk, and reads the source files to type
// arguments.
func parseOpts() *stack.Opts {
	opts := stack.DefaultOpts()
	opts.NameArguments = false
	opts.GuessPaths = false
	opts.AnalyzeSources = false
	return opts
}

// parsePanicparse reads a dump with maruel/panicparse and groups its
// goroutines by site.
//
// panicparse keeps the first part of a header's status as State and parses
// the minutes and "locked to thread" into fields of their own. Its
// Func.Complete is the name unescaped ("%2e" becomes "."), and for a
// "created by" line it keeps the " in goroutine N" suffix, cut here.
// Where it stops reading early, the error says so.
func parsePanicparse(r io.Reader) (grouping, error) {
	snap, suffix, err := stack.ScanSnapshot(r, io.Discard, parseOpts())
	if err == io.EOF {
		err = nil
	}
	if len(suffix) > 0 {
		// One call reads one trace and stops, without an error, at
		// the first line inside it that it does not understand.
		line, _, _ := bytes.Cut(suffix, []byte("\n"))
		err = errors.Join(err, fmt.Errorf("panicparse stopped at %q", line))
	}
	if snap == nil {
		return nil, errors.Join(err, errors.New("no goroutines found"))
	}
	b := newGrouper()
	var frames []leaksentinel.Frame
	var errs []error
	for _, g := range snap.Goroutines {
		frames = frames[:0]
		for i := range g.Stack.Calls {
			c := &g.Stack.Calls[i]
			frames = append(frames, leaksentinel.Frame{Function: c.Func.Complete, File: c.RemoteSrcPath, Line: c.Line})
		}
		var createdBy leaksentinel.Frame
		if len(g.CreatedBy.Calls) > 0 {
			c := &g.CreatedBy.Calls[0]
			fn, _, _ := strings.Cut(c.Func.Complete, " in goroutine ")
			createdBy = leaksentinel.Frame{Function: fn, File: c.RemoteSrcPath, Line: c.Line}
		}
		if !b.add(g.State, frames, createdBy) {
			errs = append(errs, fmt.Errorf("goroutine %d: empty state", g.ID))
		}
	}
	return b.out, errors.Join(append(errs, err)...)
}
