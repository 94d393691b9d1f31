package proof

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/classify"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		give Counts
		want string // in the error; "" for none
	}{
		{name: "nothing", give: Counts{}},
		{name: "a test's goroutines", give: Counts{Goroutines: 40, ByState: map[string]int{classify.ChanReceive: 30, classify.MutexLock: 5}}},
		{name: "2,000 waiters on one mutex", give: Counts{Goroutines: 2010, ByState: map[string]int{classify.MutexLock: 2000}}},
		// The states say nothing of the lines: 8 sites of 1,000 are
		// 8,000 waiters on what may be one mutex (235 ms).
		{name: "8,000 waiters on one mutex", give: Counts{Goroutines: 8010, ByState: map[string]int{classify.MutexLock: 8000}},
			want: "8010 goroutines, 8000 of them waiting on sync.Mutex, RWMutex, WaitGroup or semaphores: the runtime's leak-detection GC could stop the world for 424ms (more than 50ms)"},
		{name: "sync states add up", give: Counts{Goroutines: 3000, ByState: map[string]int{
			classify.MutexLock: 600, classify.RWMutexLock: 600, classify.RWMutexRLock: 600, classify.WaitGroupWait: 600, classify.Semacquire: 600}},
			want: "3000 goroutines, 3000 of them waiting on"},
		{name: "channel waiters do not chain", give: Counts{Goroutines: 40_000, ByState: map[string]int{classify.ChanReceive: 30_000, classify.Select: 10_000}}},
		{name: "sync.Cond waiters do not chain", give: Counts{Goroutines: 8000, ByState: map[string]int{classify.CondWait: 8000}}},
		{name: "100,000 goroutines", give: Counts{Goroutines: 100_000, ByState: map[string]int{classify.ChanReceive: 100_000}},
			want: "100000 goroutines, 0 of them waiting on sync.Mutex, RWMutex, WaitGroup or semaphores: the runtime's leak-detection GC could stop the world for 100ms"},
		{name: "both terms count", give: Counts{Goroutines: 40_000, ByState: map[string]int{classify.MutexLock: 2000}},
			want: "40000 goroutines, 2000 of them waiting on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.give)
			if tt.want == "" {
				assert.NoError(t, err)
				assert.LessOrEqual(t, Pause(tt.give), Budget)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
			assert.Greater(t, Pause(tt.give), Budget)
		})
	}
}

// TestPauseGrows: the model is monotone in both counts, and quadratic in
// the waiters.
func TestPauseGrows(t *testing.T) {
	waiters := func(n int) Counts { return Counts{Goroutines: n, ByState: map[string]int{classify.WaitGroupWait: n}} }
	assert.Less(t, Pause(waiters(1000)), Pause(waiters(1001)))
	assert.Less(t, Pause(Counts{Goroutines: 1000}), Pause(Counts{Goroutines: 1001}))
	quad := Pause(waiters(8000)) - Pause(Counts{Goroutines: 8000})
	assert.InDelta(t, 64, float64(quad)/float64(Pause(waiters(1000))-Pause(Counts{Goroutines: 1000})), 0.01)
	assert.Equal(t, time.Duration(0), Pause(Counts{}))
}
