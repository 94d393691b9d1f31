// Leak: a channel still reachable from a global map. An RPC client keeps
// the reply channel of every call in flight in a package-level map keyed by
// call id; a demultiplexer delivers the replies the server writes to the
// wire. The server replies a tick later but drops one call in six from
// tick 6, and the client has no timeout, so those callers wait on their
// reply channel forever. The channel stays reachable from the map, so the
// runtime's goroutineleak profile cannot prove these goroutines leaked.
// Calls come 3 a tick, each from its own request goroutine.
package main

import (
	"context"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.call",
		CreatedBy: "main.(*frontend).accept",
		LeakStart: 6,
		Run:       run,
	})
}

type reply struct {
	id    uint64
	value int
}

type request struct {
	id  uint64
	arg int
}

// pending holds the reply channel of every call in flight.
var pending = struct {
	sync.Mutex
	m    map[uint64]chan reply
	next uint64
}{m: make(map[uint64]chan reply)}

type frontend struct {
	out chan<- request
}

func run(ctx context.Context, tick <-chan int) {
	clk := scenario.NewClock()
	requests := make(chan request, 64)
	wire := make(chan reply, 64)
	go serve(clk, requests, wire)
	go demux(wire)
	f := &frontend{out: requests}
	for i := range tick {
		clk.Advance(i)
		for j := range 3 {
			f.accept(i*3 + j)
		}
	}
}

func (f *frontend) accept(arg int) {
	go func() { _ = call(f.out, arg) }()
}

// call sends arg to the server and waits for the reply: no timeout.
func call(out chan<- request, arg int) int {
	pending.Lock()
	pending.next++
	id := pending.next
	ch := make(chan reply, 1)
	pending.m[id] = ch
	pending.Unlock()
	out <- request{id: id, arg: arg}
	r := <-ch
	return r.value
}

// demux hands each reply to its caller.
func demux(wire <-chan reply) {
	for r := range wire {
		pending.Lock()
		ch := pending.m[r.id]
		delete(pending.m, r.id)
		pending.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// serve answers requests a tick after they arrive, dropping one in six from
// tick 6 (an overloaded server shedding load silently).
func serve(clk *scenario.Clock, in <-chan request, wire chan<- reply) {
	var queued []request
	next := clk.After(1)
	for {
		select {
		case r := <-in:
			queued = append(queued, r)
		case <-next:
			for _, r := range queued {
				if clk.Now() >= 6 && r.id%6 == 0 {
					continue
				}
				wire <- reply{id: r.id, value: r.arg * 2}
			}
			queued = queued[:0]
			next = clk.After(1)
		}
	}
}
