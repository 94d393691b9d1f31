// Package proof decides whether the runtime's goroutineleak profile may be
// asked for its proof now, from what a capture already counted: the
// profile runs a garbage collection whose stops of the world grow with the
// goroutines of the process, and with the square of those waiting on one
// semaphore.
//
// # The cost
//
// With the world stopped, the leak-detection GC (Go 1.27.3,
// runtime/mgc.go) visits every goroutine a few times (findGoroutineLeaks,
// findMaybeRunnableGoroutines, setSyncObjectsUntraceable,
// gcRestoreSyncObjects), and the last two walk each goroutine's
// "for sg := gp.waiting; sg != nil; sg = sg.waitlink". For a goroutine in
// a semaphore's queue (sync.Mutex, RWMutex, WaitGroup, the runtime's
// semaphores) that list is every waiter queued behind it on the same
// address (runtime/sema.go), so W waiters on one primitive cost about W²
// sudog visits; channel waiters list only their own select cases, and
// sync.Cond's waiters are linked through another field.
//
// Measured on 2 shared cores (BenchmarkProofCurve, Go 1.27.3, the longest
// stop of the /sched/pauses/total/gc:seconds histogram, whose buckets are
// about a sixth wide; ranges over runs at load averages of 3 to 9), for W
// waiters on one mutex from 8 lines:
//
//	W        0     500    1000   2000   3000   4000    8000
//	stop    0.2    0.7    3-6    7-25   15-59  29-100  117-335  ms
//
// For N goroutines on one channel: 8k 2-4 ms, 50k 25-42 ms, 100k 25-67
// ms; 8,000 on one sync.Cond or on a mutex each: about 2 and 21 ms. The
// stop is about perGoroutine·N + perWaiterPair·W², with constants at or
// above the worst of those runs (a loaded machine, where a stop also waits
// for the CPU), and no confirmation may stop the world for more than
// [Budget]. BenchmarkProofWorstCase measures the worst cases that lets
// through.
//
// A text dump does not say which primitive a goroutine waits on, only the
// state, so W is the total of semaphore waiters in the process, whatever
// their sites: the waiters of the worst primitive are at most that many.
// Counting per site, as an earlier guard did, let 8,000 waiters on one
// mutex from 8 lines through at 1,000 a site, for a stop of 235 ms.
package proof

import (
	"fmt"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/classify"
)

// Budget is the longest stop of the world a confirmation may cost.
const Budget = 50 * time.Millisecond

// The cost model's constants, in nanoseconds. Alone, they let through
// 2,773 semaphore waiters, or 50,000 goroutines.
const (
	perGoroutine  = 1000 // 100k goroutines: up to 67 ms; 71k, at a load of 9: 59-84 ms
	perWaiterPair = 6.5  // 3,000 waiters: up to 59 ms; 4,000: 100 ms
)

// Counts is what a capture knows of the process's goroutines.
type Counts struct {
	// Goroutines is the number of goroutines of the process.
	Goroutines int
	// ByState counts the goroutines by normalised state, as
	// internal/classify names them ("sync.Mutex.Lock", "chan receive");
	// a state it lacks counts zero.
	ByState map[string]int
}

// SemaWaiters returns the number of goroutines of c queued on a
// semaphore: waiting in sync.Mutex.Lock, RWMutex.Lock or RLock,
// WaitGroup.Wait, or on one of the runtime's own semaphores. Every source
// shows these states, pprof's debug=1 text included.
func (c Counts) SemaWaiters() int {
	n := 0
	for _, s := range semaStates {
		n += c.ByState[s]
	}
	return n
}

var semaStates = []string{classify.MutexLock, classify.RWMutexLock, classify.RWMutexRLock,
	classify.WaitGroupWait, classify.Semacquire}

// Pause returns the longest stop of the world that the leak-detection GC
// may cost over the goroutines of c, by the model above: every goroutine
// once, and every pair of semaphore waiters as if they all waited on one
// primitive.
func Pause(c Counts) time.Duration {
	w := float64(c.SemaWaiters())
	return time.Duration(float64(c.Goroutines)*perGoroutine + w*w*perWaiterPair)
}

// Check returns nil if the goroutineleak profile may be asked over the
// goroutines of c, and otherwise an error saying why not, to be shown to
// the user after "no deadlock proof: " or the like: its stop of the world
// could exceed [Budget].
func Check(c Counts) error {
	if p := Pause(c); p > Budget {
		return fmt.Errorf("%d goroutines, %d of them waiting on sync.Mutex, RWMutex, WaitGroup or semaphores: "+
			"the runtime's leak-detection GC could stop the world for %v (more than %v); "+
			"its pause grows with the goroutines, and with the square of those waiting on one primitive",
			c.Goroutines, c.SemaWaiters(), p.Round(time.Millisecond), Budget)
	}
	return nil
}
