package leaksentinel

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/leaksentinel/leaksentinel/internal/parktest"
)

// parkMany parks n goroutines 3 to 10 frames deep on a few sites, like a
// service's worker pools and stuck requests (parktest.Park), waits until
// every one is blocked, and returns a func that releases them.
func parkMany(tb testing.TB, n int) (release func()) {
	tb.Helper()
	release = parktest.Park(n)
	// Let the last ones reach their park.
	for runtime.Gosched(); ; runtime.Gosched() {
		s, err := Capture()
		if err != nil {
			tb.Fatal(err)
		}
		blocked := 0
		for _, g := range s.Groups {
			if g.State != StateRunnable && g.State != StateRunning {
				blocked += g.Count
			}
		}
		if blocked >= n {
			return release
		}
	}
}

var benchCounts = []int{1_000, 10_000, 100_000}

// BenchmarkCapture measures Capture against its floor,
// runtime.GoroutineProfile with a buffer sized once, in the same run.
// max-stw-ns is the largest stop-the-world pause seen during the benchmark
// (histogram bucket upper bound).
func BenchmarkCapture(b *testing.B) {
	for _, n := range benchCounts {
		release := parkMany(b, n)
		b.Run(fmt.Sprintf("floor=GoroutineProfile/n=%d", n), func(b *testing.B) {
			records := make([]runtime.StackRecord, n+n/8+16)
			b.ReportAllocs()
			stw := startSTW()
			for b.Loop() {
				if _, ok := runtime.GoroutineProfile(records); !ok {
					b.Fatal("buffer too small")
				}
			}
			stw.report(b)
		})
		b.Run(fmt.Sprintf("Capture/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			stw := startSTW()
			for b.Loop() {
				if _, err := Capture(); err != nil {
					b.Fatal(err)
				}
			}
			stw.report(b)
		})
		release()
	}
}

// stwWatch reads the runtime's stop-the-world pause histogram.
type stwWatch struct{ before *metrics.Float64Histogram }

const stwMetric = "/sched/pauses/total/other:seconds"

func readSTW() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: stwMetric}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

func startSTW() stwWatch { return stwWatch{before: readSTW()} }

// report adds the largest pause that occurred since start, and returns it
// in nanoseconds.
func (w stwWatch) report(b *testing.B) float64 {
	after := readSTW()
	worst := 0.0
	for i := range after.Counts {
		if after.Counts[i] > w.before.Counts[i] {
			worst = after.Buckets[i+1]
		}
	}
	b.ReportMetric(worst*1e9, "max-stw-ns")
	return worst * 1e9
}

// BenchmarkAlertDump measures the dump an alert takes (the process
// source's runtime.Stack of every goroutine, the world stopped throughout)
// at the goroutine counts around DumpLimit: max-stw-ns is the pause a
// service sees, stw-ns/goroutine that pause per goroutine.
func BenchmarkAlertDump(b *testing.B) {
	for _, n := range []int{1_000, 2_000, 5_000, 10_000} {
		release := parkMany(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			src := newProcessSource()
			src.Dump(b.Context()) // size the buffer, as a second alert finds it
			stw := startSTW()
			for b.Loop() {
				if _, err := src.Dump(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			max := stw.report(b)
			b.ReportMetric(max/float64(runtime.NumGoroutine()), "stw-ns/goroutine")
		})
		release()
	}
}
