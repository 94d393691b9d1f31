// Benign: an HTTP server with well-behaved clients. A local httptest server
// serves a small JSON API; 6 requests a tick come from a shared client
// that reads and closes every body. The keep-alive pool holds a steady
// handful of connections.
package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{Run: run})
}

type api struct {
	mu    sync.Mutex
	users map[string]int
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.users[r.URL.Path]++
	n := a.users[r.URL.Path]
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "visits": n})
}

func run(ctx context.Context, tick <-chan int) {
	srv := httptest.NewServer(&api{users: make(map[string]int)})
	defer srv.Close()
	client := srv.Client()
	var wg sync.WaitGroup
	paths := []string{"/users/1", "/users/2", "/orders", "/healthz", "/users/3", "/cart"}
	for range tick {
		for _, p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				get(ctx, client, srv.URL+p)
			}()
		}
		wg.Wait()
	}
}

func get(ctx context.Context, c *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := c.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	_, _ = io.Copy(io.Discard, resp.Body)
}
