// Benign: a pool that grows under a burst, then shrinks. The pool keeps 4
// workers; a job that finds every worker busy starts a new one, up to 48;
// a worker idle for 3 ticks exits unless it is one of the 4. Base load is
// 3 jobs a tick, each taking a tick; bursts of 36 jobs (a batch upload)
// arrive at ticks 20, 45 and 70. The workers' site jumps to about 40 at a
// burst and is back to 4 about 4 ticks later.
package main

import (
	"context"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

const (
	minWorkers = 4
	maxWorkers = 48
	idleTicks  = 3
)

type pool struct {
	clk  *scenario.Clock
	jobs chan int

	mu      sync.Mutex
	workers int
}

func run(ctx context.Context, tick <-chan int) {
	p := &pool{clk: scenario.NewClock(), jobs: make(chan int)}
	for range minWorkers {
		p.start(-1)
	}
	for i := range tick {
		p.clk.Advance(i)
		n := 3
		if i == 20 || i == 45 || i == 70 {
			n += 36
		}
		for j := range n {
			p.submit(ctx, j)
		}
	}
}

func (p *pool) start(first int) {
	p.mu.Lock()
	p.workers++
	p.mu.Unlock()
	go p.worker(first)
}

// submit hands j to an idle worker, or to a new one if there is room.
func (p *pool) submit(ctx context.Context, j int) {
	select {
	case p.jobs <- j:
		return
	default:
	}
	p.mu.Lock()
	room := p.workers < maxWorkers
	p.mu.Unlock()
	if room {
		p.start(j)
		return
	}
	select {
	case p.jobs <- j:
	case <-ctx.Done():
	}
}

func (p *pool) worker(first int) {
	if first >= 0 {
		p.do(first)
	}
	for {
		select {
		case j := <-p.jobs:
			p.do(j)
		case <-p.clk.After(idleTicks):
			if p.retire() {
				return
			}
		}
	}
}

// retire reports whether an idle worker may exit.
func (p *pool) retire() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers <= minWorkers {
		return false
	}
	p.workers--
	return true
}

// do takes a tick of work.
func (p *pool) do(int) {
	<-p.clk.After(1)
}
