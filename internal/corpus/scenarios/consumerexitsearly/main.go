// Leak: a consumer that exits early. scan streams an index's records over
// an unbuffered channel from a producer goroutine that closes it at the
// end; find ranges over the stream and returns at the first match, without
// telling the producer, which blocks on its next send for good. Lookups run
// 2 a tick. The index is empty until it is loaded at tick 5; from then on
// lookups of known keys (3 in 4) leak a goroutine each, lookups of unknown
// keys read the stream to its end.
package main

import (
	"context"
	"fmt"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*index).scan.func1",
		CreatedBy: "main.(*index).scan",
		LeakStart: 5,
		Run:       run,
	})
}

type rec struct {
	key   string
	value int
}

type index struct {
	records []rec
}

func run(ctx context.Context, tick <-chan int) {
	ix := &index{}
	for i := range tick {
		if i == 5 {
			ix = loadIndex()
		}
		for j := range 2 {
			key := fmt.Sprint("k", (i*2+j)%40) // keys k30-k39 are unknown
			_, _ = ix.find(key)
		}
	}
}

func loadIndex() *index {
	ix := &index{}
	for k := range 30 {
		ix.records = append(ix.records, rec{key: fmt.Sprint("k", k), value: k})
	}
	return ix
}

// scan streams the records in order.
func (ix *index) scan() <-chan rec {
	out := make(chan rec)
	go func() {
		defer close(out)
		for _, r := range ix.records {
			out <- r // blocks forever when the consumer left
		}
	}()
	return out
}

func (ix *index) find(key string) (int, bool) {
	for r := range ix.scan() {
		if r.key == key {
			return r.value, true // the bug: the producer is left mid-stream
		}
	}
	return 0, false
}
