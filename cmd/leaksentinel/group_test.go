package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/dump"
)

// fixtureDirs returns the module's testdata/go1.* directories.
func fixtureDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "go1.*"))
	require.NoError(t, err)
	require.Len(t, dirs, 2, "fixtures for Go 1.26 and 1.27")
	return dirs
}

// fixtures returns every capture in dir, and the other files.
func fixtures(t *testing.T, dir string) (captures, others []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		if name == "VERSION" || strings.HasSuffix(name, ".json") {
			others = append(others, name)
		} else {
			captures = append(captures, name)
		}
	}
	require.NotEmpty(t, captures)
	return captures, others
}

// expectation is the part of testdata/go1.*/expect.json and
// leak_demo.expect.json the tests read: what the programs parked where.
type expectation struct {
	Goroutines  int            `json:"goroutines"`
	LeakedTotal int            `json:"leaked_total"`
	Sites       []expectedSite `json:"sites"`
}

type expectedSite struct {
	Name      string `json:"name"`
	Function  string `json:"function"`
	State     string `json:"state"`
	Count     int    `json:"count"`
	CreatedBy string `json:"created_by"`
	File      string `json:"file"` // base name
	Line      int    `json:"line"`
	Leaked    bool   `json:"leaked"`
}

func loadExpectation(t *testing.T, path string) expectation {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var e expectation
	require.NoError(t, json.Unmarshal(data, &e))
	if e.Sites == nil { // leak_demo.expect.json is one site
		var s expectedSite
		require.NoError(t, json.Unmarshal(data, &s))
		e.Sites = []expectedSite{s}
		e.Goroutines = s.Count
	}
	return e
}

// precisionOf is how precisely a format names states.
func precisionOf(f format) classify.Precision {
	switch f {
	case formatProto:
		return classify.Frames
	case formatDebug1:
		return classify.UserFrames
	}
	return classify.Text
}

// groupOutput is what group --json prints, as a reader decodes it: the
// input's facts and its sites in the library's one JSON shape of a site.
type groupOutput struct {
	jsonInput
	Error  string       `json:"error"`
	Groups []siteOutput `json:"sites"`
}

type siteOutput struct {
	State             string  `json:"state"`
	Function          string  `json:"function"`
	File              string  `json:"file"`
	Line              int     `json:"line"`
	Count             int     `json:"count"`
	Leaked            int     `json:"leaked"`
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"`
	Creators          []struct {
		Function string `json:"function"`
		File     string `json:"file"`
		Line     int    `json:"line"`
		Count    int    `json:"count"`
	} `json:"created_by"`
	Stacks        []json.RawMessage `json:"stacks"`
	Source        *listing          `json:"source"`
	CreatorSource *listing          `json:"creator_source"`
}

func findSite(r groupOutput, want expectedSite) (siteOutput, bool) {
	for _, g := range r.Groups {
		if g.Function == want.Function && filepath.Base(g.File) == want.File && g.Line == want.Line {
			return g, true
		}
	}
	return siteOutput{}, false
}

// TestGroupFixtures runs group on every capture in testdata/go1.*, as JSON
// and as text, and checks the sites the programs parked. Assertions are
// partial and order-free: the runtime adds goroutines of its own, and the
// formats drift between releases.
func TestGroupFixtures(t *testing.T) {
	t.Parallel()
	for _, dir := range fixtureDirs(t) {
		park := loadExpectation(t, filepath.Join(dir, "expect.json"))
		demo := loadExpectation(t, filepath.Join(dir, "leak_demo.expect.json"))
		captures, _ := fixtures(t, dir)
		for _, name := range captures {
			path := filepath.Join(dir, name)
			t.Run(filepath.Join(filepath.Base(dir), name), func(t *testing.T) {
				t.Parallel()
				got := runCLI(t, nil, "group", "--json", "--stacks", path)
				var r groupOutput
				require.NoError(t, json.Unmarshal([]byte(got.stdout), &r), "%s", got)
				assert.Equal(t, path, r.File)
				assert.Equal(t, wantFormat(name), r.Format)
				assert.Equal(t, strings.HasSuffix(name, ".gz"), r.Gzip)
				assert.Positive(t, r.Total)
				assert.Len(t, r.Groups, r.Sites)

				if name == "truncated.txt" {
					// Exit 3, the error naming the file and the line,
					// and the goroutines that were complete.
					assert.Equal(t, exitInput, got.code, "%s", got)
					assert.Contains(t, got.stderr, path+": dump: line ")
					assert.Contains(t, got.stderr, "truncated")
					assert.Contains(t, r.Error, "truncated")
					return
				}
				require.Equal(t, exitOK, got.code, "%s", got)
				assert.Empty(t, r.Error)

				want, leakOnly := park, strings.HasPrefix(name, "goroutineleak.")
				if strings.HasPrefix(name, "leak_demo.") {
					want = demo
				}
				if leakOnly {
					assert.Equal(t, want.LeakedTotal, r.Total)
				} else {
					assert.GreaterOrEqual(t, r.Total, want.Goroutines)
				}
				p := precisionOf(r.Format)
				for _, site := range want.Sites {
					g, ok := findSite(r, site)
					if leakOnly && !site.Leaked {
						assert.False(t, ok, "site:%s is not leaked but is in the leak profile", site.Name)
						continue
					}
					if !assert.True(t, ok, "site:%s %s not found", site.Name, site.Function) {
						continue
					}
					assert.Equal(t, site.Count, g.Count, "site:%s", site.Name)
					assert.Equal(t, classify.Coarsen(site.State, p), g.State, "site:%s", site.Name)
					assert.NotEmpty(t, g.Stacks, "site:%s", site.Name)
					if leakOnly {
						assert.Equal(t, g.Count, g.Leaked, "site:%s", site.Name)
					}
					if r.Format == formatText && site.CreatedBy != "" {
						require.NotEmpty(t, g.Creators, "site:%s", site.Name)
						assert.Equal(t, site.CreatedBy, g.Creators[0].Function, "site:%s", site.Name)
					}
				}
			})
		}
	}
}

