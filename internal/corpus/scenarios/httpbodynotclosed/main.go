// Leak: an HTTP client that never closes response bodies. A health checker
// calls a backend (a local httptest server) and looks only at the status
// code; it never reads nor closes the body, so the connection is never
// returned to the pool nor closed: its transport reader and writer
// goroutines, and the server's goroutine for it, stay forever. One check a
// tick from tick 4.
//
// The goroutines that pile up are the standard library's: the client's
// connection reader and writer (created by Transport.dialConn) and the
// server's connection (created by Server.Serve); an alert at any of them is
// at the right site.
package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

// httpSites are where a leaked connection's goroutines park: the client's
// reader (in readLoop waiting for the body to be consumed, or idle in
// persistConn.Read) and writer, and the server's reader waiting for the
// next request.
const httpSites = "net/http.(*persistConn).readLoop|net/http.(*persistConn).Read|" +
	"net/http.(*persistConn).writeLoop|net/http.(*connReader).Read"

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  httpSites,
		CreatedBy: "net/http.(*Transport).dialConn|net/http.(*Server).Serve",
		LeakStart: 4,
		Run:       run,
	})
}

func run(ctx context.Context, tick <-chan int) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"status":"ok","checks":["db","cache"]}`)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	for i := range tick {
		if i >= 4 {
			_ = healthy(ctx, client, srv.URL)
		}
	}
}

// healthy reports whether the backend answers 200. The bug: resp.Body is
// never closed.
func healthy(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	return resp.StatusCode == http.StatusOK
}
