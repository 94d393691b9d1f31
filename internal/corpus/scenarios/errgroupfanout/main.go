// Benign: an errgroup-style fan-out with proper cancellation. A request
// queries 4 backends in parallel under a context that the first error
// cancels; each backend call takes 1 or 2 ticks unless cancelled, and
// results go to slots of a slice, not to a channel nobody reads. The
// request waits for all of them (Wait) before returning. Requests come 3 a
// tick; from tick 10 one backend fails at once on one request in four,
// cancelling its siblings.
package main

import (
	"context"
	"errors"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

// group runs functions and cancels their context at the first error, like
// golang.org/x/sync/errgroup.
type group struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

func withContext(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

var errUnavailable = errors.New("backend unavailable")

type backend struct {
	clk *scenario.Clock
}

func run(ctx context.Context, tick <-chan int) {
	b := &backend{clk: scenario.NewClock()}
	for i := range tick {
		b.clk.Advance(i)
		for j := range 3 {
			fail := i >= 10 && (i*3+j)%4 == 0
			go func() { _, _ = b.handle(ctx, i*3+j, fail) }()
		}
	}
}

func (b *backend) handle(ctx context.Context, req int, fail bool) ([]int, error) {
	g, ctx := withContext(ctx)
	results := make([]int, 4)
	for k := range results {
		g.Go(func() error {
			v, err := b.query(ctx, req, k, fail && k == 2)
			results[k] = v
			return err
		})
	}
	return results, g.Wait()
}

func (b *backend) query(ctx context.Context, req, k int, fail bool) (int, error) {
	if fail {
		return 0, errUnavailable
	}
	select {
	case <-b.clk.After(1 + (req+k)%2):
		return req + k, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
