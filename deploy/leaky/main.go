// Leaky is a service with a goroutine leak, watched by the sentinel, whose
// metrics it serves for Prometheus on 127.0.0.1. The end-to-end test of the
// alerting rules builds it (with -trimpath, as the README recommends) and
// points a real Prometheus at it.
//
//	go run ./leaky -addr 127.0.0.1:9100   # in deploy/
//
// It prints the address of its /metrics on its first line of output, then
// runs until interrupted. The leak: search asks two backends and returns
// with the first reply; the slower one blocks forever sending its reply.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/prom"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address of /metrics")
	interval := flag.Duration("interval", 50*time.Millisecond, "the sentinel's sampling interval (production would use the 10s default)")
	every := flag.Duration("every", 10*time.Millisecond, "time between searches, each leaking a goroutine")
	limit := flag.Int("limit", 20000, "goroutines to leak at most")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *interval, *every, *limit, logger); err != nil {
		logger.Error("leaky", "err", err)
		os.Exit(1)
	}
}

func run(addr string, interval, every time.Duration, limit int, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := leaksentinel.Start(leaksentinel.Options{Interval: interval, Logger: logger, NoConfirm: true})
	if err != nil {
		return err
	}
	defer s.Stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(s, prom.Options{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("http://%s/metrics\n", ln.Addr())

	// A healthy pool beside the leak: its site is large and flat.
	work := make(chan int)
	for range 8 {
		go worker(ctx, work)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return shutdown(srv, served)
		case err := <-served:
			return err
		case <-ticker.C:
			if n < limit {
				search(work)
				n++
			}
		}
	}
}

// search asks two backends and keeps the first answer; the other backend's
// goroutine blocks forever on its send.
func search(work chan<- int) {
	replies := make(chan string) // unbuffered: the leak
	for _, backend := range []string{"fast", "slow"} {
		go func() {
			replies <- backend
		}()
	}
	<-replies
	select {
	case work <- 1:
	default:
	}
}

func worker(ctx context.Context, work <-chan int) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-work:
		}
	}
}

func shutdown(srv *http.Server, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
