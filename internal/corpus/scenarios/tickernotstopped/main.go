// Leak: a ticker goroutine never stopped. newClient starts a goroutine that
// flushes the client's buffer on every beat of a time.Ticker (2 ticks);
// Close stops the ticker, believing that ends the loop, but Stop does not
// close the ticker's channel, so the loop waits on it forever. A batch job
// makes a client per batch and closes it a tick later; batches start 1 a
// tick from tick 5.
package main

import (
	"context"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*client).flushLoop",
		CreatedBy: "main.newClient",
		LeakStart: 6,
		Run:       run,
	})
}

type client struct {
	ticker *time.Ticker
	mu     sync.Mutex
	buf    []int
	sent   int
}

func newClient(period time.Duration) *client {
	c := &client{ticker: time.NewTicker(period)}
	go c.flushLoop()
	return c
}

// flushLoop sends what was buffered on every beat.
func (c *client) flushLoop() {
	for range c.ticker.C {
		c.flush()
	}
}

func (c *client) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent += len(c.buf)
	c.buf = c.buf[:0]
}

func (c *client) write(v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, v)
}

// Close flushes and stops the ticker; the loop stays parked on its channel.
func (c *client) Close() {
	c.flush()
	c.ticker.Stop()
}

func run(ctx context.Context, tick <-chan int) {
	period := 2 * scenario.Interval(ctx)
	var prev *client
	for i := range tick {
		if prev != nil {
			prev.Close()
			prev = nil
		}
		if i >= 5 {
			prev = newClient(period)
			for j := range 10 {
				prev.write(j)
			}
		}
	}
}
