// Leak: a sync.Cond never signalled. Each request submits its job to a pool
// of 4 workers and waits on the job's future, a mutex and a Cond; workers
// resolve futures with Broadcast, but the error path records the error and
// forgets to mark the future done and broadcast, so the waiter sleeps in
// Cond.Wait forever. Requests come 5 a tick; from tick 6 one job in five
// fails, so one goroutine leaks a tick.
package main

import (
	"context"
	"errors"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*future).wait",
		CreatedBy: "main.(*server).accept",
		LeakStart: 6,
		Run:       run,
	})
}

type future struct {
	mu   sync.Mutex
	cond *sync.Cond
	done bool
	val  int
	err  error
}

func newFuture() *future {
	f := &future{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *future) wait() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.done {
		f.cond.Wait()
	}
	return f.val, f.err
}

func (f *future) resolve(v int) {
	f.mu.Lock()
	f.done, f.val = true, v
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *future) fail(err error) {
	f.mu.Lock()
	f.err = err // the bug: done stays false and nobody is woken
	f.mu.Unlock()
}

type task struct {
	n   int
	bad bool
	f   *future
}

type server struct {
	tasks chan task
}

var errOverflow = errors.New("computation overflow")

func run(ctx context.Context, tick <-chan int) {
	s := &server{tasks: make(chan task, 64)}
	for range 4 {
		go s.worker()
	}
	for i := range tick {
		for j := range 5 {
			s.accept(i*5+j, i >= 6 && j == 4)
		}
	}
	close(s.tasks)
}

func (s *server) accept(n int, bad bool) {
	go s.handle(n, bad)
}

func (s *server) handle(n int, bad bool) {
	f := newFuture()
	s.tasks <- task{n: n, bad: bad, f: f}
	_, _ = f.wait()
}

func (s *server) worker() {
	for t := range s.tasks {
		if t.bad {
			t.f.fail(errOverflow)
			continue
		}
		t.f.resolve(t.n * t.n)
	}
}
