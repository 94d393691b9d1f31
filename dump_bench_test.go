package leaksentinel

import (
	"bytes"
	"runtime"
	"testing"
)

// BenchmarkParseDump parses a real debug=2 dump of 100k parked goroutines,
// taken from this process, keeping full stacks per group. The text is
// runtime.Stack's, which /debug/pprof/goroutine?debug=2 serves, taken with a
// buffer big enough: pprof's own loop gives up at 64 MiB and truncates.
func BenchmarkParseDump(b *testing.B) {
	const n = 100_000
	release := parkMany(b, n)
	buf := make([]byte, 256<<20)
	data := buf[:runtime.Stack(buf, true)]
	release()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var s *Snapshot
	for b.Loop() {
		var err error
		s, err = ParseDump(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(s.Total), "ns/goroutine")
	if s.Total < n {
		b.Fatalf("parsed %d goroutines, want at least %d", s.Total, n)
	}
}
