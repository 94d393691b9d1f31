package leaksentinel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel/internal/dump"
)

// captureAll takes the same parked process through every source.
func captureAll(t *testing.T) map[string]*Snapshot {
	t.Helper()
	out := make(map[string]*Snapshot)
	var err error

	out["Capture"], err = Capture()
	require.NoError(t, err)

	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	out["runtime.Stack"], err = ParseDump(bytes.NewReader(buf[:n]))
	require.NoError(t, err)

	for _, debug := range []int{0, 1, 2} {
		var b bytes.Buffer
		require.NoError(t, pprof.Lookup("goroutine").WriteTo(&b, debug))
		name := []string{"debug=0", "debug=1", "debug=2"}[debug]
		if debug == 0 {
			out[name], err = ParseProfile(&b)
		} else {
			out[name], err = ParseDump(&b)
		}
		require.NoError(t, err, name)
	}
	return out
}

// isCapturer reports whether g holds the goroutine that took the capture:
// its site differs with the capturing call.
func isCapturer(g Group) bool {
	if g.State == StateRunning {
		return true // runtime.Stack's own frame is not in its output
	}
	for _, s := range g.Stacks {
		for _, f := range s.Frames {
			switch f.Function {
			case "runtime.Stack", "runtime.GoroutineProfile", "runtime/pprof.writeGoroutine":
				return true
			}
		}
	}
	return false
}

func TestSourcesAgree(t *testing.T) {
	p := park(t)
	snaps := captureAll(t)

	for name, s := range snaps {
		t.Run(name, func(t *testing.T) {
			got := p.counts(s)
			for marker, want := range p.want {
				assert.Equal(t, want.count, got[marker], "site:%s", marker)
			}
			// States agree with the runtime's own header, as this
			// source can tell them.
			for _, g := range s.Groups {
				for marker, want := range p.want {
					if g.Line == want.line && g.Count == want.count {
						assert.Equal(t, want.state.coarsen(s.precision), g.State, "site:%s", marker)
					}
				}
			}
		})
	}

	// Every pair of sources yields the same sites with the same counts,
	// the capturing goroutine aside.
	names := make([]string, 0, len(snaps))
	for name := range snaps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, a := range names {
		for _, b := range names {
			if a >= b {
				continue
			}
			t.Run(a+"~"+b, func(t *testing.T) {
				assert.Empty(t, Diff(withoutCapturer(snaps[a]), withoutCapturer(snaps[b])))
			})
		}
	}
}

func withoutCapturer(s *Snapshot) *Snapshot {
	out := *s
	out.Groups = slices.DeleteFunc(slices.Clone(s.Groups), isCapturer)
	return &out
}

func TestCaptureMemory(t *testing.T) {
	runtime.GC()
	s, err := Capture()
	require.NoError(t, err)
	assert.Positive(t, s.Memory.HeapLive)
	assert.Positive(t, s.Memory.Stacks)
	assert.Greater(t, s.Memory.Total, s.Memory.HeapLive)
	assert.Positive(t, s.Memory.GCCycles)
}

// A ?debug=1 record count no process can hold is an error, never a sum
// that overflows into a negative total. Real text, two edits.
func TestDebug1CountOverflow(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versionDirs(t)[0], "debug1.txt"))
	require.NoError(t, err)
	text := string(data)
	for range 2 {
		i := strings.Index(text, "\n1 @ 0x")
		require.Positive(t, i)
		text = text[:i] + "\n9223372036854775806 @ 0x" + text[i+len("\n1 @ 0x"):]
	}
	s, err := ParseDump(strings.NewReader(text))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad count")
	require.NotNil(t, s)
	checkSnapshot(t, s)
	assert.Positive(t, s.Total)
	for _, g := range s.Groups {
		assert.Positive(t, g.Count)
	}
}

