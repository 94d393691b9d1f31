package leaksentinel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/stack"
	"github.com/leaksentinel/leaksentinel/internal/verify"
)

// TestingT is the part of testing.TB that [VerifyNone] uses; goleak's
// TestingT has the same method.
type TestingT interface {
	Error(args ...any)
}

// TestingM is the part of testing.M that [VerifyTestMain] uses.
type TestingM interface {
	Run() int
}

// Option configures [Find], [VerifyNone], [VerifyTestMain] and [VerifyTest].
//
// Options goleak has are handed to goleak, so that they act inside its
// retries. Those it lacks ([IgnoreCreatedBy], [IgnoreSite]) are applied to
// the goroutines goleak reports after its last retry, so a goroutine they
// ignore makes the check wait out goleak's retries (about half a second)
// before it passes. [VerifyTest] applies every option itself, in its own
// retries.
//
// Options do not change once made, and may be shared by tests running in
// parallel.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type filter func(verify.View) bool

type config struct {
	goleak []goleak.Option
	// scoped are the filters VerifyTest applies; after are those applied
	// to what goleak reports, for the options goleak lacks.
	scoped, after []filter
	opaque        bool // a goleak option VerifyTest cannot apply
	cleanup       func(int)
}

func newConfig(opts []Option) *config {
	c := new(config)
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	return c
}

// IgnoreTopFunction ignores goroutines whose stack starts with the function
// f, fully qualified ("example.com/pkg.(*T).run"), as goleak's option of the
// same name. A goroutine parked on a mutex or a socket starts in the
// standard library; see [IgnoreSite] for those.
func IgnoreTopFunction(f string) Option {
	g := goleak.IgnoreTopFunction(f)
	return optionFunc(func(c *config) {
		c.goleak = append(c.goleak, g)
		c.scoped = append(c.scoped, func(v verify.View) bool { return v.Top() == f })
	})
}

// IgnoreAnyFunction ignores goroutines with the function f, fully
// qualified, anywhere in their stack ("created by" not included), as
// goleak's option of the same name.
func IgnoreAnyFunction(f string) Option {
	g := goleak.IgnoreAnyFunction(f)
	return optionFunc(func(c *config) {
		c.goleak = append(c.goleak, g)
		c.scoped = append(c.scoped, func(v verify.View) bool { return v.Has(f) })
	})
}

// IgnoreCreatedBy ignores goroutines started by a go statement in the
// function f, fully qualified: the "created by" line of their traceback,
// as the reports show it. goleak has this option only after v1.3.0.
func IgnoreCreatedBy(f string) Option {
	return ours(func(v verify.View) bool { return v.CreatedBy() == f })
}

// IgnoreSite ignores goroutines whose [Site] is in the function f, fully
// qualified: the function each line of a report names, whatever the state
// or line. Unlike [IgnoreTopFunction] it sees through the standard
// library's plumbing: a goroutine waiting in sync.(*Mutex).Lock or reading
// a socket has its site in the function that called Lock or Read.
func IgnoreSite(f string) Option {
	return ours(func(v verify.View) bool { return v.Site() == f })
}

func ours(f filter) Option {
	return optionFunc(func(c *config) {
		c.scoped = append(c.scoped, f)
		c.after = append(c.after, f)
	})
}

// IgnoreCurrent ignores the goroutines running when it is called, as
// goleak's option of the same name. [VerifyTest] ignores them anyway.
func IgnoreCurrent() Option {
	g := goleak.IgnoreCurrent()
	return optionFunc(func(c *config) { c.goleak = append(c.goleak, g) })
}

// Cleanup sets a function to call at the end of the check, as goleak's
// option of the same name: [VerifyNone] and [VerifyTest] pass it 0, and
// [VerifyTestMain] the exit code, instead of calling os.Exit (the function
// should call it). [Find] returns an error if given one.
func Cleanup(f func(exitCode int)) Option {
	return optionFunc(func(c *config) { c.cleanup = f })
}

// GoleakOptions passes goleak options through, for lists of them a project
// already has. [VerifyTest] cannot apply them, as it does not run goleak,
// and fails the test if given any. goleak.Cleanup is refused by goleak:
// use [Cleanup].
func GoleakOptions(opts ...goleak.Option) Option {
	return optionFunc(func(c *config) {
		c.goleak = append(c.goleak, opts...)
		c.opaque = c.opaque || len(opts) > 0
	})
}

