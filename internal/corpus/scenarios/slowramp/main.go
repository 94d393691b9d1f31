// Benign: short waits under load that ramps slowly, then plateaus. Traffic
// grows through the morning: the request rate rises from 2 to 38 a tick
// over the first 36 ticks (a window and a half), then holds at 38 ± 4.
// Each request waits 1 or 2 ticks for its backend reply, so every one of
// them is gone two ticks after it came. The waiting site's floor rises
// steadily for longer than a window: by counts alone it looks like a leak,
// but no goroutine stays.
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
	rng := rand.New(rand.NewPCG(3, 4))
	b := &backend{clk: scenario.NewClock()}
	for i := range tick {
		b.clk.Advance(i)
		rate := 38 - 4 + rng.IntN(9)
		if i < 36 {
			rate = 2 + i
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
