// Package parktest parks goroutines the way a service holds them, for the
// benchmarks of several packages: 3 to 10 frames deep, on three channel
// receives and a mutex, like worker pools and stuck requests.
package parktest

import "sync"

// Park starts n goroutines and returns once each has signalled that it is
// about to block, with a function that releases them all and waits for
// them to exit. The last ones may still be on their way to their blocking
// line: a caller that needs them parked polls until it sees them so, in the
// form it reads (a capture, a dump).
func Park(n int) (release func()) {
	var wg sync.WaitGroup
	chans := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{})}
	var mu sync.Mutex
	mu.Lock()
	parked := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() { deep(3+i%8, i%4, chans, &mu, parked) })
	}
	for range n {
		<-parked
	}
	return func() {
		for _, c := range chans {
			close(c)
		}
		mu.Unlock()
		wg.Wait()
	}
}

//go:noinline
func deep(depth, kind int, chans []chan struct{}, mu *sync.Mutex, parked chan<- struct{}) {
	if depth > 0 {
		deep(depth-1, kind, chans, mu, parked)
		return
	}
	parked <- struct{}{}
	switch kind {
	case 0, 1, 2:
		<-chans[kind]
	default:
		mu.Lock()
		mu.Unlock()
	}
}
