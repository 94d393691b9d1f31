package leaksentinel_test

import (
	"context"
	"sync"
	"time"
)

// serveLeakily calls handle in a loop, as requests would, until the
// function it returns is called; that function waits for every goroutine
// the loop started to exit.
func serveLeakily() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			handle(ctx, &wg)
			time.Sleep(time.Millisecond)
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// handle stands for a request handler that asks a worker for a result,
// then returns early (a timeout, an error) without reading it. The worker
// waits for a reader or the end of ctx, a server-wide context: until the
// server stops, each request leaves one goroutine behind.
func handle(ctx context.Context, wg *sync.WaitGroup) {
	result := make(chan int)
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case result <- 42:
		case <-ctx.Done():
		}
	}()
}
