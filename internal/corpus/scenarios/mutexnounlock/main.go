// Leak: a mutex never unlocked. A session store's update returns early on a
// validation error without unlocking. The first invalid update (tick 8)
// leaves the store locked for good, and every request after it parks in
// Lock: reads, 3 a tick, in get; updates, 1 every 2 ticks, in update.
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
		Function:  "main.(*store).get|main.(*store).update",
		CreatedBy: "main.(*server).accept",
		LeakStart: 8,
		Run:       run,
	})
}

type session struct {
	user  int
	items int
}

type store struct {
	mu       sync.Mutex
	sessions map[int]session
}

type server struct {
	store *store
}

type request struct {
	id     int
	update bool
	items  int
}

var errInvalid = errors.New("invalid session update")

func run(ctx context.Context, tick <-chan int) {
	s := &server{store: &store{sessions: make(map[int]session)}}
	for i := range tick {
		for j := range 3 {
			s.accept(request{id: i*3 + j})
		}
		if i%2 == 0 {
			items := 1
			if i == 8 {
				items = -1 // a client bug sends a negative count
			}
			s.accept(request{id: i, update: true, items: items})
		}
	}
}

// accept serves r in a goroutine of its own, as net/http does.
func (s *server) accept(r request) {
	go s.handle(r)
}

func (s *server) handle(r request) {
	if r.update {
		_ = s.store.update(r.id%16, r.items)
		return
	}
	_ = s.store.get(r.id % 16)
}

func (st *store) get(user int) session {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sessions[user]
}

func (st *store) update(user, items int) error {
	st.mu.Lock()
	if items < 0 {
		return errInvalid // the bug: still locked
	}
	s := st.sessions[user]
	s.user, s.items = user, s.items+items
	st.sessions[user] = s
	st.mu.Unlock()
	return nil
}