func wantFormat(name string) format {
	switch {
	case strings.HasSuffix(name, ".pb.gz"):
		return formatProto
	case strings.Contains(name, "debug1"):
		return formatDebug1
	}
	return formatText
}

// TestGroupText checks the text output of the leak demo in every format.
func TestGroupText(t *testing.T) {
	t.Parallel()
	for _, dir := range fixtureDirs(t) {
		for _, tt := range []struct {
			file  string
			state string
			want  []string
		}{
			{file: "leak_demo.stack.txt.gz", state: "chan send", want: []string{"text dump, gzipped, 20001 goroutines", "CREATED BY", "main.alloc1 leak_demo.go:42"}},
			{file: "leak_demo.pb.gz", state: "chan send", want: []string{"pprof profile, gzipped, 20001 goroutines", ", taken "}},
			{file: "leak_demo.debug1.txt.gz", state: "unknown", want: []string{"?debug=1 text", `note: ?debug=1 text hides`}},
		} {
			t.Run(filepath.Join(filepath.Base(dir), tt.file), func(t *testing.T) {
				got := runCLI(t, nil, "group", filepath.Join(dir, tt.file))
				require.Equal(t, exitOK, got.code, "%s", got)
				for _, w := range tt.want {
					assert.Contains(t, got.stdout, w)
				}
				first := firstRow(t, got.stdout)
				assert.Equal(t, []string{"20000", "100.0%", tt.state, "main.alloc2.func1", "leak_demo.go:53"}, first[:5])
			})
		}
	}
}

// firstRow returns the fields of the table's first row, splitting states
// of two words back together.
func firstRow(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "COUNT") {
			require.Greater(t, len(lines), i+1)
			f := strings.Fields(lines[i+1])
			if len(f) > 3 && (f[2] == "chan") {
				f = append(f[:2], append([]string{f[2] + " " + f[3]}, f[4:]...)...)
			}
			return f
		}
	}
	t.Fatalf("no table in\n%s", out)
	return nil
}

// TestGroupStacksSource checks --stacks and --source on the leak demo,
// whose source is in the repository, and reading standard input.
func TestGroupStacksSource(t *testing.T) {
	t.Parallel()
	dir := fixtureDirs(t)[0]
	path := filepath.Join(dir, "leak_demo.stack.txt.gz")
	srcDir := filepath.Join("..", "..", "testdata", "leakdemo")

	got := runCLI(t, nil, "group", "--stacks", "--source", "--source-dir", srcDir, path)
	require.Equal(t, exitOK, got.code, "%s", got)
	for _, want := range []string{
		"20000 goroutines at [chan send] main.alloc2.func1 ",
		"20000 with this stack:\n    main.alloc2.func1\n    \t",
		"leak_demo.go:53\n",
		"    created by main.alloc1\n",
		"20000    53  \t\toutCh <- 0 // site:alloc2\n", // the site's line, marked with its count
		"created by:\n",
		"go alloc2(outCh)", // the creator's line
	} {
		assert.Contains(t, got.stdout, want)
	}

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	got = runCLI(t, f, "group", "--json", "--source", "--source-dir", srcDir, "--top", "1", "-")
	require.Equal(t, exitOK, got.code, "%s", got)
	var r groupOutput
	require.NoError(t, json.Unmarshal([]byte(got.stdout), &r))
	assert.Equal(t, "stdin", r.File)
	assert.Equal(t, 2, r.Sites)
	require.Len(t, r.Groups, 1)
	require.NotNil(t, r.Groups[0].Source)
	assert.Equal(t, 53, r.Groups[0].Source.Line)
	assert.Contains(t, r.Groups[0].Source.Lines, sourceLine{Line: 53, Text: "\t\toutCh <- 0 // site:alloc2"})
	require.NotNil(t, r.Groups[0].CreatorSource)
	assert.Equal(t, 42, r.Groups[0].CreatorSource.Line)
}

