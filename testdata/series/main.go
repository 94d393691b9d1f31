// Series is a small service that leaks, saved as a cron job would save it:
// it serves net/http/pprof on 127.0.0.1, and every -every it fetches its
// own /debug/pprof/goroutine twice, as ?debug=2 text and as the ?debug=0
// profile, into DIR/dumps/NNN.txt and DIR/profiles/NNN.pb.gz. Meanwhile
// one handler leaks two goroutines a step (a reply nobody reads), requests
// come and go at another line, and a pool of workers waits at a third.
//
//	go run ./testdata/series -out testdata/series/go1.26
//	GOTOOLCHAIN=go1.27.3 go run ./testdata/series -out testdata/series/go1.27
//
// The tests replay the series through the sentinel's Replay and, served back
// one file per request, through its HTTP source, and compare the alerts.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("out", "", "directory to write the series into (replaced)")
	steps := flag.Int("steps", 40, "samples to save")
	every := flag.Duration("every", 200*time.Millisecond, "time between two samples")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, nil)
	base := "http://" + ln.Addr().String() + "/debug/pprof/goroutine"

	tmp, err := os.MkdirTemp(filepath.Dir(*out), ".series-")
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range []string{"dumps", "profiles"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			log.Fatal(err)
		}
	}
	pool := make(chan int)
	for range 8 {
		go worker(pool)
	}
	go requests()
	for i := range *steps {
		leak()
		leak()
		time.Sleep(*every)
		save(base+"?debug=2", filepath.Join(tmp, "dumps", fmt.Sprintf("%03d.txt", i)))
		save(base+"?debug=0", filepath.Join(tmp, "profiles", fmt.Sprintf("%03d.pb.gz", i)))
	}
	if err := os.RemoveAll(*out); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		log.Fatal(err)
	}
}

// leak starts a goroutine that waits for ever for a reply nobody sends.
//
//go:noinline
func leak() {
	reply := make(chan int)
	go func() {
		<-reply // the leak: main.leak.func1
	}()
}

// worker is a pool's: it waits for work that never comes, but the pool
// does not grow.
func worker(jobs chan int) {
	for range jobs {
	}
}

// requests come and go: a handful in flight at a time.
func requests() {
	for {
		done := make(chan struct{})
		for range 4 {
			go func() { <-done }() // requests in flight: main.requests.func1
		}
		time.Sleep(30 * time.Millisecond)
		close(done)
	}
}

func save(url, name string) {
	resp, err := http.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		log.Fatal(err)
	}
}
