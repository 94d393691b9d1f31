// Benign: a backlog that fills in a burst, then drains slowly. A report
// service runs at most 4 exports at a time (a semaphore); an export takes a
// tick. A tenant re-exports everything at tick 16 (120 exports at once)
// and another at tick 60 (60): each export waits in its own goroutine for
// a slot, so the waiting site jumps to 120, then drains by 4 a tick over
// 30 ticks. Outside the bursts, 2 exports a tick pass straight through.
package main

import (
	"context"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type exporter struct {
	clk   *scenario.Clock
	slots chan struct{}
}

func run(ctx context.Context, tick <-chan int) {
	e := &exporter{clk: scenario.NewClock(), slots: make(chan struct{}, 4)}
	for i := range tick {
		e.clk.Advance(i)
		n := 2
		switch i {
		case 16:
			n += 120
		case 60:
			n += 60
		}
		for range n {
			go e.export(ctx)
		}
	}
}

// export waits for a slot, then works for a tick.
func (e *exporter) export(ctx context.Context) {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-e.slots }()
	<-e.clk.After(1)
}
