// Benign: high churn. Every tick brings 100 to 300 requests; each fans out
// to 3 goroutines that compute a part and send it on a buffered channel,
// and the request goroutine gathers the parts. Everything is done within
// the tick: the goroutine count swings by hundreds between samples, but no
// site keeps anyone.
package main

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

func run(ctx context.Context, tick <-chan int) {
	rng := rand.New(rand.NewPCG(5, 6))
	var wg sync.WaitGroup
	for range tick {
		for r := range 100 + rng.IntN(201) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = handle(r)
			}()
		}
		wg.Wait()
	}
}

func handle(req int) int {
	parts := make(chan int, 3)
	for p := range 3 {
		go func() { parts <- compute(req, p) }()
	}
	sum := 0
	for range 3 {
		sum += <-parts
	}
	return sum
}

func compute(req, part int) int {
	s := 0
	for k := range 200 {
		s += (req*31 + part*17 + k) % 7
	}
	return s
}
