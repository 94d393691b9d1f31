package leaksentinel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// expectation is testdata/go1.*/expect.json, written by testdata/gen from
// the park program's own table of what it parked where.
type expectation struct {
	Version     string            `json:"version"`
	Goroutines  int               `json:"goroutines"`
	LeakedTotal int               `json:"leaked_total"`
	Labels      map[string]string `json:"labels"`
	Sites       []expectedSite    `json:"sites"`
}

type expectedSite struct {
	Name      string `json:"name"`
	Function  string `json:"function"`
	State     State  `json:"state"`
	Count     int    `json:"count"`
	CreatedBy string `json:"created_by"`
	File      string `json:"file"` // base name
	Line      int    `json:"line"`
	Leaked    bool   `json:"leaked"`
}

func loadExpectation(t *testing.T, dir, name string) expectation {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	var e expectation
	require.NoError(t, json.Unmarshal(data, &e))
	return e
}

// find returns the group of s at the expected site, whatever its state.
func find(s *Snapshot, want expectedSite) (Group, bool) {
	for _, g := range s.Groups {
		if g.Function == want.Function && filepath.Base(g.File) == want.File && g.Line == want.Line {
			return g, true
		}
	}
	return Group{}, false
}

func versionDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "go1.*"))
	require.NoError(t, err)
	require.Len(t, dirs, 2, "fixtures for Go 1.26 and 1.27: run go run ./testdata/gen")
	return dirs
}

func parseFile(t *testing.T, path string) (*Snapshot, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	if filepath.Ext(path) == ".gz" && filepath.Ext(path[:len(path)-3]) == ".pb" {
		return ParseProfile(f)
	}
	return ParseDump(f)
}

// TestFixtures checks every capture of the park program against what it
// parked. Assertions are partial and order-free: the runtime adds
// goroutines of its own in some formats, and the format drifts between
// releases.
func TestFixtures(t *testing.T) {
	tests := []struct {
		file      string
		precision classify.Precision
		creators  bool // the format prints "created by"
		leaked    bool // every goroutine the runtime proved leaked is marked
		onlyLeak  bool // the file holds only the leaked goroutines
		minutes   bool
		labels    bool
	}{
		{file: "stack.txt", creators: true},
		{file: "debug2.txt", creators: true},
		{file: "stack_minutes.txt", creators: true, minutes: true, labels: true},
		{file: "ancestors.txt", creators: true},
		{file: "labels.txt", creators: true, labels: true},
		{file: "stack_leaked.txt", creators: true, leaked: true},
		{file: "panic.txt", creators: true},
		{file: "sigquit.txt", creators: true},
		{file: "system.txt", creators: true},
		{file: "debug1.txt", precision: classify.UserFrames, labels: true},
		{file: "goroutine.pb.gz", precision: classify.Frames, labels: true},
		{file: "goroutineleak.pb.gz", precision: classify.Frames, leaked: true, onlyLeak: true, labels: true},
		{file: "goroutineleak.debug1.txt", precision: classify.UserFrames, leaked: true, onlyLeak: true, labels: true},
	}
	for _, dir := range versionDirs(t) {
		want := loadExpectation(t, dir, "expect.json")
		for _, tt := range tests {
			t.Run(filepath.Join(filepath.Base(dir), tt.file), func(t *testing.T) {
				s, err := parseFile(t, filepath.Join(dir, tt.file))
				require.NoError(t, err)
				checkSnapshot(t, s)
				if tt.onlyLeak {
					assert.Equal(t, want.LeakedTotal, s.Total)
				} else {
					assert.GreaterOrEqual(t, s.Total, want.Goroutines)
				}
				for _, site := range want.Sites {
					g, ok := find(s, site)
					if tt.onlyLeak && !site.Leaked {
						assert.False(t, ok, "site:%s is not leaked but is in the leak profile", site.Name)
						continue
					}
					if !assert.True(t, ok, "site:%s %s %s:%d not found", site.Name, site.Function, site.File, site.Line) {
						continue
					}
					assert.Equal(t, site.Count, g.Count, "site:%s", site.Name)
					assert.Equal(t, site.State.coarsen(tt.precision), g.State, "site:%s", site.Name)
					if tt.creators {
						if assert.NotEmpty(t, g.Creators, "site:%s", site.Name) {
							assert.Equal(t, site.CreatedBy, g.Creators[0].Function, "site:%s", site.Name)
							assert.Equal(t, site.Count, g.Creators[0].Count, "site:%s", site.Name)
						}
					} else {
						assert.Empty(t, g.Creators, "site:%s", site.Name)
					}
					if tt.leaked && site.Leaked {
						assert.Equal(t, site.Count, g.Leaked, "site:%s", site.Name)
					} else {
						assert.Zero(t, g.Leaked, "site:%s", site.Name)
					}
					if tt.minutes {
						assert.GreaterOrEqual(t, g.OldestWait, time.Minute, "site:%s", site.Name)
					} else {
						assert.Zero(t, g.OldestWait, "site:%s", site.Name)
					}
					if tt.labels && site.Name == "labels" {
						wantLabels := make(map[string][]string)
						for k, v := range want.Labels {
							wantLabels[k] = []string{v}
						}
						assert.Equal(t, wantLabels, g.Labels)
					} else {
						assert.Nil(t, g.Labels, "site:%s", site.Name)
					}
				}
			})
		}
	}
}

