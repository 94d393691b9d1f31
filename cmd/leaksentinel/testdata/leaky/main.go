// Leaky is the service watch's tests run against: it imports only
// net/http/pprof (no leaksentinel), serves it on 127.0.0.1 at a free port,
// prints "listening on ADDR", and leaks one goroutine every -every: each
// blocks forever sending on a channel nobody else holds, so the runtime's
// goroutineleak profile can prove it. Healthy goroutines come and go
// besides, as in a service under load.
//
//	go build -o leaky ./cmd/leaksentinel/testdata/leaky && ./leaky -every 10ms
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"
)

func main() {
	every := flag.Duration("every", 10*time.Millisecond, "time between two leaked goroutines")
	limit := flag.Int("max", 100_000, "stop leaking after this many")
	ramp := flag.Duration("ramp", 0, "instead of leaking, ramp load up for this long: more and more requests\nin flight, each waiting -life and leaving")
	life := flag.Duration("life", 150*time.Millisecond, "how long each request of -ramp waits")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	if *ramp > 0 {
		go rampUp(*ramp, *life)
	} else {
		go leakEvery(*every, *limit)
	}
	go churn()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second} // http.DefaultServeMux, where net/http/pprof registers
	log.Fatal(srv.Serve(ln))
}

func leakEvery(every time.Duration, limit int) {
	t := time.NewTicker(every)
	defer t.Stop()
	for range limit {
		<-t.C
		leak()
	}
}

// leak starts a goroutine that blocks forever: nobody receives from reply.
//
//go:noinline
func leak() {
	reply := make(chan int)
	go func() {
		reply <- 42 // the leak: main.leak.func1
	}()
}

// churn keeps a few short-lived goroutines parked at another site, as
// requests in flight do: they come and go, and must not be reported.
func churn() {
	for {
		done := make(chan struct{})
		for range 5 {
			go func() { <-done }()
		}
		time.Sleep(15 * time.Millisecond)
		close(done)
	}
}

// rampUp is growing load, not a leak: every 10ms it starts requests, more
// each time for the length of the ramp, then as many; each waits life and
// leaves. In flight at the waiting line: arrivals times life, rising for the
// whole ramp.
func rampUp(ramp, life time.Duration) {
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		n := 1 + int(20*min(time.Since(start), ramp)/ramp)
		for range n {
			go request(life)
		}
	}
}

// request waits for its backend: the line the ramp's goroutines wait at.
//
//go:noinline
func request(life time.Duration) {
	<-time.After(life) // waiting: main.request
}
