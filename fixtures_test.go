package leaksentinel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel/internal/classify"
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
