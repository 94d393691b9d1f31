// Package demo leaks goroutines for the logger examples, so that each has an
// alert to show.
package demo

import (
	"errors"
	"sync"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

// Interval is the sampling interval of the examples: fast, so that the
// sentinel reports the leak in well under a second. A service keeps the
// default, leaksentinel.DefaultInterval.
const Interval = 5 * time.Millisecond

// Leak leaks goroutines, one a millisecond, each blocked on a channel
// receive, until s has logged an alert about them; then it releases them.
func Leak(s *leaksentinel.Sentinel) error {
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(release)
		wg.Wait()
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for s.Stats().Alerts == 0 {
		select {
		case <-tick.C:
			leak(release, &wg)
		case <-deadline:
			return errors.New("demo: no alert within 30 seconds")
		}
	}
	return nil
}

// leak starts a goroutine that waits for a value nobody sends.
func leak(release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release // the leaking line
	}()
}
