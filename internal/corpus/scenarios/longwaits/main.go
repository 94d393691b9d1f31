// Benign: long but finite waits. Long-poll requests wait for an update
// that rarely comes: each waits 8 ticks, its server-side timeout, and
// returns empty. Polls arrive 3 a tick, so the waiting site climbs for 8
// ticks to 24 and holds there.
package main

import (
	"context"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

const pollTimeout = 8 // ticks

type hub struct {
	clk     *scenario.Clock
	updates chan int // never written in this run: no update comes
}

func run(ctx context.Context, tick <-chan int) {
	h := &hub{clk: scenario.NewClock(), updates: make(chan int)}
	for i := range tick {
		h.clk.Advance(i)
		for range 3 {
			go h.poll(ctx)
		}
	}
}

// poll waits for an update or its timeout.
func (h *hub) poll(ctx context.Context) (int, bool) {
	select {
	case u := <-h.updates:
		return u, true
	case <-h.clk.After(pollTimeout):
		return 0, false
	case <-ctx.Done():
		return 0, false
	}
}
