package leaksentinel

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/proof"
	"github.com/leaksentinel/leaksentinel/internal/stack"
	"github.com/leaksentinel/leaksentinel/internal/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fakeT is a TestingT that records failures and cleanups instead of
// failing the test that uses it.
type fakeT struct {
	mu       sync.Mutex
	errors   []string
	cleanups []func()
	helper   bool
}

func (f *fakeT) Error(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprint(args...))
}

func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func (f *fakeT) Helper() { f.helper = true }

// end runs the cleanups, last registered first, as a test's end does.
func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

func (f *fakeT) failures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errors
}

// group is goroutines started by a test, which release stops and waits
// for.
type group struct {
	wg     sync.WaitGroup
	stop   chan struct{}
	once   sync.Once
	unlock []func() // called by release before waiting
}

func newGroup() *group { return &group{stop: make(chan struct{})} }

func (g *group) start(n int, f func(stop <-chan struct{})) {
	for range n {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			f(g.stop)
		}()
	}
}

func (g *group) release() {
	g.once.Do(func() {
		close(g.stop)
		for _, f := range g.unlock {
			f()
		}
	})
	g.wg.Wait()
}

// Named functions, so that options and reports can name them.

func blockRecv(stop <-chan struct{}) { <-stop }

func lockWait(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock() //lint:ignore SA2001 parking is the point
}

func startWorkers(g *group, n int) { g.start(n, blockRecv) }

// body is a test body run under goleak and under leaksentinel: it starts
// goroutines and returns what the checks must be given and how to stop
// them.
type body struct {
	name string
	// give starts the body's goroutines; the options it returns are
	// created after them.
	give func(g *group) ([]goleak.Option, []Option)
	want bool // the check fails
}

func bodies() []body {
	none := func(*group) ([]goleak.Option, []Option) { return nil, nil }
	return []body{
		{name: "no goroutines", give: none},
		{name: "goroutine that returns at once", give: func(g *group) ([]goleak.Option, []Option) {
			g.start(1, func(<-chan struct{}) {})
			return nil, nil
		}},
		{name: "goroutine that exits after 20ms", give: func(g *group) ([]goleak.Option, []Option) {
			g.start(1, func(<-chan struct{}) { <-time.After(20 * time.Millisecond) })
			return nil, nil
		}},
		{name: "leaked channel receive", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			g.start(1, blockRecv)
			return nil, nil
		}},
		{name: "leaked channel send", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			ch := make(chan int)
			g.start(1, func(stop <-chan struct{}) {
				select {
				case ch <- 1:
				case <-stop:
				}
			})
			return nil, nil
		}},
		{name: "ticker never stopped", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			tk := time.NewTicker(time.Millisecond)
			g.start(1, func(stop <-chan struct{}) {
				defer tk.Stop()
				for {
					select {
					case <-tk.C:
					case <-stop:
						return
					}
				}
			})
			return nil, nil
		}},
		{name: "mutex waiter", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			mu := lockedMutex(g)
			g.start(1, func(<-chan struct{}) { lockWait(mu) })
			return nil, nil
		}},
		{name: "500 goroutines at one site", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			startWorkers(g, 500)
			return nil, nil
		}},
		{name: "goroutine running before, IgnoreCurrent", give: func(g *group) ([]goleak.Option, []Option) {
			startWorkers(g, 1)
			waitRunning(g, 1)
			return []goleak.Option{goleak.IgnoreCurrent()}, []Option{IgnoreCurrent()}
		}},
		{name: "IgnoreTopFunction on a channel receive", give: func(g *group) ([]goleak.Option, []Option) {
			g.start(1, blockRecv)
			const f = "github.com/leaksentinel/leaksentinel.blockRecv"
			return []goleak.Option{goleak.IgnoreTopFunction(f)}, []Option{IgnoreTopFunction(f)}
		}},
		{name: "IgnoreTopFunction does not see through sync", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			mu := lockedMutex(g)
			g.start(1, func(<-chan struct{}) { lockWait(mu) })
			const f = "github.com/leaksentinel/leaksentinel.lockWait"
			return []goleak.Option{goleak.IgnoreTopFunction(f)}, []Option{IgnoreTopFunction(f)}
		}},
		{name: "IgnoreAnyFunction", give: func(g *group) ([]goleak.Option, []Option) {
			mu := lockedMutex(g)
			g.start(1, func(<-chan struct{}) { lockWait(mu) })
			const f = "github.com/leaksentinel/leaksentinel.lockWait"
			return []goleak.Option{goleak.IgnoreAnyFunction(f)}, []Option{IgnoreAnyFunction(f)}
		}},
		{name: "IgnoreAnyFunction of another function", want: true, give: func(g *group) ([]goleak.Option, []Option) {
			g.start(1, blockRecv)
			const f = "github.com/leaksentinel/leaksentinel.lockWait"
			return []goleak.Option{goleak.IgnoreAnyFunction(f)}, []Option{IgnoreAnyFunction(f)}
		}},
		{name: "goleak option passed through", give: func(g *group) ([]goleak.Option, []Option) {
			g.start(1, blockRecv)
			o := goleak.IgnoreTopFunction("github.com/leaksentinel/leaksentinel.blockRecv")
			return []goleak.Option{o}, []Option{GoleakOptions(o)}
		}},
	}
}

