// Benign: a bounded set of per-tenant goroutines. Each tenant gets a
// dispatcher goroutine, which serialises its writes, when its first request
// arrives, and keeps it. There are 24 tenants and 8 requests a tick, each
// from a tenant drawn uniformly: about 8 tenants show up in the first tick,
// 20 by tick 5, and all 24 by tick 11 on average (the last ones trickle in);
// the site then stays at 24.
package main

import (
	"context"
	"math/rand/v2"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

const tenants = 24

type write struct {
	key, value int
}

type router struct {
	queues map[int]chan write
	stored atomic.Int64
}

func run(ctx context.Context, tick <-chan int) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := &router{queues: make(map[int]chan write)}
	for i := range tick {
		for j := range 8 {
			r.route(rng.IntN(tenants), write{key: i, value: j})
		}
	}
	for _, q := range r.queues {
		close(q)
	}
}

// route hands w to its tenant's dispatcher, starting it on first use.
func (r *router) route(tenant int, w write) {
	q, ok := r.queues[tenant]
	if !ok {
		q = make(chan write, 8)
		r.queues[tenant] = q
		go r.dispatch(q)
	}
	q <- w
}

func (r *router) dispatch(q <-chan write) {
	for w := range q {
		r.stored.Add(int64(w.value))
	}
}
