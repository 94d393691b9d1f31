// Leak: a redial loop written as a chain of goroutines, never stopped.
// Each subscription keeps its feed alive: a goroutine waits out the
// keep-alive period (2 ticks), redials, then starts its successor with
// "go s.redial()" and returns. Cancel marks the subscription done, but
// nothing in the chain checks it. The dashboard subscribes to a feed
// every 2 ticks from tick 4 and cancels it a tick later. Every goroutine
// of the site is at most 2 ticks old, but the chains never end: one more
// every 2 ticks.
package main

import (
	"context"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*subscription).redial",
		CreatedBy: "main.(*subscription).redial",
		LeakStart: 4,
		Run:       run,
	})
}

type subscription struct {
	clk     *scenario.Clock
	dials   atomic.Int64
	stopped atomic.Bool // set by Cancel, read by nobody
}

func subscribe(clk *scenario.Clock) *subscription {
	s := &subscription{clk: clk}
	go s.redial()
	return s
}

// redial waits out the keep-alive period, dials again and hands over to
// the next link of the chain.
func (s *subscription) redial() {
	<-s.clk.After(2)
	s.dials.Add(1)
	go s.redial()
}

// Cancel is meant to end the subscription.
func (s *subscription) Cancel() { s.stopped.Store(true) }

func run(ctx context.Context, tick <-chan int) {
	clk := scenario.NewClock()
	var open []*subscription
	for i := range tick {
		clk.Advance(i)
		for _, s := range open {
			s.Cancel()
		}
		open = open[:0]
		if i >= 4 && i%2 == 0 {
			open = append(open, subscribe(clk))
		}
	}
}
