package proof

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"

	"github.com/leaksentinel/leaksentinel/internal/classify"
)

// BenchmarkProofWorstCase asks the goroutineleak profile over the worst
// cases Check lets through, and reports the longest stop of the world of
// each (max-pause-ms), to hold against Budget:
//   - one-mutex: as many goroutines waiting on one mutex, from 8 lines,
//     as Check allows;
//   - goroutines: as many goroutines as it allows, on one channel;
//   - mixed: half the budget for each.
func BenchmarkProofWorstCase(b *testing.B) {
	base := runtime.NumGoroutine()
	counts := func(goroutines, waiters int) Counts {
		return Counts{Goroutines: base + goroutines + waiters, ByState: map[string]int{classify.MutexLock: waiters}}
	}
	waiters := largest(func(n int) bool { return Check(counts(0, n)) == nil })
	goroutines := largest(func(n int) bool { return Check(counts(n, 0)) == nil })
	halfW := largest(func(n int) bool { return 2*Pause(counts(0, n)) <= Budget })
	halfG := largest(func(n int) bool { return Check(counts(n, halfW)) == nil })
	for _, bc := range []struct {
		name                string
		goroutines, waiters int
	}{
		{"one-mutex", 0, waiters},
		{"goroutines", goroutines, 0},
		{"mixed", halfG, halfW},
	} {
		b.Run(fmt.Sprintf("%s/goroutines=%d/waiters=%d", bc.name, bc.goroutines, bc.waiters), func(b *testing.B) {
			require(b, Check(counts(bc.goroutines, bc.waiters)) == nil, "Check refuses its own worst case")
			defer parkOnOneChannel(b, bc.goroutines)()
			defer parkOnOneMutex(b, bc.waiters)()
			benchProbe(b)
		})
	}
}

// BenchmarkProofCurve is the measured cost behind the model: the
// goroutineleak profile's longest stop of the world over goroutines
// waiting on one mutex (from 8 lines), on one channel, on one sync.Cond,
// and on a mutex each.
func BenchmarkProofCurve(b *testing.B) {
	for _, n := range []int{0, 500, 1000, 2000, 3000, 4000, 8000} {
		b.Run(fmt.Sprintf("mutex/waiters=%d", n), func(b *testing.B) {
			defer parkOnOneMutex(b, n)()
			benchProbe(b)
		})
	}
	for _, n := range []int{8000, 50_000, 100_000} {
		b.Run(fmt.Sprintf("chan/waiters=%d", n), func(b *testing.B) {
			defer parkOnOneChannel(b, n)()
			benchProbe(b)
		})
	}
	b.Run("cond/waiters=8000", func(b *testing.B) {
		defer parkOnOneCond(b, 8000)()
		benchProbe(b)
	})
	b.Run("mutexes/waiters=8000", func(b *testing.B) {
		defer parkOnMutexEach(b, 8000)()
		benchProbe(b)
	})
}

// benchProbe runs the probe b.N times and reports the longest stop of
// the world of all, and the median run's total of stops.
func benchProbe(b *testing.B) {
	var worst float64
	var sums []float64
	for b.Loop() {
		m, s := probe(b)
		worst = max(worst, m)
		sums = append(sums, s)
	}
	sort.Float64s(sums)
	b.ReportMetric(worst*1e3, "max-pause-ms")
	b.ReportMetric(sums[len(sums)/2]*1e3, "total-pause-ms")
}

// largest returns the largest n for which ok holds, ok being monotone.
func largest(ok func(n int) bool) int {
	lo, hi := 0, 1
	for ok(hi) {
		lo, hi = hi, 2*hi
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func require(tb testing.TB, ok bool, msg string) {
	tb.Helper()
	if !ok {
		tb.Fatal(msg)
	}
}

// parkOnOneChannel starts n goroutines receiving from one channel, and
// returns once the runtime counts them waiting, with a function that
// releases them and waits for them to exit.
func parkOnOneChannel(tb testing.TB, n int) (release func()) {
	waiting := parked()
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { <-ch })
	}
	waitParked(tb, waiting+n)
	return func() {
		close(ch)
		wg.Wait()
	}
}

// parkOnOneCond starts n goroutines waiting on one sync.Cond.
func parkOnOneCond(tb testing.TB, n int) (release func()) {
	waiting := parked()
	var mu sync.Mutex
	c := sync.NewCond(&mu)
	done := false
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			for !done {
				c.Wait()
			}
		})
	}
	waitParked(tb, waiting+n)
	return func() {
		mu.Lock()
		done = true
		c.Broadcast()
		mu.Unlock()
		wg.Wait()
	}
}

// parkOnMutexEach starts n goroutines each waiting on a mutex of its own.
func parkOnMutexEach(tb testing.TB, n int) (release func()) {
	waiting := parked()
	mus := make([]sync.Mutex, n)
	var wg sync.WaitGroup
	for i := range mus {
		mus[i].Lock()
		wg.Go(func() { lockAt(&mus[i], i) })
	}
	waitParked(tb, waiting+n)
	return func() {
		for i := range mus {
			mus[i].Unlock()
		}
		wg.Wait()
	}
}