// Find looks for goroutines other than the caller's, as goleak.Find does,
// and returns an error whose message is a report grouped by site. It
// retries for about half a second while goroutines remain, and ignores the
// goroutines of the testing package, os/signal and the tracer. See
// [VerifyNone] for the report.
func Find(opts ...Option) error {
	c := newConfig(opts)
	if c.cleanup != nil {
		return errors.New("leaksentinel: Find: Cleanup can only be passed to VerifyNone, VerifyTestMain or VerifyTest")
	}
	return c.find()
}

// VerifyNone marks t failed if goroutines other than the caller's are
// still running, with the verdicts of goleak.VerifyNone (it runs
// goleak.Find underneath) and a report grouped by blocking [Site]:
//
//	leaksentinel: found 500 leaked goroutines at 1 site
//	  500 × [chan receive] example.com/app.worker worker.go:12, created by example.com/app.Start
//
//	[chan receive] example.com/app.worker:
//	    example.com/app.worker /src/app/worker.go:12
//	    example.com/app.Start.func1 /src/app/worker.go:30
//	    created by example.com/app.Start /src/app/worker.go:29
//
// Where the runtime has the goroutineleak profile (Go 1.27, or Go 1.26
// built with GOEXPERIMENT=goroutineleakprofile), a failing check also
// runs the garbage collection that proves which goroutines can never wake,
// and the report marks them "deadlocked"; the others are still alive. The
// proof is skipped, and the report says so, when more than 1000 goroutines
// wait at one sync.Mutex, RWMutex or WaitGroup site: that collection stops
// the world for a time that grows with the square of such waiters.
//
// Use it as defer VerifyNone(t). Like goleak's, it sees every goroutine of
// the process, so it cannot check a test that calls t.Parallel: use
// [VerifyTest] there.
func VerifyNone(t TestingT, opts ...Option) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	c := newConfig(opts)
	cleanup := c.cleanup
	if err := c.find(); err != nil {
		t.Error(err)
	}
	if cleanup != nil {
		cleanup(0)
	}
}

// VerifyTestMain runs the tests of m and, if they pass, fails them when
// goroutines are left running, writing the report of [VerifyNone] to
// standard error; then it calls os.Exit with the exit code, or the
// function given to [Cleanup] instead. Use it as
//
//	func TestMain(m *testing.M) {
//		leaksentinel.VerifyTestMain(m)
//	}
func VerifyTestMain(m TestingM, opts ...Option) {
	verifyTestMain(m, os.Stderr, os.Exit, opts)
}

func verifyTestMain(m TestingM, w io.Writer, exit func(int), opts []Option) {
	code := m.Run()
	c := newConfig(opts)
	if c.cleanup != nil {
		exit = c.cleanup
	}
	if code == 0 {
		if err := c.find(); err != nil {
			fmt.Fprintln(w, err)
			code = 1
		}
	}
	exit(code)
}

// VerifyTest checks, when the test t ends, that t left running none of the
// goroutines it started, and marks it failed with the report of
// [VerifyNone] if it did. It works in tests that call t.Parallel, since it
// counts only the goroutines descending from the goroutine that called it:
// those whose traceback says "created by ... in goroutine N" with N that
// goroutine or, through goroutines still running, one of its descendants.
// Call it first in the test:
//
//	func TestHandler(t *testing.T) {
//		leaksentinel.VerifyTest(t)
//		t.Parallel()
//		...
//	}
//
// The check runs in t.Cleanup, so after the test and its subtests end and
// after the cleanups registered later; it retries as [VerifyNone] does, so
// a goroutine that exits within about half a second is not reported. It
// applies the options itself, goleak's default filters included, and fails
// the test if given [GoleakOptions].
//
// Its limits:
//   - A goroutine whose creator exited before the check cannot be traced to
//     the test (a grandchild started by a goroutine that has returned), so
//     it is missed, unless the tests run with GODEBUG=tracebackancestors=N
//     (N at least the depth of the chain; the runtime reads it at start-up
//     only, and it makes every go statement record its creator's stack).
//   - Goroutines started on the test's behalf by a goroutine that was
//     running before VerifyTest (a worker pool, a server started by
//     TestMain or an earlier helper) belong to that goroutine, not to the
//     test, and are not counted; nor are the goroutines running when
//     VerifyTest was called.
//   - Cleanups registered before VerifyTest run after the check.
func VerifyTest(t interface {
	Error(args ...any)
	Cleanup(func())
}, opts ...Option) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	c := newConfig(opts)
	if c.opaque {
		t.Error("leaksentinel: VerifyTest: goleak options cannot be applied to the goroutines of one test; use leaksentinel's Ignore options")
		return
	}
	scope := &verify.Scope{Root: verify.CurrentID(), Before: verify.IDs(verify.Dump(nil))}
	t.Cleanup(func() {
		if h, ok := t.(interface{ Helper() }); ok {
			h.Helper()
		}
		if err := c.findScoped(scope); err != nil {
			t.Error(err)
		}
		if c.cleanup != nil {
			c.cleanup(0)
		}
	})
}

