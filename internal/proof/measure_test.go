package proof

import (
	"io"
	"math"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
)

// gcPauses is the runtime's histogram of stop-the-world pauses for GC.
const gcPauses = "/sched/pauses/total/gc:seconds"

// pauses returns the runtime's GC pause histogram now.
func pauses() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: gcPauses}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// longest returns the upper bound, in seconds, of the longest pause
// between the histograms before and after, and the sum of the upper bounds
// of all of them.
func longest(before, after *metrics.Float64Histogram) (maxSec, sumSec float64) {
	for i := range after.Counts {
		n := after.Counts[i] - before.Counts[i]
		if n == 0 {
			continue
		}
		up := after.Buckets[i+1]
		if math.IsInf(up, 1) {
			up = after.Buckets[i]
		}
		maxSec = max(maxSec, up)
		sumSec += float64(n) * up
	}
	return maxSec, sumSec
}

// lockAt parks on mu at one of 8 lines, as 8 call sites of one lock do.
//
//go:noinline
func lockAt(mu *sync.Mutex, line int) {
	switch line % 8 {
	case 0:
		mu.Lock()
	case 1:
		mu.Lock()
	case 2:
		mu.Lock()
	case 3:
		mu.Lock()
	case 4:
		mu.Lock()
	case 5:
		mu.Lock()
	case 6:
		mu.Lock()
	default:
		mu.Lock()
	}
	mu.Unlock()
}

// parkOnOneMutex starts n goroutines waiting on one locked mutex, from 8
// lines, and returns once the runtime counts them all waiting, with a
// function that releases them and waits for them to exit.
func parkOnOneMutex(tb testing.TB, n int) (release func()) {
	tb.Helper()
	waiting := parked()
	var mu sync.Mutex
	mu.Lock()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { lockAt(&mu, i) })
	}
	waitParked(tb, waiting+n)
	return func() {
		mu.Unlock()
		wg.Wait()
	}
}

// parked returns the number of goroutines the runtime counts waiting.
func parked() int {
	s := []metrics.Sample{{Name: "/sched/goroutines/waiting:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int(s[0].Value.Uint64())
}

// waitParked waits until the runtime counts at least n goroutines
// waiting.
func waitParked(tb testing.TB, n int) {
	tb.Helper()
	for parked() < n {
		runtime.Gosched()
	}
}

// probe runs the goroutineleak profile's leak-detection GC and returns the
// longest stop of the world it caused, and their sum, in seconds.
func probe(tb testing.TB) (maxSec, sumSec float64) {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		tb.Skip("no goroutineleak profile in " + runtime.Version())
	}
	before := pauses()
	if err := p.WriteTo(io.Discard, 0); err != nil {
		tb.Fatal(err)
	}
	return longest(before, pauses())
}