// lockedMutex returns a locked mutex that g's release unlocks.
func lockedMutex(g *group) *sync.Mutex {
	mu := new(sync.Mutex)
	mu.Lock()
	g.unlock = append(g.unlock, mu.Unlock)
	return mu
}

// waitRunning waits until n goroutines of g are parked in blockRecv.
func waitRunning(g *group, n int) {
	for {
		s, err := Capture()
		if err != nil {
			panic(err)
		}
		got := 0
		for _, grp := range s.Groups {
			if grp.Function == "github.com/leaksentinel/leaksentinel.blockRecv" {
				got += grp.Count
			}
		}
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestVerdictsMatchGoleak runs each body twice, once checked by goleak and
// once by leaksentinel, and wants the same verdict from both.
func TestVerdictsMatchGoleak(t *testing.T) {
	for _, tt := range bodies() {
		t.Run(tt.name, func(t *testing.T) {
			// Ignore what earlier tests may still be winding down.
			base := goleak.IgnoreCurrent()
			g := newGroup()
			gopts, _ := tt.give(g)
			gerr := goleak.Find(append(gopts, base)...)
			g.release()

			ours := IgnoreCurrent()
			g = newGroup()
			_, opts := tt.give(g)
			err := Find(append(opts, ours)...)
			g.release()

			assert.Equal(t, tt.want, gerr != nil, "goleak: %v", gerr)
			assert.Equal(t, tt.want, err != nil, "leaksentinel: %v", err)
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "leaksentinel: found "), err.Error())
			}
		})
	}
}

// TestReportSize: 500 goroutines leaked at one line make a short report;
// goleak prints every one of them.
func TestReportSize(t *testing.T) {
	base := IgnoreCurrent()
	gbase := goleak.IgnoreCurrent()
	g := newGroup()
	defer g.release()
	startWorkers(g, 500)

	err := Find(base)
	require.Error(t, err)
	gerr := goleak.Find(gbase)
	require.Error(t, gerr)

	lines := strings.Split(err.Error(), "\n")
	assert.LessOrEqual(t, len(lines), 15, err.Error())
	assert.Greater(t, strings.Count(gerr.Error(), "\n"), 500*4)
	t.Logf("500 goroutines at one site: leaksentinel %d lines, goleak %d lines", len(lines), strings.Count(gerr.Error(), "\n")+1)

	assert.Equal(t, "leaksentinel: found 500 leaked goroutines at 1 site", lines[0])
	assert.Regexp(t, `^  500 × \[chan receive\] github.com/leaksentinel/leaksentinel.blockRecv verify_test.go:\d+, `+
		`created by github.com/leaksentinel/leaksentinel.\(\*group\).start$`, lines[1])
	assert.Contains(t, err.Error(), "\n    github.com/leaksentinel/leaksentinel.blockRecv /")
	assert.Contains(t, err.Error(), "\n    created by github.com/leaksentinel/leaksentinel.(*group).start /")
}

func TestOptionsGoleakLacks(t *testing.T) {
	tests := []struct {
		name string
		give []Option
		want bool // a leak is reported
	}{
		{name: "none", want: true},
		{name: "IgnoreCreatedBy", give: []Option{IgnoreCreatedBy("github.com/leaksentinel/leaksentinel.(*group).start")}},
		{name: "IgnoreCreatedBy of another function", give: []Option{IgnoreCreatedBy("example.com/p.f")}, want: true},
		{name: "IgnoreSite through sync", give: []Option{IgnoreSite("github.com/leaksentinel/leaksentinel.lockWait")}},
		{name: "IgnoreSite of another function", give: []Option{IgnoreSite("github.com/leaksentinel/leaksentinel.blockRecv")}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := IgnoreCurrent()
			g := newGroup()
			defer g.release()
			mu := lockedMutex(g)
			g.start(3, func(<-chan struct{}) { lockWait(mu) })
			err := Find(append(tt.give, base)...)
			if !tt.want {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "3 × [sync.Mutex.Lock] github.com/leaksentinel/leaksentinel.lockWait verify_test.go:")
		})
	}
}

