// Leak: writers blocked on an RWMutex whose read lock was never released.
// Every request (3 a tick) counts a hit under the write lock; a stats
// endpoint, called every 4 ticks, reads the counters under the read lock
// and, when its filter matches no counter, returns early without RUnlock.
// After the first such call (tick 9) every hit parks in Lock, and the
// stats calls after it park in RLock behind the waiting writers.
package main

import (
	"context"
	"strings"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*counters).add|main.(*counters).snapshot",
		CreatedBy: "main.(*server).accept",
		LeakStart: 9,
		Run:       run,
	})
}

type counters struct {
	mu   sync.RWMutex
	hits map[string]int
}

type server struct {
	c *counters
}

var paths = []string{"/api/users", "/api/orders", "/healthz"}

func run(ctx context.Context, tick <-chan int) {
	s := &server{c: &counters{hits: make(map[string]int)}}
	for i := range tick {
		for j := range 3 {
			s.accept(func() { s.c.add(paths[j]) })
		}
		if i%4 == 1 {
			prefix := "/api/"
			if i == 9 {
				prefix = "/admin/" // nothing matches
			}
			s.accept(func() { _ = s.c.snapshot(prefix) })
		}
	}
}

// accept runs a request's handler in a goroutine of its own.
func (s *server) accept(h func()) {
	go h()
}

func (c *counters) add(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hits[path]++
}

// snapshot returns the counters whose path starts with prefix.
func (c *counters) snapshot(prefix string) map[string]int {
	c.mu.RLock()
	out := make(map[string]int)
	for p, n := range c.hits {
		if strings.HasPrefix(p, prefix) {
			out[p] = n
		}
	}
	if len(out) == 0 {
		return nil // the bug: still read-locked
	}
	c.mu.RUnlock()
	return out
}
