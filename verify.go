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
	"github.com/leaksentinel/leaksentinel/internal/proof"
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
// The checks apply the options themselves, at every attempt of their
// retries, to the goroutines they read: a check whose remaining goroutines
// are all ignored passes at once. The exception is [GoleakOptions], which
// only goleak can apply.
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
	filters []filter // every option's, applied at each attempt
	// goleak holds the options of ours that goleak also has, for the
	// checks given GoleakOptions; user holds those given with it.
	goleak, user []goleak.Option
	cleanup      func(int)
	onFailure    bool
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
	return both(goleak.IgnoreTopFunction(f), func(v verify.View) bool { return v.Top() == f })
}

// IgnoreAnyFunction ignores goroutines with the function f, fully
// qualified, anywhere in their stack ("created by" not included), as
// goleak's option of the same name.
func IgnoreAnyFunction(f string) Option {
	return both(goleak.IgnoreAnyFunction(f), func(v verify.View) bool { return v.Has(f) })
}

func both(g goleak.Option, f filter) Option {
	return optionFunc(func(c *config) {
		c.goleak = append(c.goleak, g)
		c.filters = append(c.filters, f)
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

// IgnoreCurrent ignores the goroutines running when it is called, as
// goleak's option of the same name. [VerifyTest] ignores them anyway.
func IgnoreCurrent() Option {
	ids := verify.IDs(verify.Dump(nil))
	return ours(func(v verify.View) bool { return ids[v.G.ID] })
}

func ours(f filter) Option {
	return optionFunc(func(c *config) { c.filters = append(c.filters, f) })
}

// Cleanup sets a function to call at the end of the check, as goleak's
// option of the same name: [VerifyNone] and [VerifyTest] pass it 0, and
// [VerifyTestMain] the exit code, instead of calling os.Exit (the function
// should call it). [Find] returns an error if given one.
func Cleanup(f func(exitCode int)) Option {
	return optionFunc(func(c *config) { c.cleanup = f })
}

// RunOnFailure makes [VerifyTestMain] check for leaks when the tests
// failed too, as goleak's option of the same name (not in a goleak release
// yet). Without it, only tests that passed are checked: a failing test
// often leaves goroutines behind because it stopped early, and their
// report would bury its failure. With it, the report follows the failures,
// and the exit code stays the tests'. The other checks run whatever the
// tests did, and ignore it.
func RunOnFailure() Option {
	return optionFunc(func(c *config) { c.onFailure = true })
}

// GoleakOptions passes goleak options through, for lists of them a project
// already has. Only goleak can apply them, so a check given any runs
// goleak.Find, with its retries, and applies the options goleak lacks
// ([IgnoreCreatedBy], [IgnoreSite], [IgnoreCurrent]) to the goroutines it
// reports after its last attempt: a check that passes only because of
// those waits out goleak's retries (about half a second) first. If goleak
// cannot read the goroutines (goleak v1.3.0 panics on a traceback with
// elided frames, which a goroutine 100 frames deep has), the check runs
// without them, and its report says so. [VerifyTest] cannot apply them, as
// it does not run goleak, and fails the test if given any. goleak.Cleanup
// is refused by goleak: use [Cleanup].
func GoleakOptions(opts ...goleak.Option) Option {
	return optionFunc(func(c *config) { c.user = append(c.user, opts...) })
}

// Find looks for goroutines other than the caller's, with the verdicts of
// goleak.Find (its retries, its default filters), and returns an error
// whose message is a report grouped by site. It retries for about half a
// second while goroutines remain, and ignores the goroutines of the
// testing package, os/signal and the tracer. See [VerifyNone] for the
// report.
func Find(opts ...Option) error {
	c := newConfig(opts)
	if c.cleanup != nil {
		return errors.New("leaksentinel: Find: Cleanup can only be passed to VerifyNone, VerifyTestMain or VerifyTest")
	}
	return c.find()
}

// VerifyNone marks t failed if goroutines other than the caller's are
// still running, with the verdicts of goleak.VerifyNone and a report
// grouped by blocking [Site]:
//
//	leaksentinel: found 500 leaked goroutines at 1 site
//	  500 × [chan receive] example.com/app.worker worker.go:12, created by example.com/app.Start
//
//	[chan receive] example.com/app.worker:
//	    example.com/app.worker /src/app/worker.go:12
//	    example.com/app.Start.func1 /src/app/worker.go:30
//	    created by example.com/app.Start /src/app/worker.go:29
//
// It reads the goroutines with runtime.Stack and its own parser, not
// goleak's, so any traceback the runtime prints is read (goleak v1.3.0
// panics on those of goroutines more than 100 frames deep).
//
// Where the runtime has the goroutineleak profile (Go 1.27, or Go 1.26
// built with GOEXPERIMENT=goroutineleakprofile), a failing check also
// runs the garbage collection that proves which goroutines can never wake,
// and the report marks them "deadlocked"; the others are still alive. The
// proof is skipped, and the report says so, when that collection would
// stop the world for more than 50 ms: when more than about 2,700
// goroutines of the process wait on sync.Mutex, RWMutex, WaitGroup or a
// semaphore, whatever the sites (its pause grows with the square of the
// waiters on one of them), when it has more than 50,000 goroutines, or a
// mix of both.
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
// function given to [Cleanup] instead. With [RunOnFailure] it checks
// after failed tests too. Use it as
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
	if code == 0 || c.onFailure {
		if err := c.find(); err != nil {
			fmt.Fprintln(w, err)
			if code == 0 {
				code = 1
			}
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
// applies goleak's default filters too, and fails the test if given
// [GoleakOptions].
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
	if len(c.user) > 0 {
		t.Error("leaksentinel: VerifyTest: goleak options cannot be applied to the goroutines of one test; use leaksentinel's Ignore options")
		return
	}
	scope := &verify.Scope{Root: verify.CurrentID(), Before: verify.IDs(verify.Dump(nil))}
	t.Cleanup(func() {
		if h, ok := t.(interface{ Helper() }); ok {
			h.Helper()
		}
		self := verify.CurrentID()
		err := c.search(func(v verify.View, byID map[int64]*stack.Goroutine) bool {
			return v.G.ID != self && scope.Contains(v.G, byID)
		})
		if err != nil {
			t.Error(err)
		}
		if c.cleanup != nil {
			c.cleanup(0)
		}
	})
}

// find looks for the goroutines other than the caller's.
func (c *config) find() error {
	self := verify.CurrentID()
	notSelf := func(v verify.View, _ map[int64]*stack.Goroutine) bool { return v.G.ID != self }
	if len(c.user) > 0 {
		return c.findGoleak(notSelf)
	}
	return c.search(notSelf)
}

// search reads the goroutines until none is left that in selects (given
// each goroutine and every goroutine by id) and no filter ignores,
// retrying as goleak.Find does, and returns the report of those left.
//
// goleak's parser was rejected for this: v1.3.0 panics on tracebacks it
// does not know (elided frames, in any goroutine of the process), and its
// filters run inside its retries while those of the options it lacks could
// only run after them. A goleak release that fixes the former would still
// leave every user with the version we pick, a pseudo-version until one is
// tagged; the parser under Capture reads every format the runtime prints.
func (c *config) search(in func(verify.View, map[int64]*stack.Goroutine) bool) error {
	var (
		t       stack.Table
		buf     []byte
		all, gs []*stack.Goroutine
		perr    error
	)
	clean := verify.Retry(func() bool {
		buf = verify.Dump(buf)
		t = stack.Table{}
		all, perr = verify.Parse(buf, &t)
		if perr != nil {
			return true
		}
		byID := make(map[int64]*stack.Goroutine, len(all))
		for _, g := range all {
			byID[g.ID] = g
		}
		gs = gs[:0]
		for _, g := range all {
			v := verify.View{T: &t, G: g}
			if in(v, byID) && !verify.Default(v) && !matchAny(c.filters, v) {
				gs = append(gs, g)
			}
		}
		return len(gs) == 0
	})
	if perr != nil {
		return fmt.Errorf("leaksentinel: reading runtime.Stack: %w", perr)
	}
	if clean {
		return nil
	}
	return leakError(&t, gs, census(&t, all), nil)
}

// findGoleak runs goleak.Find with the options given through GoleakOptions
// and those of ours goleak has, and returns the report of the goroutines it
// reports that our other options do not ignore.
//
// The report is built from goleak's own message, which quotes every
// goroutine it found at its last attempt: taking a dump of our own would
// see goroutines that exited or started since, and the verdict would no
// longer be goleak's.
func (c *config) findGoleak(in func(verify.View, map[int64]*stack.Goroutine) bool) error {
	gerr, failed := goleakFind(append(slices.Clip(c.goleak), c.user...))
	if failed != nil {
		err := c.search(in)
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w\nleaksentinel: the options given with GoleakOptions were not applied: %v", err, failed)
	}
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
	gs = slices.DeleteFunc(gs, func(g *stack.Goroutine) bool { return matchAny(c.filters, verify.View{T: &t, G: g}) })
	if len(gs) == 0 {
		return nil
	}
	// The guard counts the whole process, which goleak's message lacks.
	var lt stack.Table
	live, err := verify.Live(&lt)
	return leakError(&t, gs, census(&lt, live), err)
}

// goleakFind runs goleak.Find, and returns its panic, if it panics, as
// failed.
func goleakFind(opts []goleak.Option) (found, failed error) {
	defer func() {
		if r := recover(); r != nil {
			// The first line: goleak follows it with the whole dump.
			msg, _, _ := strings.Cut(fmt.Sprint(r), "\n")
			failed = fmt.Errorf("goleak.Find panicked: %s", msg)
		}
	}()
	return goleak.Find(opts...), nil
}

func matchAny(fs []filter, v verify.View) bool {
	for _, f := range fs {
		if f(v) {
			return true
		}
	}
	return false
}

// census counts the goroutines gs by state, for the proof's guard.
func census(t *stack.Table, gs []*stack.Goroutine) proof.Counts {
	c := proof.Counts{Goroutines: len(gs), ByState: make(map[string]int)}
	for _, g := range gs {
		c.ByState[t.String(g.State)]++
	}
	return c
}

// leakError groups the leaked goroutines gs, proves what it can (all
// counting the goroutines of the process, unless reading them failed with
// cerr), and returns the report as an error.
func leakError(t *stack.Table, gs []*stack.Goroutine, all proof.Counts, cerr error) error {
	note := prove(gs, all, cerr)
	b := stack.NewBuilder(t, classify.Text)
	for _, g := range gs {
		b.Add(g)
	}
	return errors.New(report(snapshot(b, time.Now()), note))
}

// prove runs the runtime's leak detection, where it exists, and marks the
// goroutines of gs it proved can never wake. all counts the goroutines of
// the process, whose waiters make the detection's cost; cerr is why they
// could not be counted. It returns why it did not, for the report, when
// the runtime has the profile but the proof was skipped.
func prove(gs []*stack.Goroutine, all proof.Counts, cerr error) (note string) {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return ""
	}
	if cerr != nil {
		return "no deadlock proof: counting the goroutines: " + cerr.Error()
	}
	if err := proof.Check(all); err != nil {
		return "no deadlock proof: " + err.Error()
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
	live, _ := verify.Live(&pt)
	leaked := make(map[int64]bool)
	for _, g := range live {
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
