// Command leak_demo is the classic goroutine leak demonstration: main calls
// alloc1 in a loop, alloc1 starts alloc2 in a new goroutine, and alloc2
// allocates a buffer and sends on a channel nobody ever reads, so every
// goroutine stays blocked at the send in main.alloc2.func1 forever, keeping
// its buffer alive.
//
// It is run by ../gen, which turns its output into the leak_demo.* fixtures
// in ../go1.NN; see ../README.md. The send is on line 53 of this file, the
// line the well-known article shows (the generator checks it).
//
// Once all goroutines have parked, it writes into the -out directory
// leak_demo.stack.txt (runtime.Stack(buf, true)), leak_demo.debug1.txt and
// leak_demo.pb.gz (the goroutine profile with debug=1 and debug=0).
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

const leaks = 20000 // goroutines leaked

func main() {
	out := flag.String("out", ".", "directory to write captures into")
	flag.Parse()

	outCh := make(chan int)
	for range leaks {
		alloc1(outCh)
	}
	waitParked()
	capture(*out)
}

func alloc1(outCh chan<- int) {
	go alloc2(outCh)
}

// alloc2 is not inlined, so its closure is main.alloc2.func1 (inlined into
// alloc1's go statement wrapper, it would be main.alloc1.gowrap1.alloc2.1).
//
//go:noinline
func alloc2(outCh chan<- int) {
	func() {
		buf := make([]byte, 1024)
		_ = len(buf)
		outCh <- 0 // site:alloc2
	}()
}

// allStacks returns runtime.Stack(buf, true) with a buffer large enough.
func allStacks() []byte {
	buf := make([]byte, 16<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitParked waits until every leaked goroutine is blocked in "chan send"
// in two consecutive dumps.
func waitParked() {
	deadline := time.Now().Add(60 * time.Second)
	stable := 0
	for stable < 2 {
		time.Sleep(100 * time.Millisecond)
		if time.Now().After(deadline) {
			log.Fatalf("goroutines did not park: %d goroutines", runtime.NumGoroutine())
		}
		if runtime.NumGoroutine() != leaks+1 {
			stable = 0
			continue
		}
		dump := string(allStacks())
		if strings.Count(dump, " [chan send]:\n") != leaks || strings.Contains(dump, " [runnable]:\n") {
			stable = 0
			continue
		}
		stable++
	}
}

func capture(dir string) {
	if err := os.WriteFile(filepath.Join(dir, "leak_demo.stack.txt"), allStacks(), 0o644); err != nil {
		log.Fatal(err)
	}
	for name, debug := range map[string]int{"leak_demo.debug1.txt": 1, "leak_demo.pb.gz": 0} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
