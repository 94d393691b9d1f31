// Package verify holds the mechanics under the test assertions: reading the
// goroutines goleak reports, dumping and parsing the live goroutines, goleak's
// retry schedule and default filters, and the creator chains that scope a
// check to the goroutines one test started.
package verify

import (
	"bytes"
	"errors"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/dump"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// Parse reads a text dump and returns a copy of every goroutine in it, names
// interned in t. A dump of no goroutine is not an error.
func Parse(text []byte, t *stack.Table) ([]*stack.Goroutine, error) {
	var gs []*stack.Goroutine
	_, err := dump.Parse(bytes.NewReader(text), t, func(g *stack.Goroutine) {
		gs = append(gs, clone(g))
	})
	if errors.Is(err, dump.ErrNoGoroutines) && len(gs) == 0 && len(bytes.TrimSpace(text)) == 0 {
		err = nil
	}
	return gs, err
}

func clone(g *stack.Goroutine) *stack.Goroutine {
	c := *g
	c.Frames = append([]stack.Frame(nil), g.Frames...)
	c.Labels = append([]stack.Label(nil), g.Labels...)
	c.Ancestors = nil
	for _, a := range g.Ancestors {
		a.Frames = append([]stack.Frame(nil), a.Frames...)
		c.Ancestors = append(c.Ancestors, a)
	}
	return &c
}

// Dump returns what runtime.Stack(buf, true) writes, in buf or in a larger
// buffer when buf is too small.
func Dump(buf []byte) []byte {
	if len(buf) == 0 {
		buf = make([]byte, 64<<10)
	}
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Live returns the goroutines running now, names interned in t, and the
// error of reading them.
func Live(t *stack.Table) ([]*stack.Goroutine, error) {
	return Parse(Dump(nil), t)
}

// CurrentID returns the id of the calling goroutine, read from the header
// runtime.Stack writes for it:
//
//	goroutine 18 [running]:
func CurrentID() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// IDs returns the ids of the goroutines in a text dump.
func IDs(text []byte) map[int64]bool {
	ids := make(map[int64]bool)
	for line := range bytes.Lines(text) {
		rest, ok := bytes.CutPrefix(line, []byte("goroutine "))
		if !ok {
			continue
		}
		if i := bytes.IndexByte(rest, ' '); i > 0 {
			if id, err := strconv.ParseInt(string(rest[:i]), 10, 64); err == nil {
				ids[id] = true
			}
		}
	}
	return ids
}

// goleak v1.3.0's schedule: up to this many retries, the i-th after a sleep
// of 1µs<<i capped at maxSleep, about 0.43 s in all.
const (
	maxRetries = 20
	maxSleep   = 100 * time.Millisecond
)

// Retry calls clean until it reports true, waiting between attempts as
// goleak.Find does, and reports whether it ever did.
func Retry(clean func() bool) bool {
	for i := 0; ; i++ {
		if clean() {
			return true
		}
		if i >= maxRetries {
			return false
		}
		time.Sleep(min(time.Duration(int64(time.Microsecond)<<i), maxSleep))
	}
}

// goleakHeader is the line goleak v1.3.0 prints before each goroutine it
// reports (the first one after a "[", the others after a space):
//
//	[Goroutine 9 in state chan receive, with example.com/p.f on top of the stack:
//	 Goroutine 10 in state sync.Mutex.Lock, with internal/sync.runtime_SemacquireMutex on top of the stack:
var goleakHeader = regexp.MustCompile(`^[\[ ]?Goroutine (\d+) in state (.*), with .* on top of the stack:$`)

// FromGoleak turns the message of goleak.Find's error into the text dump it
// quotes: every reported goroutine's header as runtime.Stack printed it,
// followed by the frames goleak kept (up to and including "created by").
// n is the number of goroutines found; 0 when the message is not in the
// form goleak v1.3.0 writes.
func FromGoleak(msg string) (text []byte, n int) {
	const intro = "found unexpected goroutines:\n"
	body, ok := strings.CutPrefix(msg, intro)
	if !ok {
		return nil, 0
	}
	body = strings.TrimSuffix(body, "]")
	var b bytes.Buffer
	for line := range strings.Lines(body) {
		m := goleakHeader.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			if n > 0 {
				b.WriteString(line)
			}
			continue
		}
		if n > 0 {
			b.WriteByte('\n')
		}
		n++
		b.WriteString("goroutine " + m[1] + " " + bracket(m[2]) + ":\n")
	}
	return b.Bytes(), n
}

// bracket restores the bracketed part of a header from the state goleak
// cut out of it: "chan receive" from "goroutine 9 [chan receive]:", and
// "chan receive] {k: v}" from Go 1.27's "goroutine 9 [chan receive] {k: v}:".
func bracket(state string) string {
	if status, labels, ok := strings.Cut(state, "] {"); ok {
		return "[" + status + "] {" + strings.TrimSuffix(labels, "}") + "}"
	}
	return "[" + state + "]"
}

// View is one goroutine as the filters see it.
type View struct {
	T *stack.Table
	G *stack.Goroutine
}

// Top returns the first function of the stack, as goleak's FirstFunction.
func (v View) Top() string {
	if len(v.G.Frames) == 0 {
		return ""
	}
	return v.T.String(v.G.Frames[0].Func)
}

// Has reports whether fn is among the frames of the stack, "created by" not
// included, as goleak's HasFunction.
func (v View) Has(fn string) bool {
	for _, f := range v.G.Frames {
		if v.T.String(f.Func) == fn {
			return true
		}
	}
	return false
}

// CreatedBy returns the function of the "created by" frame.
func (v View) CreatedBy() string { return v.T.String(v.G.CreatedBy.Func) }

// State returns the normalised state.
func (v View) State() string { return v.T.String(v.G.State) }

// Site returns the function that names the goroutine's site.
func (v View) Site() string {
	i := classify.SiteIndex(len(v.G.Frames), func(i int) string { return v.T.String(v.G.Frames[i].Func) })
	if i < 0 {
		return ""
	}
	return v.T.String(v.G.Frames[i].Func)
}

// Default reports whether goleak v1.3.0's default filters ignore the
// goroutine: the testing package's own goroutines, cgo's background
// syscalls, os/signal's loop and the execution tracer's reader.
func Default(v View) bool {
	switch v.Top() {
	case "testing.RunTests", "testing.(*T).Run", "testing.(*T).Parallel", "testing.runFuzzing", "testing.runFuzzTests":
		if strings.HasPrefix(v.State(), "chan receive") {
			return true
		}
	case "os/signal.signal_recv", "os/signal.loop":
		return true
	}
	return (v.Has("runtime.goexit") && strings.HasPrefix(v.State(), "syscall")) ||
		v.Has("runtime.ensureSigM") || v.Has("runtime.ReadTrace")
}

// Scope is the set of goroutines one test started: descendants of its
// goroutine that were not running when the scope began.
type Scope struct {
	Root   int64          // the test's goroutine
	Before map[int64]bool // goroutines running when the scope began
}

// Contains reports whether g descends from the root through goroutines
// started after the scope began. It follows "created by ... in goroutine
// N" through the goroutines alive (byID) and, at each of them, the
// "[originating from goroutine N]" blocks of GODEBUG=tracebackancestors,
// which name creators that have exited.
func (s *Scope) Contains(g *stack.Goroutine, byID map[int64]*stack.Goroutine) bool {
	if g.ID == s.Root || s.Before[g.ID] {
		return false
	}
	for cur, steps := g, 0; cur != nil && steps <= len(byID); steps++ {
		switch p := cur.ParentID; {
		case p == 0:
			return false
		case p == s.Root:
			return true
		case s.Before[p]:
			return false
		}
		for _, a := range cur.Ancestors {
			if a.ID == s.Root {
				return true
			}
			if s.Before[a.ID] {
				return false
			}
		}
		cur = byID[cur.ParentID]
	}
	return false
}
