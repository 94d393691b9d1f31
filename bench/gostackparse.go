package bench

import (
	"errors"
	"fmt"
	"io"

	"github.com/DataDog/gostackparse"

	"github.com/leaksentinel/leaksentinel"
)

// parseGostackparse reads a dump with DataDog/gostackparse and groups its
// goroutines by site.
//
// gostackparse keeps only the wait reason of a header (State), without the
// minutes and "locked to thread" it parses into fields of their own, and
// drops any goroutine whose header it does not recognise, returning an
// error for it.
func parseGostackparse(r io.Reader) (grouping, error) {
	gs, errs := gostackparse.Parse(r)
	b := newGrouper()
	var frames []leaksentinel.Frame
	for _, g := range gs {
		frames = frames[:0]
		for _, f := range g.Stack {
			frames = append(frames, leaksentinel.Frame{Function: f.Func, File: f.File, Line: f.Line})
		}
		var createdBy leaksentinel.Frame
		if c := g.CreatedBy; c != nil {
			createdBy = leaksentinel.Frame{Function: c.Func, File: c.File, Line: c.Line}
		}
		if !b.add(g.State, frames, createdBy) {
			errs = append(errs, fmt.Errorf("goroutine %d: empty state", g.ID))
		}
	}
	return b.out, errors.Join(errs...)
}
