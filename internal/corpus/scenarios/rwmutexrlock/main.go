// Leak: readers blocked on an RWMutex whose writer never unlocked. Every
// request (4 a tick) reads the service's configuration under RLock; a
// reload loop swaps it under Lock every 4 ticks and, on a parse error,
// returns without unlocking. The bad reload at tick 8 leaves the lock
// held: from then on every request parks in RLock.
package main

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*config).get",
		CreatedBy: "main.(*server).accept",
		LeakStart: 8,
		Run:       run,
	})
}

type config struct {
	mu     sync.RWMutex
	limits map[string]int
}

type server struct {
	cfg     *config
	reloads chan string
}

func run(ctx context.Context, tick <-chan int) {
	s := &server{cfg: &config{limits: map[string]int{"rps": 100}}, reloads: make(chan string, 1)}
	go s.watchReloads()
	for i := range tick {
		if i%4 == 0 && i > 0 {
			src := strconv.Itoa(100 + i)
			if i == 8 {
				src = "1OO" // a typo in the pushed file
			}
			select {
			case s.reloads <- src:
			default: // a reload is still pending
			}
		}
		for j := range 4 {
			s.accept(j)
		}
	}
}

func (s *server) accept(req int) {
	go s.handle(req)
}

func (s *server) handle(req int) {
	if s.cfg.get("rps") < req {
		return // throttled
	}
}

func (s *server) watchReloads() {
	for src := range s.reloads {
		_ = s.cfg.reload(src)
	}
}

func (c *config) get(key string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.limits[key]
}

func (c *config) reload(src string) error {
	c.mu.Lock()
	rps, err := strconv.Atoi(src)
	if err != nil {
		return errors.Join(errors.New("config: rps"), err) // the bug: still locked
	}
	c.limits = map[string]int{"rps": rps}
	c.mu.Unlock()
	return nil
}
