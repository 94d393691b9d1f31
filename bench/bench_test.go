package bench

import (
	"bytes"
	"flag"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel"
)

// goroutines is the size of the benchmarks' dump. It is not called -n,
// which go test takes for itself (print the commands, run nothing).
var goroutines = flag.Int("goroutines", 100_000, "goroutines parked in the dump BenchmarkParseDump parses")

// parser is one contender: it reads a dump and groups its goroutines.
type parser struct {
	name  string
	parse func(io.Reader) (grouping, error)
}

var parsers = []parser{
	{name: "leaksentinel", parse: parseLeaksentinel},
	{name: "gostackparse", parse: parseGostackparse},
	{name: "panicparse", parse: parsePanicparse},
}

// parseLeaksentinel is ParseDump in the shape of the peers.
func parseLeaksentinel(r io.Reader) (grouping, error) {
	s, err := leaksentinel.ParseDump(r)
	if s == nil {
		return nil, err
	}
	return fromSnapshot(s), err
}

// TestSameGrouping checks that every parser finds the same sites with the
// same counts and the same distinct stacks, so that the benchmark compares
// parsers doing the same job.
func TestSameGrouping(t *testing.T) {
	const n = 2_000
	data := realDump(t, n)
	want, err := parseLeaksentinel(bytes.NewReader(data))
	require.NoError(t, err)
	require.GreaterOrEqual(t, want.total(), n)

	for _, p := range parsers[1:] { // the peers
		t.Run(p.name, func(t *testing.T) {
			got, err := p.parse(bytes.NewReader(data))
			require.NoError(t, err)
			assert.Equal(t, want.counts(), got.counts())
			for site, w := range want {
				if g, ok := got[site]; ok {
					assert.ElementsMatch(t, w.stacks, g.stacks, "stacks of %v", site)
				}
			}
		})
	}
}

// BenchmarkParseDump parses a real debug=2 dump of -goroutines parked
// goroutines (100k by default, 102 MB) with each parser, grouping
// them by site with their distinct stacks. The dump is taken once per
// process, outside the timed loops, so that every -count round parses the
// same bytes.
func BenchmarkParseDump(b *testing.B) {
	data := benchDump(b, *goroutines)
	ours, err := parseLeaksentinel(bytes.NewReader(data))
	require.NoError(b, err)
	total := ours.total()
	for _, p := range parsers {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.parse(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(total), "ns/goroutine")
		})
	}
}

// dumps holds the benchmarks' dump by size, taken on first use.
var dumps struct {
	sync.Mutex
	byN map[int][]byte
}

func benchDump(b *testing.B, n int) []byte {
	b.Helper()
	dumps.Lock()
	defer dumps.Unlock()
	if data, ok := dumps.byN[n]; ok {
		return data
	}
	data := realDump(b, n)
	if dumps.byN == nil {
		dumps.byN = make(map[int][]byte)
	}
	dumps.byN[n] = data
	return data
}
