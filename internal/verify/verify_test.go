package verify

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/stack"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// goroutine is what the tests check of a parsed goroutine.
type goroutine struct {
	ID, Parent int64
	State      string
	Top        string
	CreatedBy  string
	Leaked     bool
}

func summarize(t *stack.Table, gs []*stack.Goroutine) []goroutine {
	out := make([]goroutine, 0, len(gs))
	for _, g := range gs {
		v := View{T: t, G: g}
		out = append(out, goroutine{ID: g.ID, Parent: g.ParentID, State: v.State(), Top: v.Top(), CreatedBy: v.CreatedBy(), Leaked: g.Leaked})
	}
	return out
}

func TestFromGoleak(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []goroutine
	}{
		{
			name: "two goroutines",
			give: "found unexpected goroutines:\n" +
				"[Goroutine 9 in state chan receive, with example.com/p.f.func1 on top of the stack:\n" +
				"example.com/p.f.func1()\n\t/src/p/p.go:18 +0x19\n" +
				"created by example.com/p.f in goroutine 8\n\t/src/p/p.go:18 +0x56\n" +
				" Goroutine 10 in state sync.Mutex.Lock, with internal/sync.runtime_SemacquireMutex on top of the stack:\n" +
				"internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)\n\t/go/src/runtime/sema.go:95 +0x25\n" +
				"sync.(*Mutex).Lock(...)\n\t/go/src/sync/mutex.go:46\n" +
				"example.com/p.g()\n\t/src/p/p.go:20 +0x2d\n" +
				"created by example.com/p.f in goroutine 8\n\t/src/p/p.go:20 +0x11e\n]",
			want: []goroutine{
				{ID: 9, Parent: 8, State: "chan receive", Top: "example.com/p.f.func1", CreatedBy: "example.com/p.f"},
				{ID: 10, Parent: 8, State: "sync.Mutex.Lock", Top: "internal/sync.runtime_SemacquireMutex", CreatedBy: "example.com/p.f"},
			},
		},
		{
			// Go 1.27 prints labels after the bracket; goleak keeps
			// them in the state.
			name: "labels and minutes",
			give: "found unexpected goroutines:\n" +
				"[Goroutine 22 in state chan receive, 3 minutes] {k: v, with example.com/p.f.func1 on top of the stack:\n" +
				"example.com/p.f.func1()\n\t/src/p/p.go:18 +0x19\n" +
				"created by example.com/p.f in goroutine 21\n\t/src/p/p.go:18 +0x5f\n]",
			want: []goroutine{{ID: 22, Parent: 21, State: "chan receive", Top: "example.com/p.f.func1", CreatedBy: "example.com/p.f"}},
		},
		{
			name: "proven leaked, no creator",
			give: "found unexpected goroutines:\n" +
				"[Goroutine 1 in state select (leaked), with main.main on top of the stack:\n" +
				"main.main()\n\t/src/main.go:5 +0x19\n\n]",
			want: []goroutine{{ID: 1, State: "select", Top: "main.main", Leaked: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, n := FromGoleak(tt.give)
			require.Equal(t, len(tt.want), n)
			var st stack.Table
			gs, err := Parse(text, &st)
			require.NoError(t, err, "%s", text)
			assert.Equal(t, tt.want, summarize(&st, gs))
		})
	}
}

func TestFromGoleakOtherText(t *testing.T) {
	for _, give := range []string{"", "Cleanup can only be passed to VerifyNone or VerifyTestMain", "found unexpected goroutines:\n[]"} {
		text, n := FromGoleak(give)
		assert.Zero(t, n, give)
		assert.Empty(t, text, give)
	}
}

// TestFromGoleakLive reads what goleak v1.3.0 really writes.
func TestFromGoleakLive(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { <-stop })
	}
	err := goleak.Find(ignore)
	close(stop)
	wg.Wait()
	require.Error(t, err)

	text, n := FromGoleak(err.Error())
	require.Equal(t, 3, n)
	var st stack.Table
	gs, perr := Parse(text, &st)
	require.NoError(t, perr)
	require.Len(t, gs, 3)
	self := CurrentID()
	for _, g := range summarize(&st, gs) {
		assert.Equal(t, "chan receive", g.State)
		assert.Equal(t, self, g.Parent)
		assert.Equal(t, "sync.(*WaitGroup).Go", g.CreatedBy)
	}
}

func TestCurrentID(t *testing.T) {
	id := CurrentID()
	require.Positive(t, id)
	ids := IDs(Dump(nil))
	assert.True(t, ids[id])

	other := make(chan int64)
	go func() { other <- CurrentID() }()
	assert.NotEqual(t, id, <-other)
}

func TestDumpGrows(t *testing.T) {
	buf := make([]byte, 10)
	text := Dump(buf)
	assert.True(t, bytes.HasPrefix(text, []byte("goroutine ")))
	assert.Greater(t, len(text), 10)
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		give      int // the attempt that finds nothing; 0 never
		wantCalls int
		want      bool
	}{
		{name: "clean at once", give: 1, wantCalls: 1, want: true},
		{name: "clean at the third attempt", give: 3, wantCalls: 3, want: true},
		{name: "never clean", give: 0, wantCalls: maxRetries + 1, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got := Retry(func() bool {
				calls++
				return calls == tt.give
			})
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantCalls, calls)
		})
	}
}