// pauses returns how many times the world has been stopped for reasons
// other than the GC: runtime.Stack(buf, true), which each attempt of a
// check calls once, is one.
func pauses() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// TestOptionsInsideRetries: a check whose goroutines left are all ignored
// passes at its first attempt, whichever option ignores them: one dump,
// not the 21 of goleak's retries (about half a second).
func TestOptionsInsideRetries(t *testing.T) {
	tests := []struct {
		name string
		give func() Option // made after the goroutines start
	}{
		{name: "IgnoreTopFunction", give: func() Option { return IgnoreTopFunction("github.com/leaksentinel/leaksentinel.blockRecv") }},
		{name: "IgnoreAnyFunction", give: func() Option { return IgnoreAnyFunction("github.com/leaksentinel/leaksentinel.blockRecv") }},
		{name: "IgnoreCreatedBy", give: func() Option { return IgnoreCreatedBy("github.com/leaksentinel/leaksentinel.(*group).start") }},
		{name: "IgnoreSite", give: func() Option { return IgnoreSite("github.com/leaksentinel/leaksentinel.blockRecv") }},
		{name: "IgnoreCurrent", give: IgnoreCurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := IgnoreCurrent()
			g := newGroup()
			defer g.release()
			startWorkers(g, 2)
			waitRunning(g, 2)
			opt := tt.give()
			before := pauses()
			require.NoError(t, Find(base, opt))
			// One stop for the one attempt; a second leaves room for one
			// the runtime takes on its own.
			assert.LessOrEqual(t, pauses()-before, uint64(2))
		})
	}
}

// deep parks a goroutine n frames down a recursion; past 100 frames its
// traceback elides the middle ones ("...50 frames elided...").
//
//go:noinline
func deep(n int, stop <-chan struct{}) {
	if n > 0 {
		deep(n-1, stop)
		return
	}
	<-stop
}

// TestDeepStack: a goroutine 150 frames deep is reported like any other;
// goleak v1.3.0's parser panics on its traceback.
func TestDeepStack(t *testing.T) {
	const want = "leaksentinel: found 1 leaked goroutine at 1 site\n" +
		"  1 × [chan receive] github.com/leaksentinel/leaksentinel.deep verify_test.go:"
	tests := []struct {
		name string
		give func(base Option) string // runs a check, returns its report
	}{
		{name: "Find", give: func(base Option) string { return fmt.Sprint(Find(base)) }},
		{name: "VerifyNone", give: func(base Option) string {
			var ft fakeT
			VerifyNone(&ft, base)
			return strings.Join(ft.failures(), "\n")
		}},
		{name: "VerifyTestMain", give: func(base Option) string {
			var out bytes.Buffer
			code := -1
			verifyTestMain(&tests{}, &out, func(c int) { code = c }, []Option{base})
			assert.Equal(t, 1, code)
			return out.String()
		}},
		{name: "VerifyTest", give: func(base Option) string {
			var ft fakeT
			VerifyTest(&ft, base)
			stop := make(chan struct{})
			defer close(stop)
			started := make(chan struct{})
			go func() {
				close(started)
				deep(150, stop)
			}()
			<-started
			waitDeep(t)
			ft.end()
			return strings.Join(ft.failures(), "\n")
		}},
		{name: "GoleakOptions", give: func(base Option) string {
			return fmt.Sprint(Find(base, GoleakOptions(goleak.IgnoreTopFunction("example.com/p.f"))))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := IgnoreCurrent()
			stop := make(chan struct{})
			defer close(stop)
			if tt.name != "VerifyTest" {
				go deep(150, stop)
				waitDeep(t)
			}
			got := tt.give(base)
			assert.True(t, strings.HasPrefix(got, want), got)
			assert.Regexp(t, `\n    \.\.\. \d+ more frames\n    created by `, got)
			if tt.name == "GoleakOptions" {
				assert.Contains(t, got, "\nleaksentinel: the options given with GoleakOptions were not applied: goleak.Find panicked: ")
			}
		})
	}
}

