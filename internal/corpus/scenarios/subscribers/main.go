// Benign: a library's goroutines used correctly. Dashboard sessions
// subscribe to the "prices" topic of the pubsub broker (lib/pubsub), read
// prices for 3 ticks and close their subscription, so the library's
// forwarding goroutines come and go. Sessions open 2 a tick; about 6 are
// open at any time.
package main

import (
	"context"

	"github.com/leaksentinel/leaksentinel/internal/corpus/lib/pubsub"
	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

func run(ctx context.Context, tick <-chan int) {
	b := pubsub.NewBroker()
	for i := range tick {
		for range 2 {
			go session(ctx, b)
		}
		b.Publish(pubsub.Message{Topic: "prices", Value: 100 + i%7})
	}
}

// session shows 3 prices, one a tick, then leaves.
func session(ctx context.Context, b *pubsub.Broker) {
	sub := b.Subscribe("prices")
	defer sub.Close()
	for range 3 {
		select {
		case <-sub.C:
		case <-ctx.Done():
			return
		}
	}
}
