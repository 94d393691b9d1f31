package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// BenchmarkGroup100k runs the binary's group on a real runtime.Stack dump
// of 100,000 parked goroutines, taken from this process, 3 to 10 frames
// deep on a few sites as parkMany in the root package parks them: the
// issue asks for an answer in about a second.
//
//	go test -run '^$' -bench Group100k ./cmd/leaksentinel
func BenchmarkGroup100k(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "dump100k.txt")
	data := parkedDump(b, n)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		args []string
	}{
		{"text", []string{"group", path}},
		{"json-stacks", []string{"group", "--json", "--stacks", path}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out, err := exec.Command(cliBin, bm.args...).Output()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}

// parkedDump parks n goroutines, returns runtime.Stack(all) once every one
// is parked, and releases them.
func parkedDump(b *testing.B, n int) []byte {
	b.Helper()
	var wg sync.WaitGroup
	chans := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{})}
	var mu sync.Mutex
	mu.Lock()
	parked := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() { deep(3+i%8, i%4, chans, &mu, parked) })
	}
	for range n {
		<-parked
	}
	buf := make([]byte, 256<<20)
	var data []byte
	for {
		runtime.Gosched()
		data = buf[:runtime.Stack(buf, true)]
		// Every goroutine has reached its park when none is runnable.
		if !strings.Contains(string(data), " [runnable]:\n") {
			break
		}
	}
	for _, c := range chans {
		close(c)
	}
	mu.Unlock()
	wg.Wait()
	return data
}

//go:noinline
func deep(depth, kind int, chans []chan struct{}, mu *sync.Mutex, parked chan<- struct{}) {
	if depth > 0 {
		deep(depth-1, kind, chans, mu, parked)
		return
	}
	parked <- struct{}{}
	switch kind {
	case 0, 1, 2:
		<-chans[kind]
	default:
		mu.Lock()
		mu.Unlock()
	}
}
