// Benign: short mutex contention under load. Every tick 40 requests start
// together and each updates a shared rate-limiter table under one mutex,
// holding it for a few microseconds of work. Samples catch some of them
// queued in Lock, a handful at most, never for long.
package main

import (
	"context"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type limiter struct {
	mu      sync.Mutex
	buckets map[int]int
}

func run(ctx context.Context, tick <-chan int) {
	l := &limiter{buckets: make(map[int]int)}
	var wg sync.WaitGroup
	for i := range tick {
		for j := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.allow(j%10, i)
			}()
		}
		wg.Wait()
	}
}

// allow refills and takes a token from the client's bucket.
func (l *limiter) allow(client, now int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[client]
	for k := range 2000 { // the refill arithmetic, a few microseconds
		b = (b*33 + k + now) % 1000
	}
	l.buckets[client] = b
	return b > 100
}
