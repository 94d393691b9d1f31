// Heapgrowth reproduces the field guide's memory demo at a safe size: a
// ticker loop appends to a buffer nobody trims, while requests churn
// garbage. No goroutine piles up, but the live heap keeps rising; the
// sentinel notices, writes a heap profile from the start of the growth and
// one at the alert, and prints the go tool pprof -base command that shows
// the growing line. It finishes in about 30 seconds.
//
//	go run ./examples/heapgrowth
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dir, err := os.MkdirTemp("", "heapgrowth-")
	if err != nil {
		logger.Error("heapgrowth", "err", err)
		os.Exit(1)
	}
	alerts := make(chan leaksentinel.HeapGrowth, 1)
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval:   250 * time.Millisecond, // production would keep the 10s default
		HeapWindow: 40,                     // ticks: 10 s here
		ProfileDir: dir,
		Logger:     logger,
		OnHeapGrowth: func(h leaksentinel.HeapGrowth) {
			select {
			case alerts <- h:
			default:
			}
		},
	})
	if err != nil {
		logger.Error("heapgrowth", "err", err)
		os.Exit(1)
	}
	defer s.Stop()
	logger.Info("growing a buffer in a ticker loop", "profiles", dir)

	var buf []byte
	served := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case h := <-alerts:
			fmt.Fprintf(os.Stderr, "\nAfter %d requests the live heap had grown by %.1f MiB (%.1f MiB/min), %.1f MiB held by the buffer,\nwith no goroutine leak. See what grew:\n\n  %s\n\n",
				served, float64(h.Growth)/(1<<20), h.Rate/(1<<20), float64(cap(buf))/(1<<20), h.Command())
			return
		case <-deadline:
			logger.Error("heapgrowth: no alert within 60 s")
			os.Exit(1)
		case <-tick.C:
			buf = append(buf, make([]byte, 32<<10)...) // the leak: 3.2 MiB/s, never trimmed
			served += serve()
		}
	}
}

// serve is a request's worth of garbage: it keeps the collector busy, as a
// service's traffic does.
func serve() int {
	scratch := make([][]byte, 64)
	n := 0
	for i := range scratch {
		scratch[i] = make([]byte, 4<<10)
		n += len(scratch[i])
	}
	return n / (256 << 10)
}
