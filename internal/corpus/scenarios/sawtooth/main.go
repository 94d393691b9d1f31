// Benign: sawtooth load. A write batcher holds each write until the next
// flush, every 8 ticks; writes arrive 3 a tick, each from its own request
// goroutine, so the waiting site climbs by 3 a tick to 24 and drops to 0 at
// each flush.
package main

import (
	"context"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type batcher struct {
	mu      sync.Mutex
	pending []int
	flushed chan struct{} // closed at the next flush
	written int
}

func run(ctx context.Context, tick <-chan int) {
	b := &batcher{flushed: make(chan struct{})}
	for i := range tick {
		if i%8 == 0 && i > 0 {
			b.flush()
		}
		for j := range 3 {
			go b.write(i*3 + j)
		}
	}
	b.flush()
}

// write queues v and waits until it is flushed.
func (b *batcher) write(v int) {
	b.mu.Lock()
	b.pending = append(b.pending, v)
	done := b.flushed
	b.mu.Unlock()
	<-done
}

func (b *batcher) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.written += len(b.pending)
	b.pending = b.pending[:0]
	close(b.flushed)
	b.flushed = make(chan struct{})
}