// TestFixturesAgree: the same parked process, whatever wrote it down,
// yields the same sites with the same counts.
func TestFixturesAgree(t *testing.T) {
	files := []string{
		"debug2.txt", "debug1.txt", "goroutine.pb.gz", "stack_minutes.txt",
		"ancestors.txt", "labels.txt", "stack_leaked.txt",
	}
	for _, dir := range versionDirs(t) {
		base, err := parseFile(t, filepath.Join(dir, "stack.txt"))
		require.NoError(t, err)
		for _, file := range files {
			t.Run(filepath.Join(filepath.Base(dir), file), func(t *testing.T) {
				s, err := parseFile(t, filepath.Join(dir, file))
				require.NoError(t, err)
				assert.Empty(t, Diff(withoutCapturer(base), withoutCapturer(s)))
			})
		}
	}
}

// TestLeakDemo is the field guide's demo: 20,000 goroutines blocked at
// `outCh <- 0` in main.alloc2.func1, started by main.alloc1.
func TestLeakDemo(t *testing.T) {
	tests := []struct {
		file      string
		precision classify.Precision
		creators  bool
	}{
		{file: "leak_demo.stack.txt.gz", creators: true},
		{file: "leak_demo.pb.gz", precision: classify.Frames},
		{file: "leak_demo.debug1.txt.gz", precision: classify.UserFrames},
	}
	for _, dir := range versionDirs(t) {
		want := loadExpectation(t, dir, "leak_demo.expect.json")
		var site expectedSite
		data, err := os.ReadFile(filepath.Join(dir, "leak_demo.expect.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &site))
		require.Equal(t, 20000, site.Count, want.Version)
		for _, tt := range tests {
			t.Run(filepath.Join(filepath.Base(dir), tt.file), func(t *testing.T) {
				s, err := parseFile(t, filepath.Join(dir, tt.file))
				require.NoError(t, err)
				require.NotEmpty(t, s.Groups)
				g := s.Groups[0]
				assert.Equal(t, "main.alloc2.func1", g.Function)
				assert.Equal(t, "leak_demo.go", filepath.Base(g.File))
				assert.Equal(t, 53, g.Line)
				assert.Equal(t, 20000, g.Count)
				assert.Equal(t, StateChanSend.coarsen(tt.precision), g.State)
				if tt.creators {
					require.Len(t, g.Creators, 1)
					assert.Equal(t, "main.alloc1", g.Creators[0].Function)
				}
			})
		}
	}
}

func TestTruncatedFixture(t *testing.T) {
	for _, dir := range versionDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			full, err := parseFile(t, filepath.Join(dir, "stack.txt"))
			require.NoError(t, err)
			s, err := parseFile(t, filepath.Join(dir, "truncated.txt"))
			require.ErrorIs(t, err, ErrTruncated)
			assert.Contains(t, err.Error(), "leaksentinel: dump: line ")
			require.NotNil(t, s)
			checkSnapshot(t, s)
			assert.Less(t, s.Total, full.Total)
			assert.Positive(t, s.Total)
		})
	}
}

// shapesManifest is testdata/shapes/go1.*/manifest.json, written by
// go run ./testdata/gen -shapes.
type shapesManifest struct {
	Version string `json:"version"`
	Files   []struct {
		File string   `json:"file"`
		From []string `json:"from"`
		How  string   `json:"how"`
	} `json:"files"`
}

func shapeDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "shapes", "go1.*"))
	require.NoError(t, err)
	require.Len(t, dirs, 2, "shapes for Go 1.26 and 1.27: run go run ./testdata/gen -shapes")
	return dirs
}

func loadShapes(t *testing.T, dir string) shapesManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	var m shapesManifest
	require.NoError(t, json.Unmarshal(data, &m))
	require.NotEmpty(t, m.Files)
	return m
}

