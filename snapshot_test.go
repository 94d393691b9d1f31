package leaksentinel

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
