// Benign: tickers. A service's background loops, each on a time.Ticker
// started at startup and stopped at shutdown: metrics flush every 2 ticks,
// health check every 3, cache refresh every 5, session janitor every 7.
// Requests (4 a tick) touch the state they look after.
package main

import (
	"context"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type service struct {
	mu       sync.Mutex
	requests int
	flushed  int
	checks   int
	sessions map[int]int
}

func run(ctx context.Context, tick <-chan int) {
	s := &service{sessions: make(map[int]int)}
	d := scenario.Interval(ctx)
	var wg sync.WaitGroup
	loops := []struct {
		every int
		do    func()
	}{
		{2, s.flush},
		{3, s.check},
		{5, s.refresh},
		{7, s.janitor},
	}
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, time.Duration(l.every)*d, l.do)
		}()
	}
	for i := range tick {
		s.mu.Lock()
		for j := range 4 {
			s.requests++
			s.sessions[(i*4+j)%50] = i
		}
		s.mu.Unlock()
	}
	wg.Wait()
}

// every calls do every period until ctx is done.
func every(ctx context.Context, period time.Duration, do func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			do()
		case <-ctx.Done():
			return
		}
	}
}

func (s *service) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushed = s.requests
}

func (s *service) check() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
}

func (s *service) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks += len(s.sessions) / 50
}

func (s *service) janitor() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, last := range s.sessions {
		if last < s.requests/4-10 {
			delete(s.sessions, k)
		}
	}
}
