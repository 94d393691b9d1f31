package leaksentinel

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
)

// BenchmarkSentinelSample measures one tick of a sentinel at default
// settings on a process with n parked goroutines:
//
//   - full: the goroutine count moved, so the tick takes a full capture
//     and updates the detector (the cost of a sample);
//   - idle: the count did not move, so the tick only reads runtime/metrics
//     (the per-tick cost when nothing changed);
//   - floor: runtime.GoroutineProfile alone, the cheapest full look.
//
// max-stw-ns is the longest stop of the world seen during the run.
func BenchmarkSentinelSample(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		release := parkMany(b, n)
		b.Run(fmt.Sprintf("floor/n=%d", n), func(b *testing.B) {
			records := make([]runtime.StackRecord, n+n/8+16)
			stw := startSTW()
			for b.Loop() {
				if _, ok := runtime.GoroutineProfile(records); !ok {
					b.Fatal("buffer too small")
				}
			}
			stw.report(b)
		})
		b.Run(fmt.Sprintf("full/n=%d", n), func(b *testing.B) {
			s := newSentinel(Options{Logger: slog.New(slog.DiscardHandler), MaxSkip: -1}.withDefaults())
			b.ReportAllocs()
			stw := startSTW()
			for b.Loop() {
				s.sample()
			}
			stw.report(b)
			if s.Stats().Captures != s.Stats().Ticks {
				b.Fatal("a sample was skipped")
			}
		})
		b.Run(fmt.Sprintf("idle/n=%d", n), func(b *testing.B) {
			s := newSentinel(Options{Logger: slog.New(slog.DiscardHandler), MaxSkip: 1 << 30}.withDefaults())
			s.sample() // the first sample always captures
			b.ReportAllocs()
			stw := startSTW()
			for b.Loop() {
				s.sample()
			}
			stw.report(b)
			if s.Stats().Captures != 1 {
				b.Fatalf("%d captures: the count moved", s.Stats().Captures)
			}
		})
		release()
	}
}