// waitDeep waits until a goroutine parked in deep prints an elided
// traceback.
func waitDeep(t *testing.T) {
	t.Helper()
	for {
		d := string(verify.Dump(nil))
		if strings.Contains(d, "leaksentinel.deep(") && strings.Contains(d, " frames elided...") {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFindCleanup(t *testing.T) {
	err := Find(Cleanup(func(int) {}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "leaksentinel: Find: Cleanup")
}

func TestVerifyNone(t *testing.T) {
	t.Run("leak", func(t *testing.T) {
		base := IgnoreCurrent()
		g := newGroup()
		defer g.release()
		startWorkers(g, 2)
		var ft fakeT
		var code []int
		VerifyNone(&ft, base, Cleanup(func(c int) { code = append(code, c) }))
		require.Len(t, ft.failures(), 1)
		assert.True(t, strings.HasPrefix(ft.failures()[0], "leaksentinel: found 2 leaked goroutines at 1 site\n"), ft.failures()[0])
		assert.True(t, ft.helper)
		assert.Equal(t, []int{0}, code)
	})
	t.Run("clean", func(t *testing.T) {
		base := IgnoreCurrent()
		var ft fakeT
		VerifyNone(&ft, base)
		assert.Empty(t, ft.failures())
	})
	t.Run("real t", func(t *testing.T) {
		defer VerifyNone(t, IgnoreCurrent())
		g := newGroup()
		defer g.release() // runs before VerifyNone
		startWorkers(g, 2)
	})
}

// tests is a TestingM whose Run starts goroutines and returns code.
type tests struct {
	code int
	leak int
	g    *group
}

func (m *tests) Run() int {
	startWorkers(m.g, m.leak)
	return m.code
}

func TestVerifyTestMain(t *testing.T) {
	onFailure := []Option{RunOnFailure()}
	cases := []struct {
		name     string
		give     tests
		opts     []Option
		want     int
		wantText string
	}{
		{name: "pass", give: tests{code: 0}, want: 0},
		{name: "leak", give: tests{code: 0, leak: 3}, want: 1, wantText: "leaksentinel: found 3 leaked goroutines at 1 site\n"},
		// Failed tests are not checked: their leaks are a symptom.
		{name: "fail and leak", give: tests{code: 2, leak: 3}, want: 2},
		{name: "RunOnFailure, fail and leak", give: tests{code: 2, leak: 3}, opts: onFailure, want: 2,
			wantText: "leaksentinel: found 3 leaked goroutines at 1 site\n"},
		{name: "RunOnFailure, fail", give: tests{code: 2}, opts: onFailure, want: 2},
		{name: "RunOnFailure, leak", give: tests{code: 0, leak: 3}, opts: onFailure, want: 1,
			wantText: "leaksentinel: found 3 leaked goroutines at 1 site\n"},
		{name: "RunOnFailure, pass", give: tests{code: 0}, opts: onFailure, want: 0},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			base := IgnoreCurrent()
			m := tt.give
			m.g = newGroup()
			defer m.g.release()
			var out bytes.Buffer
			var codes []int
			verifyTestMain(&m, &out, func(c int) { codes = append(codes, c) }, append(tt.opts, base))
			assert.Equal(t, []int{tt.want}, codes)
			if tt.wantText == "" {
				assert.Empty(t, out.String())
			} else {
				assert.True(t, strings.HasPrefix(out.String(), tt.wantText), out.String())
			}
		})
	}
	t.Run("Cleanup replaces os.Exit", func(t *testing.T) {
		base := IgnoreCurrent()
		m := tests{leak: 1, g: newGroup()}
		defer m.g.release()
		var codes, cleanups []int
		var out bytes.Buffer
		verifyTestMain(&m, &out, func(c int) { codes = append(codes, c) },
			[]Option{base, Cleanup(func(c int) { cleanups = append(cleanups, c) })})
		assert.Empty(t, codes)
		assert.Equal(t, []int{1}, cleanups)
	})
}

// childEnv selects what TestChild does in a child process.
const childEnv = "LEAKSENTINEL_TEST_CHILD"

// runChild runs this test binary again, running only TestChild in the
// given mode, and returns its output and exit code.
func runChild(t *testing.T, mode string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestChild is what the child processes of the tests below run; it does
// nothing in the package's own run.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs in the child processes of TestVerifyTestMainExits, TestProof and TestVerifyTestAncestors")
	}
	switch mode {
	case "testmain-leak", "testmain-pass":
		m := &tests{g: newGroup()}
		if mode == "testmain-leak" {
			m.leak = 2
		}
		VerifyTestMain(m) // exits
	case "proof":
		childProof()
		os.Exit(0) // the goroutines it proved leaked cannot be released
	case "ancestors":
		childAncestors(t)
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// TestVerifyTestMainExits runs VerifyTestMain for real, in a child
// process, and checks its exit code and standard error.
func TestVerifyTestMainExits(t *testing.T) {
	_, stderr, code := runChild(t, "testmain-leak")
	assert.Equal(t, 1, code, stderr)
	// Where the runtime can, it proves them deadlocked: nothing else
	// can reach the tests' channel once Run returned.
	assert.Contains(t, stderr, "leaksentinel: found 2 leaked goroutines at 1 site")
	assert.Contains(t, stderr, "× [chan receive] github.com/leaksentinel/leaksentinel.blockRecv verify_test.go:")

	stdout, stderr, code := runChild(t, "testmain-pass")
	assert.Equal(t, 0, code, stdout+stderr)
	assert.NotContains(t, stderr, "leaksentinel")
}

// childProof leaks goroutines on channels nobody else can reach, which
// the runtime can prove deadlocked, and on one still reachable, and
// prints the report.
func childProof() {
	for range 4 {
		go func() {
			ch := make(chan int)
			<-ch // site:unreachable
		}()
	}
	reachable := make(chan int)
	for range 2 {
		go func() { <-reachable }()
	}
	fmt.Println(Find())
	close(reachable)
}

func TestProof(t *testing.T) {
	stdout, stderr, code := runChild(t, "proof")
	require.Equal(t, 0, code, stderr)
	report := stdout[strings.Index(stdout, "leaksentinel: found"):]
	t.Log(report)
	lines := strings.Split(report, "\n")
	require.Greater(t, len(lines), 2)
	if pprof.Lookup("goroutineleak") == nil {
		assert.Equal(t, "leaksentinel: found 6 leaked goroutines at 2 sites", lines[0])
		assert.NotContains(t, report, "deadlocked")
		return
	}
	assert.Equal(t, "leaksentinel: found 6 leaked goroutines at 2 sites, 4 proven deadlocked", lines[0])
	assert.Regexp(t, `^  4 × \[chan receive\] github.com/leaksentinel/leaksentinel.childProof.func1 verify_test.go:\d+, created by github.com/leaksentinel/leaksentinel.childProof \(deadlocked: 4\)$`, lines[1])
	assert.Regexp(t, `^  2 × \[chan receive\] github.com/leaksentinel/leaksentinel.childProof.func2 verify_test.go:\d+, created by github.com/leaksentinel/leaksentinel.childProof$`, lines[2])
}

// lockers wait on a mutex, each at a line of its own in a function of its
// own: eight sites of one primitive.
var lockers = []func(*sync.Mutex){
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
	func(mu *sync.Mutex) { mu.Lock(); defer mu.Unlock() },
}

// TestProofGuard: 4,000 goroutines waiting on one mutex would make the
// leak-detection GC stop the world for about 100 ms, however many sites
// they wait at and whether or not the check ignores them: the report says
// the proof was skipped.
func TestProofGuard(t *testing.T) {
	if pprof.Lookup("goroutineleak") == nil {
		t.Skip("no goroutineleak profile in " + runtime.Version())
	}
	const perSite = 500 // under the 1,000 a site an earlier guard allowed
	tests := []struct {
		name string
		// ignored: the waiters are ignored, and another goroutine leaks.
		ignored bool
		want    string
	}{
		{name: "eight sites", want: "leaksentinel: found 4000 leaked goroutines at 8 sites"},
		{name: "ignored waiters", ignored: true, want: "leaksentinel: found 1 leaked goroutine at 1 site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := IgnoreCurrent()
			g := newGroup()
			defer g.release()
			mu := lockedMutex(g)
			for _, lock := range lockers {
				g.start(perSite, func(<-chan struct{}) { lock(mu) })
			}
			opts := []Option{base}
			if tt.ignored {
				opts = append(opts, IgnoreCreatedBy("github.com/leaksentinel/leaksentinel.(*group).start"))
				stop := make(chan struct{})
				defer close(stop)
				go func() { <-stop }()
			}
			err := Find(opts...)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want+"\n"), err.Error())
			assert.Regexp(t, `\n\nleaksentinel: no deadlock proof: \d+ goroutines, 4000 of them waiting on sync.Mutex, RWMutex, WaitGroup or semaphores: `+
				`the runtime's leak-detection GC could stop the world for \d+ms \(more than 50ms\)`, err.Error())
		})
	}
}

