package capture

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

//go:noinline
func parkInlined(ch chan int) { inlinedRecv(ch) }

func inlinedRecv(ch chan int) { <-ch } // inlined into parkInlined

// Symbolising each PC on its own, innermost frame only, gives exactly what
// runtime.CallersFrames gives for the whole stack, inlined frames included:
// the cache relies on it.
func TestPerPCSymbolsMatchCallersFrames(t *testing.T) {
	ch := make(chan int)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); parkInlined(ch) }()
	}
	defer func() { close(ch); wg.Wait() }()
	records := make([]runtime.StackRecord, 64)
	var n int
	for parked := 0; parked < 5; runtime.Gosched() {
		var ok bool
		n, ok = runtime.GoroutineProfile(records)
		require.True(t, ok)
		parked = 0
		for _, r := range records[:n] {
			frames := runtime.CallersFrames(r.Stack())
			for {
				f, more := frames.Next()
				if f.Function == "github.com/leaksentinel/leaksentinel/internal/capture.inlinedRecv" {
					parked++
				}
				if !more {
					break
				}
			}
		}
	}
	Symbols.Lock()
	defer Symbols.Unlock()
	sawInlined := false
	for _, r := range records[:n] {
		frames := runtime.CallersFrames(r.Stack())
		var want []string
		for {
			f, more := frames.Next()
			want = append(want, f.Function)
			if f.Function == "github.com/leaksentinel/leaksentinel/internal/capture.inlinedRecv" {
				sawInlined = true
			}
			if !more {
				break
			}
		}
		var got []string
		for _, pc := range r.Stack() {
			got = append(got, Symbols.table.String(Symbols.frame(pc).Func))
		}
		assert.Equal(t, want, got)
	}
	assert.True(t, sawInlined, "no inlined frame was exercised")
}

func TestCaptureGroups(t *testing.T) {
	ch := make(chan int)
	var wg sync.WaitGroup
	for range 7 {
		wg.Add(1)
		go func() { defer wg.Done(); parkInlined(ch) }()
	}
	defer func() { close(ch); wg.Wait() }()

	var c Capturer
	for {
		Symbols.Lock()
		b := stack.NewBuilder(Symbols.Table(), classify.Frames)
		require.NoError(t, c.Capture(b))
		groups := b.Finish()
		found := 0
		for _, g := range groups {
			if Symbols.table.String(g.Site.Frame.Func) == "github.com/leaksentinel/leaksentinel/internal/capture.inlinedRecv" &&
				Symbols.table.String(g.Site.State) == classify.ChanReceive {
				found = g.Count
			}
		}
		Symbols.Unlock()
		if found == 7 {
			return
		}
		runtime.Gosched()
	}
}
