// Leak: a receive nobody sends to. Each request starts a goroutine that
// waits for the response in order to write the access log; the handler
// sends the response on success but, on the error path, returns without
// sending or closing, so the logger waits forever. Requests arrive 4 a
// tick; from tick 5 the backend fails one request in four, so one
// goroutine leaks a tick.
package main

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*server).logResponse",
		CreatedBy: "main.(*server).handle",
		LeakStart: 5,
		Run:       run,
	})
}

type response struct {
	req, status, size int
}

type server struct {
	tick   int
	logged atomic.Int64
}

var errBackend = errors.New("backend unavailable")

func run(ctx context.Context, tick <-chan int) {
	s := &server{}
	for i := range tick {
		s.tick = i
		for j := range 4 {
			s.handle(i*4 + j)
		}
	}
}

func (s *server) handle(req int) {
	done := make(chan response)
	go s.logResponse(done)
	r, err := s.process(req)
	if err != nil {
		return // the bug: logResponse waits for a response that never comes
	}
	done <- r
}

func (s *server) process(req int) (response, error) {
	if s.tick >= 5 && req%4 == 1 {
		return response{}, errBackend
	}
	return response{req: req, status: 200, size: 512}, nil
}

// logResponse writes one access-log line once the response is known.
func (s *server) logResponse(done <-chan response) {
	r := <-done
	s.logged.Add(int64(r.size)) // a stand-in for the log write
}
