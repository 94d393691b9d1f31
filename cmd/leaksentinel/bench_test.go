package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/leaksentinel/leaksentinel/internal/parktest"
)

// BenchmarkGroup100k runs the binary's group on a real runtime.Stack dump
// of 100,000 parked goroutines, taken from this process, 3 to 10 frames
// deep on a few sites (parktest.Park, as the root package's benchmarks): the
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

// parkedDump parks n goroutines (parktest.Park), returns runtime.Stack(all)
// once every one is parked, and releases them.
func parkedDump(b *testing.B, n int) []byte {
	b.Helper()
	release := parktest.Park(n)
	defer release()
	buf := make([]byte, 256<<20)
	for {
		runtime.Gosched()
		data := buf[:runtime.Stack(buf, true)]
		// Every goroutine has reached its park when none is runnable.
		if !strings.Contains(string(data), " [runnable]:\n") {
			return data
		}
	}
}
