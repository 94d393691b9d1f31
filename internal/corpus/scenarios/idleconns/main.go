// Leak: idle connections nobody closes. A webhook sender builds a new
// http.Client with a Transport of its own for every delivery (to set a
// per-customer TLS config, say) and drops it afterwards. It reads and
// closes every body, so each connection goes back to its transport's idle
// pool, where nothing ever closes it: the transport has no idle timeout
// and nobody calls CloseIdleConnections. Each delivery leaves a reader and
// a writer goroutine in the client, and one in the local httptest server.
// One delivery a tick from tick 4.
package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

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
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	for i := range tick {
		if i >= 4 {
			_ = deliver(ctx, srv.URL, `{"event":"invoice.paid"}`)
		}
	}
}

// deliver posts one webhook with a client of its own. The bug: the
// transport is dropped with its idle connection open.
func deliver(ctx context.Context, url, body string) error {
	c := &http.Client{Transport: &http.Transport{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/hook", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