// TestVerifyTestConcurrent: two tests run at once, one leaking; each is
// checked by VerifyTest, from its own goroutine as parallel tests are. The
// two are goroutines, not tests calling t.Parallel, because they wait for
// each other, and at -parallel 1 (GOMAXPROCS=1's default) two parallel
// tests never run at once.
func TestVerifyTestConcurrent(t *testing.T) {
	var leaky, clean fakeT
	leaked := make(chan struct{})  // the leaky test's goroutines run
	checked := make(chan struct{}) // the clean test's check is done
	var wg sync.WaitGroup
	wg.Go(func() {
		VerifyTest(&leaky)
		g := newGroup()
		defer g.release()
		startWorkers(g, 2)
		waitRunning(g, 2)
		close(leaked)
		<-checked
		leaky.end()
	})
	wg.Go(func() {
		VerifyTest(&clean)
		<-leaked
		// Its own goroutines exit.
		g := newGroup()
		defer g.release()
		g.start(3, func(<-chan struct{}) {})
		// A check of the whole process sees the other test's goroutines.
		assert.Error(t, Find())
		clean.end()
		close(checked)
	})
	wg.Wait()
	require.Len(t, leaky.failures(), 1)
	assert.True(t, strings.HasPrefix(leaky.failures()[0], "leaksentinel: found 2 leaked goroutines at 1 site\n"), leaky.failures()[0])
	assert.True(t, leaky.helper)
	assert.Empty(t, clean.failures())
}

