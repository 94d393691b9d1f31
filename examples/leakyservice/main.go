// Leakyservice is an HTTP service with a goroutine leak and the sentinel
// that catches it. It serves on 127.0.0.1, drives itself with a load
// generator, and exits once the sentinel has named the leaking line and the
// line that started the goroutines (-keep keeps it running).
//
//	go run ./examples/leakyservice
//
// The leak: /search asks three backends at once and answers with the first
// reply, returning early; the two slower backends then block forever
// sending their replies on an unbuffered channel nobody reads.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

func main() {
	keep := flag.Bool("keep", false, "keep running after the first alert")
	interval := flag.Duration("interval", 500*time.Millisecond, "sampling interval (production would use the 10s default)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger, *interval, *keep); err != nil {
		logger.Error("leakyservice", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, interval time.Duration, keep bool) error {
	alerts := make(chan leaksentinel.Leak, 1)
	sentinel, err := leaksentinel.Start(leaksentinel.Options{
		Interval: interval,
		Logger:   logger,
		OnLeak: func(l leaksentinel.Leak) {
			select {
			case alerts <- l:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	defer sentinel.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/search", search)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/search?q=goroutines"
	logger.Info("serving; load generator started", "url", url, "interval", interval)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go load(ctx, url)

	started := time.Now()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l := <-alerts:
			st := sentinel.Stats()
			fmt.Fprintf(os.Stderr, "\nThe sentinel caught it after %d samples (%d ticks, %s):\n  %d goroutines parked at %s:%d (%s)\n  started by %s\n\n",
				st.Captures, st.Ticks, time.Since(started).Round(100*time.Millisecond), l.Count, l.File, l.Line, l.State, creator(l))
			if !keep {
				return nil
			}
		case <-deadline:
			if !keep {
				return errors.New("no leak reported within 2 minutes")
			}
		}
	}
}

func creator(l leaksentinel.Leak) string {
	if len(l.Creators) == 0 {
		return "(unknown: no dump taken)"
	}
	c := l.Creators[0]
	return fmt.Sprintf("%s at %s:%d", c.Function, c.File, c.Line)
}

// search answers with the fastest backend's reply.
func search(w http.ResponseWriter, r *http.Request) {
	replies := make(chan string) // unbuffered: the bug; make(chan string, 3) fixes it
	for _, backend := range []string{"alpha", "beta", "gamma"} {
		go func() {
			replies <- query(backend, r.URL.Query().Get("q"))
		}()
	}
	select {
	case reply := <-replies:
		fmt.Fprintln(w, reply)
	case <-r.Context().Done():
	}
}

// query pretends to ask a backend: 1 to 5 ms.
func query(backend, q string) string {
	time.Sleep(time.Duration(1+rand.IntN(5)) * time.Millisecond)
	return backend + ": results for " + q
}

// load sends a request every 20 ms, as a well-behaved client does.
func load(ctx context.Context, url string) {
	client := &http.Client{Timeout: 5 * time.Second}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
