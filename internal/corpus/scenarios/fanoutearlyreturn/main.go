// Leak: fan-out with an early return. A search queries its 4 shards in
// parallel, collecting their answers from one unbuffered channel, and
// returns at the first error, leaving the shards that have not answered
// yet blocked on their send. Shards answer in a tick; from tick 6 shard 3's
// node is down and it fails at once. Searches come 2 a tick, each in its
// own goroutine, so from tick 7 six goroutines leak a tick.
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*index).search.func1",
		CreatedBy: "main.(*index).search",
		LeakStart: 7,
		Run:       run,
	})
}

type shard struct {
	id  int
	clk *scenario.Clock
}

type index struct {
	shards []*shard
}

type answer struct {
	hits []string
	err  error
}

func run(ctx context.Context, tick <-chan int) {
	clk := scenario.NewClock()
	ix := &index{}
	for id := range 4 {
		ix.shards = append(ix.shards, &shard{id: id, clk: clk})
	}
	for i := range tick {
		clk.Advance(i)
		for j := range 2 {
			go func() { _, _ = ix.search(fmt.Sprint("q", i, j)) }()
		}
	}
}

func (ix *index) search(q string) ([]string, error) {
	answers := make(chan answer)
	for _, sh := range ix.shards {
		go func() {
			hits, err := sh.query(q)
			answers <- answer{hits, err} // blocks forever once search returned
		}()
	}
	var all []string
	for range ix.shards {
		a := <-answers
		if a.err != nil {
			return nil, a.err // the bug: the other shards are still answering
		}
		all = append(all, a.hits...)
	}
	return all, nil
}

var errNodeDown = errors.New("shard 3: node down")

func (sh *shard) query(q string) ([]string, error) {
	if sh.id == 3 && sh.clk.Now() >= 6 {
		return nil, errNodeDown
	}
	<-sh.clk.After(1)
	return []string{fmt.Sprint(q, "@", sh.id)}, nil
}
