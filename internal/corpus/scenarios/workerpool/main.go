// Benign: a fixed pool of workers parked on a jobs channel, fed a steady
// stream of jobs. The pool's site holds the idle workers: its count moves
// every tick but its floor does not rise.
package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

func run(ctx context.Context, tick <-chan int) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := 0
			for j := range jobs {
				sum += work(j)
			}
			total.Add(int64(sum))
		}()
	}
	for i := range tick {
		for j := range 8 + i%5 {
			jobs <- j
		}
	}
	close(jobs)
	wg.Wait()
}

// total is what the workers computed: a sink that keeps the work from
// being optimised away.
var total atomic.Int64

func work(j int) int {
	s := 0
	for k := range 1000 * j {
		s += k
	}
	return s
}
