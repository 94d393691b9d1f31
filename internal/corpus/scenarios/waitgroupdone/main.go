// Leak: a WaitGroup missing a Done. A batch handler fans each item out to a
// goroutine and waits for all of them; the item goroutine calls Done at its
// end rather than in a defer, and returns early on an invalid item, so Wait
// never returns and the handler parks for good. Batches of 4 items arrive
// 2 a tick; from tick 6 one batch in two carries an invalid item.
package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*server).handleBatch",
		CreatedBy: "main.(*server).accept",
		LeakStart: 6,
		Run:       run,
	})
}

type server struct {
	stored atomic.Int64
}

func run(ctx context.Context, tick <-chan int) {
	s := &server{}
	for i := range tick {
		for j := range 2 {
			batch := []int{1, 2, 3, 4}
			if i >= 6 && j == 0 {
				batch[2] = -1
			}
			s.accept(batch)
		}
	}
}

func (s *server) accept(batch []int) {
	go s.handleBatch(batch)
}

func (s *server) handleBatch(batch []int) {
	var wg sync.WaitGroup
	for _, item := range batch {
		wg.Add(1)
		go func() {
			if item < 0 {
				return // the bug: Done is skipped
			}
			s.stored.Add(int64(item))
			wg.Done()
		}()
	}
	wg.Wait()
}
