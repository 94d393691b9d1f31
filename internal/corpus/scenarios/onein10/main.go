// Leak: on one request in ten. Each order write starts a goroutine that
// waits for the commit's acknowledgement before publishing the order
// event; the handler sends the acknowledgement after a commit, but on the
// rollback path, taken by one request in ten (by request count: number 7
// of every 10), returns without sending or closing. Requests come 5 a
// tick, so one goroutine leaks every 2 ticks from tick 1.
package main

import (
	"context"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.publishWhenCommitted",
		CreatedBy: "main.writeOrder",
		LeakStart: 1,
		Run:       run,
	})
}

var published atomic.Int64

func run(ctx context.Context, tick <-chan int) {
	n := 0
	for range tick {
		for range 5 {
			writeOrder(n)
			n++
		}
	}
}

func writeOrder(n int) {
	ack := make(chan bool)
	go publishWhenCommitted(n, ack)
	if n%10 == 7 {
		// Conflict: the transaction is rolled back and retried by the
		// client. The bug: ack is neither sent nor closed.
		return
	}
	ack <- true
}

// publishWhenCommitted publishes the order event once the write commits.
func publishWhenCommitted(n int, ack <-chan bool) {
	if <-ack {
		published.Add(int64(n))
	}
}
