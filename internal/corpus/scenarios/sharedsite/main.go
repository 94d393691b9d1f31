// Leak: one that shares its site with healthy parked workers. The service
// runs a pool of 24 workers ranging over its jobs channel in worker. Each
// import starts 2 more workers, with the same worker function, on a
// channel of its own, feeds them and closes the channel; a cancelled import
// returns before closing it, so its 2 workers stay parked at the very line
// where the pool's idle workers wait. Imports run 1 a tick; from tick 8 one
// in two is cancelled, so one goroutine leaks a tick at a site that already
// holds about 24.
package main

import (
	"context"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.worker",
		CreatedBy: "main.runImport",
		LeakStart: 8,
		Run:       run,
	})
}

var done atomic.Int64

// worker runs jobs until jobs is closed.
func worker(jobs <-chan int) {
	for j := range jobs {
		done.Add(int64(j))
	}
}

func startPool(n int) chan<- int {
	jobs := make(chan int)
	for range n {
		go worker(jobs)
	}
	return jobs
}

func runImport(rows []int, cancelled bool) {
	jobs := make(chan int)
	for range 2 {
		go worker(jobs)
	}
	for i, r := range rows {
		if cancelled && i == len(rows)/2 {
			return // the bug: jobs is never closed
		}
		jobs <- r
	}
	close(jobs)
}

func run(ctx context.Context, tick <-chan int) {
	pool := startPool(24)
	for i := range tick {
		for j := range 12 {
			pool <- j
		}
		runImport([]int{1, 2, 3, 4, 5, 6}, i >= 8 && i%2 == 0)
	}
}