// TestVerifyTestReal uses VerifyTest on real parallel tests that pass.
func TestVerifyTestReal(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			VerifyTest(t)
			t.Parallel()
			g := newGroup()
			t.Cleanup(g.release) // runs before the check
			startWorkers(g, 5)
		})
	}
}

func TestVerifyTest(t *testing.T) {
	pool := newGroup() // a pool started before the tests
	defer pool.release()
	work := make(chan func())
	pool.start(1, func(stop <-chan struct{}) {
		for {
			select {
			case f := <-work:
				go f()
			case <-stop:
				return
			}
		}
	})
	early := newGroup()
	defer early.release()

	tests := []struct {
		name string
		// before runs before VerifyTest, give after it.
		before func()
		give   func(g *group)
		opts   []Option
		want   string // in the report; "" for none
	}{
		{name: "no goroutines", give: func(*group) {}},
		{name: "direct child", give: func(g *group) { startWorkers(g, 2) },
			want: "found 2 leaked goroutines at 1 site"},
		{name: "grandchild, parent alive", give: func(g *group) {
			g.start(1, func(stop <-chan struct{}) {
				inner := newGroup()
				startWorkers(inner, 3)
				<-stop
				inner.release()
			})
		}, want: "found 4 leaked goroutines at 2 sites"},
		// Without GODEBUG=tracebackancestors nothing links it to the test
		// once its parent returned: see TestVerifyTestAncestors.
		{name: "grandchild, parent exited", give: func(g *group) {
			done := make(chan struct{})
			go func() {
				startWorkers(g, 1)
				close(done)
			}()
			<-done
			waitRunning(g, 1)
		}},
		{name: "exits within the retry window", give: func(g *group) {
			g.start(2, func(<-chan struct{}) { <-time.After(20 * time.Millisecond) })
		}},
		{name: "started before VerifyTest", before: func() { startWorkers(early, 2) }, give: func(*group) {}},
		{name: "started by a pool running before", give: func(g *group) {
			done := make(chan struct{})
			g.wg.Add(1)
			work <- func() {
				defer g.wg.Done()
				close(done)
				<-g.stop
			}
			<-done
		}},
		{name: "IgnoreTopFunction", give: func(g *group) { startWorkers(g, 1) },
			opts: []Option{IgnoreTopFunction("github.com/leaksentinel/leaksentinel.blockRecv")}},
		{name: "IgnoreAnyFunction", give: func(g *group) { startWorkers(g, 1) },
			opts: []Option{IgnoreAnyFunction("github.com/leaksentinel/leaksentinel.blockRecv")}},
		{name: "IgnoreAnyFunction of another function", give: func(g *group) { startWorkers(g, 1) },
			opts: []Option{IgnoreAnyFunction("github.com/leaksentinel/leaksentinel.lockWait")},
			want: "found 1 leaked goroutine at 1 site"},
		{name: "IgnoreCreatedBy", give: func(g *group) { startWorkers(g, 1) },
			opts: []Option{IgnoreCreatedBy("github.com/leaksentinel/leaksentinel.(*group).start")}},
		{name: "IgnoreSite", give: func(g *group) {
			mu := lockedMutex(g)
			g.start(1, func(<-chan struct{}) { lockWait(mu) })
		}, opts: []Option{IgnoreSite("github.com/leaksentinel/leaksentinel.lockWait")}},
		{name: "IgnoreCurrent", before: func() { startWorkers(early, 1) }, give: func(*group) {},
			opts: []Option{IgnoreCurrent()}},
		{name: "signal.Notify", give: func(*group) {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGUSR2)
			signal.Stop(ch)
		}},
		{name: "goleak options", give: func(*group) {}, opts: []Option{GoleakOptions(goleak.IgnoreCurrent())},
			want: "leaksentinel: VerifyTest: goleak options cannot be applied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			var ft fakeT
			var code []int
			VerifyTest(&ft, append(tt.opts, Cleanup(func(c int) { code = append(code, c) }))...)
			g := newGroup()
			defer g.release()
			tt.give(g)
			ft.end()
			if tt.want == "" {
				assert.Empty(t, ft.failures())
				assert.Equal(t, []int{0}, code)
				return
			}
			require.Len(t, ft.failures(), 1)
			assert.Contains(t, ft.failures()[0], tt.want)
		})
	}
}

