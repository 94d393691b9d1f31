// Leak: a send on a nil channel. Jobs made by newJob carry a done channel
// their submitter may read; jobs that failed are retried from their stored
// record, and fromRecord, written later, leaves done nil. The worker
// reports every job's outcome on done, so each retried job's worker blocks
// on a nil channel forever. Jobs come 3 a tick; from tick 6 one job in
// three fails and is retried on the next tick, so one goroutine leaks a
// tick from tick 7.
package main

import (
	"context"
	"errors"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*queue).work",
		CreatedBy: "main.(*queue).dispatch",
		LeakStart: 7,
		Run:       run,
	})
}

type job struct {
	id      int
	attempt int
	done    chan error // nil when rebuilt from a record: the bug
}

type record struct {
	id, attempt int
}

type queue struct {
	tick   int
	failed []record
}

var errTransient = errors.New("transient failure")

func newJob(id int) *job { return &job{id: id, done: make(chan error, 1)} }

func fromRecord(r record) *job { return &job{id: r.id, attempt: r.attempt} }

func run(ctx context.Context, tick <-chan int) {
	q := &queue{}
	for i := range tick {
		q.tick = i
		retries := q.failed
		q.failed = nil
		for _, r := range retries {
			q.dispatch(fromRecord(r))
		}
		for j := range 3 {
			q.dispatch(newJob(i*3 + j))
		}
	}
}

func (q *queue) dispatch(j *job) {
	if q.tick >= 6 && j.attempt == 0 && j.id%3 == 2 {
		q.failed = append(q.failed, record{id: j.id, attempt: 1})
		return
	}
	go q.work(j)
}

// work runs j and reports its outcome.
func (q *queue) work(j *job) {
	var err error
	if j.id < 0 {
		err = errTransient
	}
	j.done <- err // a nil channel for retried jobs: blocks forever
}
