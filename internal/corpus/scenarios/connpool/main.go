// Benign: a database-style connection pool under load. The pool has 8
// connections; requests (3 to 11 a tick, 7 on average) each hold one for a
// tick and wait in acquire when all are taken. Waiters come and go with
// the load, and none waits more than a couple of ticks.
package main

import (
	"context"
	"math/rand/v2"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type conn struct {
	id int
}

type pool struct {
	clk  *scenario.Clock
	idle chan *conn
}

func newPool(clk *scenario.Clock, n int) *pool {
	p := &pool{clk: clk, idle: make(chan *conn, n)}
	for i := range n {
		p.idle <- &conn{id: i}
	}
	return p
}

func run(ctx context.Context, tick <-chan int) {
	rng := rand.New(rand.NewPCG(9, 10))
	p := newPool(scenario.NewClock(), 8)
	for i := range tick {
		p.clk.Advance(i)
		for range 3 + rng.IntN(9) {
			go p.query(ctx)
		}
	}
}

func (p *pool) acquire(ctx context.Context) (*conn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pool) release(c *conn) { p.idle <- c }

// query holds a connection for a tick.
func (p *pool) query(ctx context.Context) {
	c, err := p.acquire(ctx)
	if err != nil {
		return
	}
	defer p.release(c)
	<-p.clk.After(1)
}