// find runs goleak.Find and, if it reports goroutines, returns the report
// of those the options goleak lacks do not ignore.
//
// The report is built from goleak's own message, which quotes every
// goroutine it found at its last attempt: taking a dump of our own would
// see goroutines that exited or started since, and the verdict would no
// longer be goleak's.
func (c *config) find() error {
	gerr := goleak.Find(c.goleak...)
	if gerr == nil {
		return nil
	}
	text, n := verify.FromGoleak(gerr.Error())
	var t stack.Table
	gs, err := verify.Parse(text, &t)
	if n == 0 || err != nil || len(gs) != n {
		// Not the form goleak v1.3.0 writes: its words, ungrouped.
		return fmt.Errorf("leaksentinel: %w", gerr)
	}
	gs = keep(&t, gs, func(v verify.View) bool { return !matchAny(c.after, v) })
	if len(gs) == 0 {
		return nil
	}
	return leakError(&t, gs)
}

// findScoped retries until no goroutine of the scope is left, and returns
// the report of those that are.
func (c *config) findScoped(scope *verify.Scope) error {
	self := verify.CurrentID()
	var (
		t    stack.Table
		buf  []byte
		gs   []*stack.Goroutine
		perr error
	)
	clean := verify.Retry(func() bool {
		buf = verify.Dump(buf)
		t = stack.Table{}
		var all []*stack.Goroutine
		all, perr = verify.Parse(buf, &t)
		if perr != nil {
			return true
		}
		byID := make(map[int64]*stack.Goroutine, len(all))
		for _, g := range all {
			byID[g.ID] = g
		}
		gs = keep(&t, all, func(v verify.View) bool {
			return v.G.ID != self && scope.Contains(v.G, byID) && !verify.Default(v) && !matchAny(c.scoped, v)
		})
		return len(gs) == 0
	})
	if perr != nil {
		return fmt.Errorf("leaksentinel: VerifyTest: reading runtime.Stack: %w", perr)
	}
	if clean {
		return nil
	}
	return leakError(&t, gs)
}

func keep(t *stack.Table, gs []*stack.Goroutine, ok func(verify.View) bool) []*stack.Goroutine {
	return slices.DeleteFunc(gs, func(g *stack.Goroutine) bool { return !ok(verify.View{T: t, G: g}) })
}

func matchAny(fs []filter, v verify.View) bool {
	for _, f := range fs {
		if f(v) {
			return true
		}
	}
	return false
}

// leakError groups the leaked goroutines gs, proves what it can, and
// returns the report as an error.
func leakError(t *stack.Table, gs []*stack.Goroutine) error {
	note := prove(t, gs)
	b := stack.NewBuilder(t, classify.Text)
	for _, g := range gs {
		b.Add(g)
	}
	return errors.New(report(snapshot(b, time.Now()), note))
}

// maxProofWaiters is the most goroutines at one sync site for which the
// leak-detection GC runs. Its stop-the-world walks every semaphore queue
// once per waiter: 1k waiters on one mutex cost about 10 ms, 8.3k about
// 1.8 s (shared/research/capture-costs.md).
const maxProofWaiters = 1000