func TestDefault(t *testing.T) {
	// Headers and frames as runtime.Stack prints them.
	tests := []struct {
		name string
		give string
		want bool
	}{
		{
			name: "parent test waiting for a subtest",
			give: "goroutine 7 [chan receive]:\ntesting.(*T).Run(0xc0, {0x5, 0x3}, 0x6)\n\t/go/src/testing/testing.go:1859 +0x431\n",
			want: true,
		},
		{
			name: "parallel subtest waiting to start",
			give: "goroutine 8 [chan receive]:\ntesting.(*T).Parallel(0xc0)\n\t/go/src/testing/testing.go:1577 +0x225\n",
			want: true,
		},
		{
			name: "signal loop",
			give: "goroutine 9 [syscall]:\nos/signal.signal_recv()\n\t/go/src/runtime/sigqueue.go:152 +0x29\nos/signal.loop()\n\t/go/src/os/signal/signal_unix.go:23 +0x13\n",
			want: true,
		},
		{
			name: "tracer",
			give: "goroutine 10 [chan receive]:\nruntime.ReadTrace()\n\t/go/src/runtime/trace.go:1 +0x1\nruntime/trace.Start.func1()\n\t/go/src/runtime/trace/trace.go:2 +0x1\n",
			want: true,
		},
		{
			name: "a test's own goroutine",
			give: "goroutine 11 [chan receive]:\nexample.com/p.f()\n\t/src/p.go:3 +0x1\n",
			want: false,
		},
		{
			name: "testing.(*T).Run not waiting",
			give: "goroutine 12 [runnable]:\ntesting.(*T).Run(0xc0, {0x5, 0x3}, 0x6)\n\t/go/src/testing/testing.go:1859 +0x431\n",
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st stack.Table
			gs, err := Parse([]byte(tt.give+"\n"), &st)
			require.NoError(t, err)
			require.Len(t, gs, 1)
			assert.Equal(t, tt.want, Default(View{T: &st, G: gs[0]}))
		})
	}
}

func TestSite(t *testing.T) {
	text := "goroutine 10 [sync.Mutex.Lock]:\n" +
		"internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)\n\t/go/src/runtime/sema.go:95 +0x25\n" +
		"sync.(*Mutex).Lock(...)\n\t/go/src/sync/mutex.go:46\n" +
		"example.com/p.g()\n\t/src/p/p.go:20 +0x2d\n" +
		"created by example.com/p.f in goroutine 8\n\t/src/p/p.go:20 +0x11e\n"
	var st stack.Table
	gs, err := Parse([]byte(text), &st)
	require.NoError(t, err)
	v := View{T: &st, G: gs[0]}
	assert.Equal(t, "example.com/p.g", v.Site())
	assert.Equal(t, "internal/sync.runtime_SemacquireMutex", v.Top())
	assert.True(t, v.Has("sync.(*Mutex).Lock"))
	assert.False(t, v.Has("example.com/p.f"), "created by is not in the stack")
	assert.Equal(t, "example.com/p.f", v.CreatedBy())
}

func TestScopeContains(t *testing.T) {
	// A tree: 1 runs the test (root 10); 5 was running before the scope
	// began. Goroutines 11..19 are alive, 30..39 have exited.
	g := func(id, parent int64, ancestors ...int64) *stack.Goroutine {
		out := &stack.Goroutine{ID: id, ParentID: parent}
		for _, a := range ancestors {
			out.Ancestors = append(out.Ancestors, stack.Ancestor{ID: a})
		}
		return out
	}
	alive := []*stack.Goroutine{
		g(1, 0), g(5, 1), g(10, 1),
		g(11, 10),            // child
		g(12, 11),            // grandchild, parent alive
		g(13, 30),            // grandchild, parent exited, no ancestors
		g(14, 31, 31, 10),    // grandchild, parent exited, ancestors
		g(15, 5),             // started by a goroutine running before
		g(16, 32, 32, 5, 10), // through a pre-existing goroutine, parent exited
		g(17, 12),            // great-grandchild through living goroutines
		g(18, 33, 33, 34),    // ancestors cut short: 34 is not the root
		g(19, 0),             // no creator known
	}
	byID := make(map[int64]*stack.Goroutine)
	for _, x := range alive {
		byID[x.ID] = x
	}
	s := &Scope{Root: 10, Before: map[int64]bool{1: true, 5: true, 10: true}}
	tests := []struct {
		give int64
		want bool
	}{
		{give: 1}, {give: 5}, {give: 10},
		{give: 11, want: true},
		{give: 12, want: true},
		{give: 13},
		{give: 14, want: true},
		{give: 15},
		{give: 16},
		{give: 17, want: true},
		{give: 18},
		{give: 19},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, s.Contains(byID[tt.give], byID), "goroutine %d", tt.give)
	}
}

func TestParseEmpty(t *testing.T) {
	var st stack.Table
	gs, err := Parse(nil, &st)
	assert.NoError(t, err)
	assert.Empty(t, gs)
	_, err = Parse([]byte("not a dump\n"), &st)
	assert.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "no goroutines"))
}
