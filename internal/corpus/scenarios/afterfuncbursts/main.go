// Benign: bursts of time.AfterFunc. A delivery service retries failed
// deliveries with time.AfterFunc after a backoff of 1 to 6 ticks; every 12
// ticks a downstream hiccup fails 40 deliveries at once. Each timer's
// function runs in a goroutine of its own and hands the delivery to a
// dispatcher that takes 12 a tick, so retries wait a few ticks on the send
// and all are gone about 8 ticks after a burst.
package main

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type retrier struct {
	queue chan int
	sent  int
}

func run(ctx context.Context, tick <-chan int) {
	rng := rand.New(rand.NewPCG(7, 8))
	d := scenario.Interval(ctx)
	r := &retrier{queue: make(chan int)}
	var timers []*time.Timer
	for i := range tick {
		if i%12 == 6 {
			for k := range 40 {
				backoff := time.Duration(1+rng.IntN(6)) * d
				timers = append(timers, time.AfterFunc(backoff, func() { r.retry(ctx, i*100+k) }))
			}
		}
		r.dispatch(12)
	}
	for _, t := range timers {
		t.Stop()
	}
}

// retry re-queues a delivery.
func (r *retrier) retry(ctx context.Context, id int) {
	select {
	case r.queue <- id:
	case <-ctx.Done():
	}
}

// dispatch delivers up to n queued retries.
func (r *retrier) dispatch(n int) {
	for range n {
		select {
		case <-r.queue:
			r.sent++
		default:
			return
		}
	}
}
