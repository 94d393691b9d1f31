// Package capture reads the current process's goroutines through
// runtime.GoroutineProfile, the cheapest full look the runtime offers: two
// short stops of the world whatever the goroutine count, and raw PCs with
// the runtime frames on top, from which the state is inferred.
//
// Design: runtime.Stack(all) gives states, wait minutes and creators, but
// stops the world for the whole walk (about 1 s at 100k goroutines); the
// pprof goroutine profile (debug=0) carries labels but builds a string key
// per goroutine and costs 1.6-2x as much. GoroutineProfile is the floor, and
// what is added on top is a map lookup per goroutine: goroutines are grouped
// by their PC array before anything is symbolised, and each PC is
// symbolised once per process and cached.
package capture

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// Symbols is the process-wide cache of symbolised PCs. Its size is bounded
// by the program's code: a PC, once symbolised, never changes meaning.
var Symbols = &symbols{pcs: make(map[uintptr]stack.Frame)}

type symbols struct {
	mu    sync.Mutex
	table stack.Table
	pcs   map[uintptr]stack.Frame
}

// Table returns the table frames from this package are interned in. Callers
// must hold no assumptions beyond reading strings by id while no capture
// runs; use Lock/Unlock around reads.
func (s *symbols) Lock()   { s.mu.Lock() }
func (s *symbols) Unlock() { s.mu.Unlock() }

// Table is the string table of every symbolised frame. Read it with the
// lock held.
func (s *symbols) Table() *stack.Table { return &s.table }

// frame symbolises one return PC as the innermost logical frame at that PC.
// runtime.GoroutineProfile (like runtime.Callers) already emits one PC per
// inlined frame, so taking only the innermost frame of each PC gives exactly
// the frames runtime.CallersFrames gives for the whole stack. s.mu is held.
func (s *symbols) frame(pc uintptr) stack.Frame {
	if f, ok := s.pcs[pc]; ok {
		return f
	}
	fr, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	f := stack.Frame{Func: s.table.ID(fr.Function), File: s.table.ID(fr.File), Line: int32(fr.Line)}
	s.pcs[pc] = f
	return f
}

// Capturer takes captures, reusing its buffers between them. It is not
// safe for concurrent use.
type Capturer struct {
	records []runtime.StackRecord
	counts  map[[32]uintptr]int
	g       stack.Goroutine
	funcs   []string
}

// maxTries bounds how often Capture grows its buffer when goroutines are
// started faster than it can size it.
const maxTries = 8

// Capture records every goroutine of the process into b, whose table must
// be Symbols.Table() (the caller holds Symbols' lock while b is in use).
// It fails only if goroutines are started faster than it can size its
// buffer, try after try.
func (c *Capturer) Capture(b *stack.Builder) error {
	n := runtime.NumGoroutine()
	var ok bool
	for try := 0; ; try++ {
		if want := n + n/8 + 16; len(c.records) < want || len(c.records) > 4*want {
			c.records = make([]runtime.StackRecord, want)
		}
		n, ok = runtime.GoroutineProfile(c.records)
		if ok || try == maxTries {
			break
		}
	}
	if !ok {
		return fmt.Errorf("goroutine count kept growing past the buffer (%d goroutines, %d tries)", n, maxTries+1)
	}
	if c.counts == nil {
		c.counts = make(map[[32]uintptr]int)
	}
	clear(c.counts)
	for i := range c.records[:n] {
		c.counts[c.records[i].Stack0]++
	}
	for pcs, count := range c.counts {
		c.add(b, &pcs, count)
	}
	clear(c.records[:n]) // drop PCs so the buffer pins nothing
	return nil
}

func (c *Capturer) add(b *stack.Builder, pcs *[32]uintptr, count int) {
	g := &c.g
	g.Reset()
	g.Count = count
	c.funcs = c.funcs[:0]
	for _, pc := range pcs {
		if pc == 0 {
			break
		}
		f := Symbols.frame(pc)
		if f.Func == 0 {
			continue
		}
		g.Frames = append(g.Frames, f)
		fn := Symbols.table.String(f.Func)
		c.funcs = append(c.funcs, fn)
	}
	g.State = Symbols.table.ID(classify.InferState(c.funcs, classify.Frames))
	b.Add(g)
}