// TestShapes reads every capture as people paste it (indented, tabs turned
// into spaces, quoted, fenced, CRLF, after a log prefix, glued to a log
// message, without its final newline) and compares it, site by site and
// stack by stack, with the clean capture.
func TestShapes(t *testing.T) {
	for _, dir := range shapeDirs(t) {
		m := loadShapes(t, dir)
		clean := filepath.Join("testdata", filepath.Base(dir))
		for _, f := range m.Files {
			if len(f.From) != 1 {
				continue // a series or a run of its own
			}
			t.Run(filepath.Join(filepath.Base(dir), f.File), func(t *testing.T) {
				want, err := parseFile(t, filepath.Join(clean, f.From[0]))
				require.NoError(t, err)
				got, err := parseFile(t, filepath.Join(dir, f.File))
				require.NoError(t, err, f.How)
				checkSnapshot(t, got)
				assert.Equal(t, want.Total, got.Total, f.How)
				assert.Equal(t, want.precision, got.precision)
				assert.Empty(t, Diff(want, got), f.How)
				assert.Equal(t, want.Groups, got.Groups, "sites, stacks, creators: %s", f.How)
				for _, n := range got.Notes() {
					assert.NotContains(t, n, "dumps one after another", f.How)
				}
			})
		}
	}
}

// TestSeries reads files holding several captures one after another: each
// comes out as a snapshot of its own, the same as the capture read alone,
// and ParseDump returns the last and says how many there were.
func TestSeries(t *testing.T) {
	for _, dir := range shapeDirs(t) {
		m := loadShapes(t, dir)
		clean := filepath.Join("testdata", filepath.Base(dir))
		for _, f := range m.Files {
			if len(f.From) < 2 {
				continue
			}
			t.Run(filepath.Join(filepath.Base(dir), f.File), func(t *testing.T) {
				var parts []*Snapshot
				for _, p := range f.From {
					s, err := parseFile(t, filepath.Join(clean, p))
					require.NoError(t, err)
					parts = append(parts, s)
				}
				file, err := os.Open(filepath.Join(dir, f.File))
				require.NoError(t, err)
				defer file.Close()
				seen := map[int]int{}
				snaps, err := parseDumpSeries(file, func(i int, _ *stack.Table, g *stack.Goroutine) { seen[i] += g.Count })
				require.NoError(t, err)
				require.Len(t, snaps, len(parts), f.How)
				for i, s := range snaps {
					checkSnapshot(t, s)
					assert.Equal(t, parts[i].Total, s.Total, "dump %d: %s", i, f.How)
					assert.Equal(t, parts[i].Total, seen[i], "dump %d: goroutines handed to each", i)
					assert.Empty(t, Diff(parts[i], s), "dump %d: %s", i, f.How)
					assert.Equal(t, parts[i].Groups, s.Groups, "dump %d", i)
				}

				last, err := parseFile(t, filepath.Join(dir, f.File))
				require.NoError(t, err)
				assert.Equal(t, parts[len(parts)-1].Groups, last.Groups, "ParseDump returns the last dump")
				require.NotEmpty(t, last.Notes())
				assert.Contains(t, last.Notes()[0], fmt.Sprintf("the input holds %d dumps one after another; this is dump %d", len(parts), len(parts)))
			})
		}
	}
}

// TestCrashTracebacks reads real panics under GOTRACEBACK=system and
// crash, whose panicking goroutine has the runtime's "panic(...)" frame on
// top, and a crash SIGQUIT dump whose thread sections print goroutines
// again.
func TestCrashTracebacks(t *testing.T) {
	for _, dir := range shapeDirs(t) {
		clean := filepath.Join("testdata", filepath.Base(dir))
		want := loadExpectation(t, clean, "expect.json")
		panicked, err := parseFile(t, filepath.Join(clean, "panic.txt"))
		require.NoError(t, err)
		for _, file := range []string{"panic_system.txt.gz", "panic_crash.txt.gz", "sigquit_crash.txt.gz"} {
			t.Run(filepath.Join(filepath.Base(dir), file), func(t *testing.T) {
				s, err := parseFile(t, filepath.Join(dir, file))
				require.NoError(t, err)
				checkSnapshot(t, s)
				for _, site := range want.Sites {
					g, ok := find(s, site)
					if assert.True(t, ok, "site:%s", site.Name) {
						assert.Equal(t, site.Count, g.Count, "site:%s", site.Name)
						assert.Equal(t, site.State, g.State, "site:%s", site.Name)
					}
				}
				if file == "sigquit_crash.txt.gz" {
					require.NotEmpty(t, s.Notes())
					assert.Contains(t, strings.Join(s.Notes(), "\n"), "counted once")
					return
				}
				// The panicking goroutine's site is where it
				// panicked, as in the GOTRACEBACK=all panic.
				wantSite := runningSite(t, panicked)
				assert.Equal(t, "main.crash", wantSite.Function)
				assert.Equal(t, wantSite, runningSite(t, s))
			})
		}
	}
}

// runningSite returns the site of the goroutine of s that panicked.
func runningSite(t *testing.T, s *Snapshot) Site {
	t.Helper()
	for _, g := range s.Groups {
		for _, st := range g.Stacks {
			for _, f := range st.Frames {
				if f.Function == "main.crash" {
					return Site{State: g.State, Function: g.Function, File: filepath.Base(g.File), Line: g.Line}
				}
			}
		}
	}
	t.Fatal("no goroutine in main.crash")
	return Site{}
}