// A legacy CPU profile (the binary format before protobuf) is named as
// such. pprof's own test data holds real ones.
func TestLegacyProfile(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/pprof").Output()
	if err != nil {
		t.Skipf("cannot locate github.com/google/pprof in the module cache for its legacy profiles: %v", err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "profile", "testdata", "gobench.cpu")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Skipf("pprof's legacy CPU profile: %v", err)
	}
	_, err = ParseProfile(bytes.NewReader(data))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "looks like a legacy CPU profile")
	assert.NotContains(t, err.Error(), "field number 0")

	exe, err := os.Executable()
	require.NoError(t, err)
	data, err = os.ReadFile(exe)
	require.NoError(t, err)
	_, err = ParseProfile(bytes.NewReader(data[:4096]))
	assert.ErrorContains(t, err, "looks like an ELF executable")
}

// A dump with more sites, stacks or names than a parse keeps in full folds
// the rest into counted remainders: the total stays exact, memory bounded,
// and the notes say so.
func TestParseBounds(t *testing.T) {
	small := limits{sites: 50, stacks: 80, frames: 1000, names: 1 << 20}
	tests := []struct {
		name     string
		n, depth int
		oneSite  bool
		lim      limits
		folded   int // goroutines in the group with no site
		unkept   int // goroutines at kept sites without their stack
		phrase   string
	}{
		{name: "sites", n: 70, depth: 1, lim: small, folded: 20, phrase: "more than 50 sites: the 20 goroutines"},
		{name: "stacks", n: 100, depth: 1, oneSite: true, lim: small, unkept: 20, phrase: "20 goroutines are counted at their site without their stack"},
		{name: "frames", n: 30, depth: 40, oneSite: true, lim: small, unkept: 5, phrase: "5 goroutines are counted at their site without their stack"},
		{name: "names", n: 2000, depth: 1, lim: limits{names: 64 << 10}, phrase: "the names after it show as \"?\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, dump.WriteHostile(&buf, tt.n, tt.depth, tt.oneSite))
			snaps, err := readDumps(&buf, false, tt.lim, nil)
			require.NoError(t, err)
			require.Len(t, snaps, 1)
			s := snaps[0]
			checkSnapshot(t, s)
			assert.Equal(t, tt.n, s.Total)
			if tt.lim.sites > 0 {
				assert.LessOrEqual(t, len(s.Groups), tt.lim.sites+1)
			}
			rest, unkept := 0, 0
			for _, g := range s.Groups {
				if g.Site == (Site{}) {
					rest = g.Count
					continue
				}
				for _, st := range g.Stacks {
					if len(st.Frames) == 0 {
						unkept += st.Count
					}
				}
			}
			assert.Equal(t, tt.folded, rest)
			assert.Equal(t, tt.unkept, unkept)
			assert.Contains(t, strings.Join(s.Notes(), "\n"), tt.phrase)
		})
	}
}

// A long series keeps what ParseDump returns bounded: the last dump, and a
// note that counts them all. Real text: the first goroutines of a dump,
// written 200 times.
func TestLongSeries(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versionDirs(t)[0], "stack.txt"))
	require.NoError(t, err)
	blocks := strings.SplitAfterN(string(data), "\n\n", 3)
	require.Len(t, blocks, 3)
	one := blocks[0] + blocks[1]
	text := strings.Repeat(one, 200)

	s, err := ParseDump(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, 2, s.Total)
	require.NotEmpty(t, s.Notes())
	assert.Contains(t, s.Notes()[0], "the input holds 200 dumps one after another; this is dump 200, from line ")
	assert.Contains(t, s.Notes()[0], ", and 196 more")

	snaps, err := parseDumpSeries(strings.NewReader(text), nil)
	require.NoError(t, err)
	require.Len(t, snaps, 200)
	for _, s := range snaps {
		assert.Equal(t, 2, s.Total)
		assert.Empty(t, s.Notes(), "a series' snapshots say nothing of the series")
	}
}