// TestGroupNotADump checks the files of testdata that are not captures:
// exit 3, the error naming the file.
func TestGroupNotADump(t *testing.T) {
	t.Parallel()
	dir := fixtureDirs(t)[0]
	_, others := fixtures(t, dir)
	require.NotEmpty(t, others)
	for _, name := range others {
		path := filepath.Join(dir, name)
		got := runCLI(t, nil, "group", path)
		assert.Equal(t, exitInput, got.code, "%s", got)
		assert.Contains(t, got.stderr, "leaksentinel group: "+path+": ")
		assert.Empty(t, got.stdout)
	}
	got := runCLI(t, strings.NewReader(""), "group", "-")
	assert.Equal(t, exitInput, got.code)
	assert.Contains(t, got.stderr, "stdin: empty input")

	// A gzip stream cut short is a gzip error, not a dump "truncated"
	// somewhere: the goroutines before the cut are printed, and exit 3.
	data, err := os.ReadFile(filepath.Join(dir, "leak_demo.stack.txt.gz"))
	require.NoError(t, err)
	cut := filepath.Join(t.TempDir(), "cut.txt.gz")
	require.NoError(t, os.WriteFile(cut, data[:len(data)/2], 0o600))
	got = runCLI(t, nil, "group", cut)
	assert.Equal(t, exitInput, got.code, "%s", got)
	assert.Contains(t, got.stderr, cut+": gzip: after ")
	assert.Contains(t, got.stderr, "unexpected EOF")
	assert.Contains(t, got.stdout, "the input has errors: these are the goroutines that could be read")
	assert.Contains(t, got.stdout, "main.alloc2.func1")
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		give string
		want format
	}{
		{name: "runtime.Stack", give: "goroutine 1 [running]:\nmain.main()\n", want: formatText},
		{name: "panic", give: "\npanic: boom\n\ngoroutine 1 [running]:\n", want: formatText},
		{name: "debug=1", give: "goroutine profile: total 3\n2 @ 0x1 0x2\n", want: formatDebug1},
		{name: "goroutineleak debug=1", give: "goroutineleak profile: total 3\n", want: formatDebug1},
		{name: "log line before", give: "2026/01/02 a profile: total 3\n", want: formatText},
		{name: "protobuf", give: "\x0a\x0d\x08\x01\x10\x02", want: formatProto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, sniff([]byte(tt.give)))
		})
	}
}

// TestGroupNotes: group says what the parser noted: several dumps in one
// input (it shows the last), and sites past the parser's memory bound,
// shown as one row.
func TestGroupNotes(t *testing.T) {
	t.Parallel()
	series := filepath.Join("..", "..", "testdata", "shapes", "go1.26", "series.log.txt.gz")
	got := runCLI(t, nil, "group", series)
	require.Equal(t, exitOK, got.code, "%s", got)
	assert.Contains(t, got.stdout, "\nnote: the input holds 3 dumps one after another; this is dump 3, from line ")

	got = runCLI(t, nil, "group", "--json", series)
	var r groupOutput
	require.NoError(t, json.Unmarshal([]byte(got.stdout), &r), "%s", got)
	require.NotEmpty(t, r.Notes)
	assert.Contains(t, r.Notes[0], "3 dumps")

	var hostile bytes.Buffer
	require.NoError(t, dump.WriteHostile(&hostile, 10_200, 1, false))
	got = runCLI(t, &hostile, "group", "--stacks", "-")
	require.Equal(t, exitOK, got.code, "%s", got)
	assert.Contains(t, got.stdout, "stdin: text dump, 10200 goroutines at 10001 sites\n")
	assert.Contains(t, got.stdout, "note: more than 10000 sites: the 200 goroutines at the sites past them are counted in one group with no site")
	assert.Regexp(t, `(?m)^\s+200\s+\S+\s+-?\s*\(other sites, past the parser's bound\)$`, got.stdout)
}
