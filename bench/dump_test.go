package bench

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel"
)

// parkFunc is the function every parked goroutine blocks in, as tracebacks
// print it.
const parkFunc = "github.com/leaksentinel/leaksentinel/bench.park"

// realDump parks n goroutines 3 to 10 frames deep on four sites (three
// channel receives and a mutex), takes the text that
// /debug/pprof/goroutine?debug=2 serves, and releases them before it
// returns.
//
// The text is runtime.Stack(buf, true)'s, with a buffer grown until it
// holds every goroutine. pprof's own writer gives up at 64 MiB and
// truncates, which at 1 KB a goroutine is about 65k of them.
func realDump(tb testing.TB, n int) []byte {
	tb.Helper()
	var (
		wg     sync.WaitGroup
		chans  [3]chan struct{}
		mu     sync.Mutex
		parked = make(chan struct{}, n)
	)
	for i := range chans {
		chans[i] = make(chan struct{})
	}
	mu.Lock()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Depth and site vary independently: 32 distinct stacks.
			descend(1+(i/4)%8, i%4, &chans, &mu, parked)
		}()
	}
	// Deferred so that a failed wait (tb.Fatal) leaks nothing either.
	defer func() {
		for _, c := range chans {
			close(c)
		}
		mu.Unlock()
		wg.Wait()
	}()
	for range n {
		<-parked
	}
	waitParked(tb, n)

	buf := make([]byte, n*1024+1<<20)
	for {
		m := runtime.Stack(buf, true)
		if m < len(buf) {
			return buf[:m]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitParked polls Capture until n goroutines are blocked in park: a
// goroutine that signalled parked may not have reached its receive yet.
func waitParked(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := leaksentinel.Capture()
		require.NoError(tb, err)
		blocked := 0
		for _, g := range s.Groups {
			if g.Function == parkFunc && (g.State == leaksentinel.StateChanReceive || g.State == leaksentinel.StateMutexLock) {
				blocked += g.Count
			}
		}
		if blocked >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d goroutines parked after a minute", blocked, n)
		}
		runtime.Gosched()
	}
}

// descend is depth frames deep when it parks, so that the goroutine is
// depth+2 frames deep with the go statement's closure and park.
//
//go:noinline
func descend(depth, site int, chans *[3]chan struct{}, mu *sync.Mutex, parked chan<- struct{}) {
	if depth > 1 {
		descend(depth-1, site, chans, mu, parked)
		return
	}
	park(site, chans, mu, parked)
}

// park blocks on one of four sites, each on a line of its own.
//
//go:noinline
func park(site int, chans *[3]chan struct{}, mu *sync.Mutex, parked chan<- struct{}) {
	parked <- struct{}{}
	switch site {
	case 0:
		<-chans[0]
	case 1:
		<-chans[1]
	case 2:
		<-chans[2]
	default:
		mu.Lock()
		mu.Unlock()
	}
}

// TestRealDump checks the helper: every goroutine is in the dump, parked
// where it should be, and none is left behind (TestMain).
func TestRealDump(t *testing.T) {
	const n = 256 // a multiple of 32: every site and depth as often
	data := realDump(t, n)
	s, err := leaksentinel.ParseDump(bytes.NewReader(data))
	require.NoError(t, err)
	sites := make(map[leaksentinel.State]int)
	lines := make(map[int]bool)
	depths := make(map[int]int) // frames of this package -> goroutines
	for _, g := range s.Groups {
		if g.Function != parkFunc {
			continue
		}
		sites[g.State] += g.Count
		lines[g.Line] = true
		for _, st := range g.Stacks {
			depth := 0
			for _, f := range st.Frames {
				if strings.HasPrefix(f.Function, "github.com/leaksentinel/leaksentinel/bench.") {
					depth++
				}
			}
			depths[depth] += st.Count
		}
	}
	assert.Equal(t, map[leaksentinel.State]int{
		leaksentinel.StateChanReceive: 3 * n / 4,
		leaksentinel.StateMutexLock:   n / 4,
	}, sites)
	assert.Len(t, lines, 4, "one line per site")
	assert.Equal(t, map[int]int{3: n / 8, 4: n / 8, 5: n / 8, 6: n / 8, 7: n / 8, 8: n / 8, 9: n / 8, 10: n / 8}, depths)
}
