// Leak: an unbuffered send after a timeout. A handler starts a goroutine
// to fetch its result from a backend and waits for it for one tick; when
// the timeout wins, nobody receives the result and the fetcher blocks
// forever on its unbuffered send. Requests arrive 3 a tick, each served in
// its own goroutine. From tick 6 the backend takes 2 ticks for one request
// in three, so from tick 8 one goroutine leaks a tick.
package main

import (
	"context"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*server).handle.func1",
		CreatedBy: "main.(*server).handle",
		LeakStart: 8,
		Run:       run,
	})
}

type server struct {
	clk *scenario.Clock
}

func run(ctx context.Context, tick <-chan int) {
	s := &server{clk: scenario.NewClock()}
	for i := range tick {
		s.clk.Advance(i)
		for j := range 3 {
			go s.handle(ctx, i*3+j)
		}
	}
}

// handle serves one request: it gives up on the fetch after a tick.
func (s *server) handle(ctx context.Context, req int) {
	result := make(chan int) // unbuffered: the bug
	go func() {
		result <- s.fetch(req)
	}()
	select {
	case r := <-result:
		_ = r
	case <-s.clk.After(1):
		// Timed out: the client gets a 504, the fetch is abandoned.
	case <-ctx.Done():
	}
}

// fetch asks the backend; from tick 6 one request in three takes 2 ticks.
func (s *server) fetch(req int) int {
	if s.clk.Now() >= 6 && req%3 == 0 {
		<-s.clk.After(2)
	}
	return req * 2
}
