// Leak: sends on a full buffered channel. Handlers record audit events
// without delaying the request: each event is handed to a goroutine of its
// own that sends it to a channel with a buffer of 32, drained by a shipper.
// At tick 10 the shipper's upstream fails and the shipper returns instead
// of retrying. Events keep coming, 4 a tick: the buffer is full at tick 18,
// and from then every event parks its goroutine on the send for good.
package main

import (
	"context"
	"errors"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*auditLog).record.func1",
		CreatedBy: "main.(*auditLog).record",
		LeakStart: 18,
		Run:       run,
	})
}

type event struct {
	user, action int
}

type auditLog struct {
	clk     *scenario.Clock
	events  chan event
	shipped int
}

var errUpstream = errors.New("audit upstream: connection reset")

func run(ctx context.Context, tick <-chan int) {
	a := &auditLog{clk: scenario.NewClock(), events: make(chan event, 32)}
	go a.ship()
	for i := range tick {
		a.clk.Advance(i)
		for j := range 4 {
			a.record(event{user: j, action: i})
		}
	}
}

// record queues e for the shipper without blocking the caller.
func (a *auditLog) record(e event) {
	go func() {
		a.events <- e // parks for good once the buffer is full
	}()
}

// ship sends events upstream; on an error it gives up (the bug: it should
// retry or drain).
func (a *auditLog) ship() {
	for e := range a.events {
		if err := a.send(e); err != nil {
			return
		}
		a.shipped++
	}
}

func (a *auditLog) send(event) error {
	if a.clk.Now() >= 10 {
		return errUpstream
	}
	return nil
}
