package leaksentinel

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtures returns the files of testdata/go1.*/ whose names match suffix.
func fixtures(t testing.TB, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "go1.*", "*"+suffix))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no testdata/go1.*/*%s: run go run ./testdata/gen", suffix)
	return files
}

// checkSnapshot asserts what must hold of any snapshot, whatever the input.
func checkSnapshot(t testing.TB, s *Snapshot) {
	t.Helper()
	sum := 0
	for i, g := range s.Groups {
		sum += g.Count
		if i > 0 && g.Count > s.Groups[i-1].Count {
			t.Fatalf("groups not sorted: %d after %d", g.Count, s.Groups[i-1].Count)
		}
		stacks := 0
		for _, st := range g.Stacks {
			stacks += st.Count
		}
		if stacks != g.Count {
			t.Fatalf("group %v: stacks count %d, group %d", g.Site, stacks, g.Count)
		}
		creators := 0
		for _, c := range g.Creators {
			creators += c.Count
		}
		if creators > g.Count || g.Leaked > g.Count || g.LockedToThread > g.Count {
			t.Fatalf("group %v: counts exceed the group: %+v", g.Site, g)
		}
	}
	if sum != s.Total {
		t.Fatalf("groups add up to %d, total %d", sum, s.Total)
	}
}

func FuzzParseDump(f *testing.F) {
	for _, suffix := range []string{".txt"} {
		for _, file := range fixtures(f, suffix) {
			data, err := os.ReadFile(file)
			require.NoError(f, err)
			if len(data) > 4<<10 {
				// Seeds are best small: keep the head, which holds
				// every line form the file has near its start.
				data = data[:4<<10]
			}
			f.Add(data)
		}
	}
	// The shapes people paste dumps in, and series of dumps: the head,
	// and the tail where a file ends without its newline or a series
	// starts its next dump.
	shapes, err := filepath.Glob(filepath.Join("testdata", "shapes", "go1.*", "*.txt.gz"))
	require.NoError(f, err)
	require.NotEmpty(f, shapes, "no testdata/shapes: run go run ./testdata/gen -shapes")
	for _, file := range shapes {
		data := gunzipFile(f, file)
		f.Add(data[:min(len(data), 4<<10)])
		f.Add(data[max(0, len(data)-2<<10):])
		if i := bytes.LastIndex(data, []byte("\ngoroutine 1 ")); i > bytes.Index(data, []byte("\ngoroutine 1 ")) {
			f.Add(data[max(0, i-2<<10):min(len(data), i+2<<10)])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseDump(bytes.NewReader(data))
		if s == nil {
			if err == nil {
				t.Fatal("nil snapshot and nil error")
			}
			return
		}
		checkSnapshot(t, s)
		if err != nil && !strings.HasPrefix(err.Error(), "leaksentinel: ") {
			t.Fatalf("error without prefix: %v", err)
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	for _, file := range fixtures(f, ".pb.gz") {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(data)
		if raw, err := readProfile(bytes.NewReader(data)); err == nil {
			f.Add(raw) // uncompressed, so the fuzzer can mutate the protobuf
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseProfile(bytes.NewReader(data))
		if err != nil {
			if s != nil {
				t.Fatal("snapshot with an error")
			}
			if !strings.HasPrefix(err.Error(), "leaksentinel: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		checkSnapshot(t, s)
	})
}

// TestParseDumpCutAnywhere cuts a real dump at many points: what is
// returned is always a part of the whole, and a cut inside a goroutine says
// it was truncated.
func TestParseDumpCutAnywhere(t *testing.T) {
	for _, file := range fixtures(t, "stack.txt") {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			whole, err := ParseDump(bytes.NewReader(data))
			require.NoError(t, err)
			full := make(map[Site]int)
			for _, g := range whole.Groups {
				full[g.Site] = g.Count
			}
			step := max(1, len(data)/3000)
			for cut := 1; cut < len(data); cut += step {
				s, err := ParseDump(bytes.NewReader(data[:cut]))
				if s == nil {
					require.Error(t, err)
					continue
				}
				checkSnapshot(t, s)
				for _, g := range s.Groups {
					if !assert.LessOrEqual(t, g.Count, full[g.Site], "cut at %d: %v", cut, g.Site) {
						return
					}
				}
				if data[cut-1] == '\n' {
					continue
				}
				// runtime.Stack output is goroutines and the blank
				// lines between them: a cut mid-line is inside a
				// goroutine, and the goroutine is left out, unless
				// the cut only took the end of a PC offset, when
				// the line is as good as whole.
				start := bytes.LastIndexByte(data[:cut], '\n') + 1
				if inOffset(data[start:cut]) {
					end := cut + bytes.IndexByte(data[cut:], '\n') + 1
					whole, wholeErr := ParseDump(bytes.NewReader(data[:end]))
					assert.Equal(t, errors.Is(wholeErr, ErrTruncated), errors.Is(err, ErrTruncated), "cut at %d", cut)
					assert.Empty(t, Diff(whole, s), "cut at %d", cut)
					continue
				}
				if !assert.ErrorIs(t, err, ErrTruncated, "cut at %d", cut) {
					return
				}
			}
		})
	}
}

// inOffset reports whether a partial file line has reached the hex digits
// of its PC offset: "\t/x/main.go:24 +0x1".
func inOffset(line []byte) bool {
	i := bytes.Index(line, []byte(" +0x"))
	return len(line) > 0 && line[0] == '\t' && i > 0 && len(line) > i+4
}

func gunzipFile(tb testing.TB, path string) []byte {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(tb, err)
	data, err := io.ReadAll(zr)
	require.NoError(tb, err)
	return data
}