// childAncestors checks, in a process started with
// GODEBUG=tracebackancestors, that VerifyTest finds a grandchild whose
// parent has exited.
func childAncestors(t *testing.T) {
	var ft fakeT
	VerifyTest(&ft)
	g := newGroup()
	done := make(chan struct{})
	go func() {
		startWorkers(g, 1)
		close(done)
	}()
	<-done
	waitRunning(g, 1)
	ft.end()
	g.release()
	require.Len(t, ft.failures(), 1)
	assert.Contains(t, ft.failures()[0], "leaksentinel: found 1 leaked goroutine at 1 site\n")
	t.Log("found the grandchild")
}

func TestVerifyTestAncestors(t *testing.T) {
	stdout, stderr, code := runChild(t, "ancestors", "GODEBUG=tracebackancestors=5")
	assert.Equal(t, 0, code, stdout+stderr)
	assert.Contains(t, stdout, "found the grandchild")
}

// TestReportGolden renders reports of fixed snapshots; run with -update to
// rewrite them.
func TestReportGolden(t *testing.T) {
	type golden struct {
		name string
		give *Snapshot
		note string
	}
	tests := []golden{
		{name: "report", give: syntheticSnapshot()},
		{name: "report_guard", give: guardSnapshot(), note: "no deadlock proof: " + proof.Check(proof.Counts{
			Goroutines: 8000, ByState: map[string]int{string(StateMutexLock): 8000}}).Error()},
	}
	for _, dir := range versionDirs(t) {
		for _, file := range []string{"leak_demo.stack.txt.gz", "stack_leaked.txt"} {
			s, err := parseFile(t, filepath.Join(dir, file))
			require.NoError(t, err)
			name := strings.TrimSuffix(strings.TrimSuffix(file, ".gz"), ".txt")
			tests = append(tests, golden{name: name + "." + filepath.Base(dir), give: s})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := report(tt.give, tt.note) + "\n"
			path := filepath.Join("testdata", "golden", tt.name+".txt")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestReportGolden -update")
			assert.Equal(t, string(want), got)
		})
	}
}

