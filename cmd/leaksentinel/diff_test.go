package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runDiffJSON(t *testing.T, args ...string) (jsonDiffReport, result) {
	t.Helper()
	got := runCLI(t, nil, append([]string{"diff", "--json"}, args...)...)
	var r jsonDiffReport
	if got.code == exitOK || got.code == exitFound {
		require.NoError(t, json.Unmarshal([]byte(got.stdout), &r), "%s", got)
	}
	return r, got
}

// TestDiffFixtures diffs every capture of the park program against
// stack.txt of the same Go release, across formats: the program parks the
// same goroutines at every capture, so none of its sites may change. The
// runtime's own goroutines (the one writing the dump) may.
func TestDiffFixtures(t *testing.T) {
	t.Parallel()
	for _, dir := range fixtureDirs(t) {
		park := loadExpectation(t, filepath.Join(dir, "expect.json"))
		base := filepath.Join(dir, "stack.txt")
		captures, _ := fixtures(t, dir)
		for _, name := range captures {
			path := filepath.Join(dir, name)
			t.Run(filepath.Join(filepath.Base(dir), name), func(t *testing.T) {
				t.Parallel()
				// Against itself: nothing changed.
				self, got := runDiffJSON(t, path, path)
				if name == "truncated.txt" {
					assert.Equal(t, exitInput, got.code, "%s", got)
					assert.Contains(t, got.stderr, path+": dump: line ")
					assert.Empty(t, got.stdout)
					return
				}
				require.Equal(t, exitOK, got.code, "%s", got)
				assert.Empty(t, self.Deltas)
				assert.Equal(t, self.Base.Total, self.Cur.Total)

				if strings.HasPrefix(name, "leak_demo.") || strings.HasPrefix(name, "goroutineleak.") {
					return
				}
				r, got := runDiffJSON(t, base, path)
				require.Equal(t, exitOK, got.code, "%s", got)
				assert.Equal(t, coarser(formatText, wantFormat(name)), r.States)
				for _, d := range r.Deltas {
					for _, site := range park.Sites {
						if d.Function == site.Function && d.Line == site.Line {
							t.Errorf("site:%s changed from %d to %d", site.Name, d.Before, d.After)
						}
					}
				}
			})
		}
	}
}

// TestDiffLeakDemo diffs the park program against the leak demo: the
// demo's site grew by 20000, whatever the formats.
func TestDiffLeakDemo(t *testing.T) {
	t.Parallel()
	for _, dir := range fixtureDirs(t) {
		for _, tt := range []struct{ base, cur, states, state string }{
			{"stack.txt", "leak_demo.stack.txt.gz", "text", "chan send"},
			{"goroutine.pb.gz", "leak_demo.stack.txt.gz", "proto", "chan send"},
			{"debug2.txt", "leak_demo.pb.gz", "proto", "chan send"},
			{"debug1.txt", "leak_demo.pb.gz", "debug1", "unknown"},
		} {
			t.Run(filepath.Join(filepath.Base(dir), tt.base+"-"+tt.cur), func(t *testing.T) {
				t.Parallel()
				base, cur := filepath.Join(dir, tt.base), filepath.Join(dir, tt.cur)
				r, got := runDiffJSON(t, base, cur)
				require.Equal(t, exitOK, got.code, "%s", got)
				assert.Equal(t, format(tt.states), r.States)
				require.NotEmpty(t, r.Deltas)
				d := r.Deltas[0]
				assert.Equal(t, "main.alloc2.func1", d.Function)
				assert.Equal(t, "leak_demo.go", filepath.Base(d.File))
				assert.Equal(t, 53, d.Line)
				assert.Equal(t, tt.state, d.State)
				assert.Equal(t, jsonDelta{jsonSite: d.jsonSite, Before: 0, After: 20000, Growth: 20000}, d)

				// --fail-on-growth: exit 1 when a site grew by N or more,
				// output as usual; the other way round nothing grew by
				// that much.
				got = runCLI(t, nil, "diff", "--fail-on-growth", "100", base, cur)
				assert.Equal(t, exitFound, got.code, "%s", got)
				assert.Contains(t, got.stdout, "+20000")
				assert.Contains(t, got.stdout, "main.alloc2.func1 leak_demo.go:53")
				assert.Contains(t, got.stderr, "main.alloc2.func1")
				assert.Contains(t, got.stderr, "grew by 20000 (--fail-on-growth 100)")

				got = runCLI(t, nil, "diff", "--fail-on-growth", "100", cur, base)
				assert.Equal(t, exitOK, got.code, "%s", got)
				assert.Contains(t, got.stdout, "-20000")
			})
		}
	}
}

func TestDiffText(t *testing.T) {
	t.Parallel()
	dir := fixtureDirs(t)[0]
	got := runCLI(t, nil, "diff", "--top", "1", filepath.Join(dir, "debug2.txt"), filepath.Join(dir, "leak_demo.pb.gz"))
	require.Equal(t, exitOK, got.code, "%s", got)
	for _, want := range []string{
		"base: " + filepath.Join(dir, "debug2.txt") + " (text dump, ",
		"cur:  " + filepath.Join(dir, "leak_demo.pb.gz") + " (pprof profile, 20001 goroutines)",
		"states compared as the pprof profile shows them",
		"GROWTH  BEFORE  AFTER  SITE\n",
		"+20000       0  20000  [chan send] main.alloc2.func1 leak_demo.go:53\n",
		"more\n",
	} {
		assert.Contains(t, got.stdout, want)
	}

	got = runCLI(t, nil, "diff", filepath.Join(dir, "stack.txt"), filepath.Join(dir, "stack.txt"))
	assert.Equal(t, exitOK, got.code, "%s", got)
	assert.Contains(t, got.stdout, "no site changed")

	got = runCLI(t, nil, "diff", filepath.Join(dir, "stack.txt"), "no/such/file")
	assert.Equal(t, exitInput, got.code, "%s", got)
	assert.Contains(t, got.stderr, "no/such/file")
}
