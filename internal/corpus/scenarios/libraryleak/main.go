// Leak: inside a library, started by user code. A price widget handler
// subscribes to the "prices" topic of a pubsub broker (the library
// internal/corpus/lib/pubsub), renders the first price it receives and
// returns without closing the subscription. The library's forwarding
// goroutine, started by Subscribe, then parks for good on its next
// delivery. One widget request a tick from tick 4; a price is published
// every tick. The broker still holds the subscription, so the goroutineleak
// profile cannot prove it.
package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/lib/pubsub"
	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

const lib = "github.com/leaksentinel/leaksentinel/internal/corpus/lib/pubsub"

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  lib + ".(*Subscription).forward",
		CreatedBy: lib + ".(*Broker).Subscribe",
		LeakStart: 5,
		Run:       run,
	})
}

var rendered atomic.Int64

func run(ctx context.Context, tick <-chan int) {
	b := pubsub.NewBroker()
	for i := range tick {
		if i >= 4 {
			go priceWidget(ctx, b)
		}
		b.Publish(pubsub.Message{Topic: "prices", Value: 100 + i%7})
	}
}

// priceWidget renders the current price: the bug is the missing
// defer sub.Close().
func priceWidget(ctx context.Context, b *pubsub.Broker) {
	sub := b.Subscribe("prices")
	select {
	case m := <-sub.C:
		rendered.Add(int64(len(fmt.Sprintf("price: %d", m.Value))))
	case <-ctx.Done():
	}
}
