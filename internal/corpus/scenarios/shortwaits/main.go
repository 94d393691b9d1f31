// Benign: short waits under load that ramps, then plateaus. Clients
// reconnect after a deploy, so the request rate ramps from 2 to 16 a tick
// over the first 8 ticks, then holds at 16 ± 4. Each request waits 1 or 2
// ticks for its backend reply. The waiting site rises for about 9 ticks,
// then stays around 24.
package main

import (
	"context"
	"math/rand/v2"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type backend struct {
	clk *scenario.Clock
}

func run(ctx context.Context, tick <-chan int) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := &backend{clk: scenario.NewClock()}
	for i := range tick {
		b.clk.Advance(i)
		rate := 16 - 4 + rng.IntN(9)
		if i < 8 {
			rate = 2 + 2*i
		}
		for range rate {
			go b.handle(1 + rng.IntN(2))
		}
	}
}

// handle waits for the backend's reply, which takes ticks ticks.
func (b *backend) handle(ticks int) {
	<-b.clk.After(ticks)
}