// prove runs the runtime's leak detection, where it exists, and marks the
// goroutines of gs it proved can never wake. It returns why it did not, for
// the report, when the runtime has the profile but the proof was skipped.
func prove(t *stack.Table, gs []*stack.Goroutine) (note string) {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return ""
	}
	waiters := make(map[[2]string]int) // by state and site function
	for _, g := range gs {
		v := verify.View{T: t, G: g}
		switch v.State() {
		case classify.MutexLock, classify.RWMutexLock, classify.RWMutexRLock, classify.WaitGroupWait, classify.Semacquire:
			site := [2]string{v.State(), v.Site()}
			waiters[site]++
			if waiters[site] > maxProofWaiters {
				return fmt.Sprintf("no deadlock proof: more than %d goroutines wait at one sync site ([%s] %s), "+
					"and the runtime's leak-detection GC would stop the world for a time that grows with the square of that number",
					maxProofWaiters, site[0], site[1])
			}
		}
	}
	// The profile runs the leak-detection GC; Count only reads what the
	// last one found, so it comes after.
	if err := p.WriteTo(io.Discard, 0); err != nil {
		return "no deadlock proof: goroutineleak profile: " + err.Error()
	}
	if p.Count() == 0 {
		return ""
	}
	// Proven goroutines print "(leaked)" in their header from now on.
	var pt stack.Table
	all, _ := verify.Parse(verify.Dump(nil), &pt)
	leaked := make(map[int64]bool)
	for _, g := range all {
		if g.Leaked {
			leaked[g.ID] = true
		}
	}
	for _, g := range gs {
		g.Leaked = leaked[g.ID]
	}
	return ""
}

// reportFrames is how many frames of a site's representative stack a
// report shows, from the site down.
const reportFrames = 5

// report writes the leaked goroutines of s, grouped by site, and a note
// at the end if not empty.
func report(s *Snapshot, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "leaksentinel: found %s at %s", plural(s.Total, "leaked goroutine"), plural(len(s.Groups), "site"))
	dead := 0
	for _, g := range s.Groups {
		dead += g.Leaked
	}
	if dead > 0 {
		fmt.Fprintf(&b, ", %d proven deadlocked", dead)
	}
	b.WriteByte('\n')
	width := 0
	for _, g := range s.Groups {
		width = max(width, len(strconv.Itoa(g.Count)))
	}
	for _, g := range s.Groups {
		fmt.Fprintf(&b, "  %*d × [%s] %s", width, g.Count, g.State, g.Function)
		if g.File != "" {
			fmt.Fprintf(&b, " %s:%d", path.Base(g.File), g.Line)
		}
		if len(g.Creators) > 0 {
			fmt.Fprintf(&b, ", created by %s", g.Creators[0].Function)
			if n := len(g.Creators) - 1; n > 0 {
				fmt.Fprintf(&b, " and %s", plural(n, "other"))
			}
		}
		if g.Leaked > 0 {
			fmt.Fprintf(&b, " (deadlocked: %d)", g.Leaked)
		}
		b.WriteByte('\n')
	}
	for _, g := range s.Groups {
		writeStack(&b, g)
	}
	if note != "" {
		fmt.Fprintf(&b, "\nleaksentinel: %s\n", note)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// writeStack writes the most common stack of g: the frames in the runtime
// and the standard library above the site summed up in a line, the site
// and a few frames below it, and the "created by" frame.
func writeStack(b *strings.Builder, g Group) {
	if len(g.Stacks) == 0 {
		return
	}
	st := g.Stacks[0]
	fmt.Fprintf(b, "\n[%s] %s", g.State, g.Function)
	if n := len(g.Stacks); n > 1 {
		fmt.Fprintf(b, ", the most common of %d stacks", n)
	}
	b.WriteString(":\n")
	frames := st.Frames
	if i := slices.Index(frames, g.Site.Frame()); i > 0 {
		pkgs := make([]string, 0, i)
		for _, f := range frames[:i] {
			if p := classify.Package(f.Function); !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
		fmt.Fprintf(b, "    ... %s in %s\n", plural(i, "frame"), strings.Join(pkgs, ", "))
		frames = frames[i:]
	}
	for _, f := range frames[:min(len(frames), reportFrames)] {
		fmt.Fprintf(b, "    %s\n", f)
	}
	if n := len(frames) - reportFrames; n > 0 {
		fmt.Fprintf(b, "    ... %s\n", plural(n, "more frame"))
	}
	if st.CreatedBy != (Frame{}) {
		fmt.Fprintf(b, "    created by %s\n", st.CreatedBy)
	}
}

// plural returns "1 site", "2 sites".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
