// Leak: a context never cancelled. Each stream gets a context whose cancel
// function the stream keeps and calls in Close, and a watcher goroutine
// that releases the stream's quota when the context is done. Streams that
// fail are closed; streams that end normally are just dropped, so their
// context is never cancelled and their watcher waits on Done forever.
// Streams open 2 a tick and last 2 ticks; one in two ends normally, so from
// tick 2 one goroutine leaks a tick.
package main

import (
	"context"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*stream).watch",
		CreatedBy: "main.openStream",
		LeakStart: 2,
		Run:       run,
	})
}

type stream struct {
	id     int
	cancel context.CancelFunc
	failed bool
}

var quota atomic.Int64

func run(ctx context.Context, tick <-chan int) {
	var open []*stream
	for i := range tick {
		// Streams opened two ticks ago end now.
		var still []*stream
		for _, s := range open {
			if s.id/2 > i-2 {
				still = append(still, s)
				continue
			}
			if s.failed {
				s.Close()
			}
			// The bug: a stream that ended normally is dropped unclosed.
		}
		open = still
		for j := range 2 {
			open = append(open, openStream(i*2+j, j == 0))
		}
	}
}

func openStream(id int, fails bool) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{id: id, cancel: cancel, failed: fails}
	quota.Add(1)
	go s.watch(ctx)
	return s
}

// watch gives the stream's quota back when its context ends.
func (s *stream) watch(ctx context.Context) {
	<-ctx.Done()
	quota.Add(-1)
}

func (s *stream) Close() { s.cancel() }
