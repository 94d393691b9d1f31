// Benign: a keep-alive pool growing to its cap. A client with one shared
// Transport (at most 8 connections to a host) calls a local backend that
// takes a tick per call. Calls ramp by 1 a tick to 7 a tick, then come 5 to
// 9 a tick. The pool dials a connection per call in flight as the load
// ramps and reaches its cap of 8 at the first tick with 8 or more calls (a
// few ticks after the ramp); it keeps them, so the connections' reader,
// writer and server goroutines grow to 8 each and stay, and the ninth call
// of a busy tick waits a tick for a connection.
package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

func run(ctx context.Context, tick <-chan int) {
	clk := scenario.NewClock()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-clk.After(1):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	tr := &http.Transport{MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range tick {
		clk.Advance(i)
		n := 5 + rng.IntN(5)
		if i < 7 {
			n = i + 1
		}
		for range n {
			go call(ctx, client, srv.URL)
		}
	}
}

func call(ctx context.Context, c *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := c.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
}