// syntheticSnapshot has a site holding most goroutines, some proven
// deadlocked; a site below the standard library's plumbing with two
// creators and two stacks; and a deep stack.
func syntheticSnapshot() *Snapshot {
	f := func(fn, file string, line int) Frame { return Frame{Function: fn, File: file, Line: line} }
	worker := f("example.com/app.worker", "/src/app/worker.go", 12)
	start := f("example.com/app.Start", "/src/app/worker.go", 29)
	get := f("example.com/app.(*Cache).get", "/src/app/cache.go", 40)
	lock := []Frame{
		f("internal/sync.runtime_SemacquireMutex", "/go/src/runtime/sema.go", 95),
		f("internal/sync.(*Mutex).lockSlow", "/go/src/internal/sync/mutex.go", 149),
		f("internal/sync.(*Mutex).Lock", "/go/src/internal/sync/mutex.go", 70),
		f("sync.(*Mutex).Lock", "/go/src/sync/mutex.go", 46),
	}
	var deep []Frame
	deep = append(deep, f("example.com/app.walk", "/src/app/tree.go", 7))
	for i := range 8 {
		deep = append(deep, f("example.com/app.walk", "/src/app/tree.go", 9+i))
	}
	return &Snapshot{
		Total: 513,
		Groups: []Group{
			{
				Site:     Site{State: StateChanReceive, Function: worker.Function, File: worker.File, Line: worker.Line},
				Count:    500,
				Leaked:   480,
				Stacks:   []Stack{{Frames: []Frame{worker, f("example.com/app.Start.func1", "/src/app/worker.go", 30)}, CreatedBy: start, Count: 500}},
				Creators: []Creator{{Frame: start, Count: 500}},
			},
			{
				Site:  Site{State: StateMutexLock, Function: get.Function, File: get.File, Line: get.Line},
				Count: 12,
				Stacks: []Stack{
					{Frames: append(lock[:4:4], get, f("example.com/app.(*Server).handle", "/src/app/server.go", 88)), CreatedBy: f("example.com/app.(*Server).Serve", "/src/app/server.go", 61), Count: 9},
					{Frames: append(lock[:4:4], get, f("example.com/app.refresh", "/src/app/cache.go", 71)), CreatedBy: f("example.com/app.(*Cache).loop", "/src/app/cache.go", 66), Count: 3},
				},
				Creators: []Creator{
					{Frame: f("example.com/app.(*Server).Serve", "/src/app/server.go", 61), Count: 9},
					{Frame: f("example.com/app.(*Cache).loop", "/src/app/cache.go", 66), Count: 3},
				},
			},
			{
				Site:   Site{State: StateSelect, Function: "example.com/app.walk", File: "/src/app/tree.go", Line: 7},
				Count:  1,
				Stacks: []Stack{{Frames: deep, Count: 1}},
			},
		},
	}
}

// guardSnapshot is 8000 goroutines waiting on one mutex.
func guardSnapshot() *Snapshot {
	get := Frame{Function: "example.com/app.(*Cache).get", File: "/src/app/cache.go", Line: 40}
	lock := Frame{Function: "sync.(*Mutex).Lock", File: "/go/src/sync/mutex.go", Line: 46}
	by := Frame{Function: "example.com/app.(*Server).Serve", File: "/src/app/server.go", Line: 61}
	return &Snapshot{
		Total: 8000,
		Groups: []Group{{
			Site:     Site{State: StateMutexLock, Function: get.Function, File: get.File, Line: get.Line},
			Count:    8000,
			Stacks:   []Stack{{Frames: []Frame{lock, get}, CreatedBy: by, Count: 8000}},
			Creators: []Creator{{Frame: by, Count: 8000}},
		}},
	}
}

// TestReportFromGoleakText builds a report from a message as goleak
// writes it, through the path Find takes.
func TestReportFromGoleakText(t *testing.T) {
	msg := "found unexpected goroutines:\n" +
		"[Goroutine 9 in state chan receive, with example.com/p.f.func1 on top of the stack:\n" +
		"example.com/p.f.func1()\n\t/src/p/p.go:18 +0x19\n" +
		"created by example.com/p.f in goroutine 8\n\t/src/p/p.go:18 +0x56\n" +
		" Goroutine 10 in state chan receive, with example.com/p.f.func1 on top of the stack:\n" +
		"example.com/p.f.func1()\n\t/src/p/p.go:18 +0x19\n" +
		"created by example.com/p.f in goroutine 8\n\t/src/p/p.go:18 +0x56\n]"
	text, n := verify.FromGoleak(msg)
	require.Equal(t, 2, n)
	var st stack.Table
	gs, err := verify.Parse(text, &st)
	require.NoError(t, err)
	b := stack.NewBuilder(&st, classify.Text)
	for _, g := range gs {
		b.Add(g)
	}
	got := report(snapshot(b, time.Time{}), "")
	assert.Equal(t, `leaksentinel: found 2 leaked goroutines at 1 site
  2 × [chan receive] example.com/p.f.func1 p.go:18, created by example.com/p.f

[chan receive] example.com/p.f.func1:
    example.com/p.f.func1 /src/p/p.go:18
    created by example.com/p.f /src/p/p.go:18`, got)
}
