package dump

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/stack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type goroutine struct {
	id, parent int64
	state      string
	funcs      []string
	createdBy  string
	ancestors  []int64
	elided     bool
}

// parseFixture parses a real dump into plain records.
func parseFixture(t *testing.T, path string) ([]goroutine, Info, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var tab stack.Table
	var out []goroutine
	info, err := Parse(f, &tab, func(g *stack.Goroutine) {
		r := goroutine{id: g.ID, parent: g.ParentID, state: tab.String(g.State),
			createdBy: tab.String(g.CreatedBy.Func), elided: g.Elided}
		for _, fr := range g.Frames {
			r.funcs = append(r.funcs, tab.String(fr.Func))
		}
		for _, a := range g.Ancestors {
			r.ancestors = append(r.ancestors, a.ID)
		}
		out = append(out, r)
	})
	return out, info, err
}

func versions(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "go1.*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	return dirs
}

// The grandchild chain: "created by main.spawnChild in goroutine N" names
// the parent, and with tracebackancestors the whole line of ancestors is
// there, each "[originating from goroutine N]:" block in order.
func TestAncestors(t *testing.T) {
	for _, dir := range versions(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			gs, _, err := parseFixture(t, filepath.Join(dir, "ancestors.txt"))
			require.NoError(t, err)
			found := 0
			for _, g := range gs {
				if len(g.funcs) == 0 || g.funcs[0] != "main.parkGrandchild" {
					continue
				}
				found++
				assert.Equal(t, "main.spawnChild", g.createdBy)
				require.NotEmpty(t, g.ancestors)
				assert.Equal(t, g.parent, g.ancestors[0], "the first ancestor is the parent")
				assert.GreaterOrEqual(t, len(g.ancestors), 2, "parent and grandparent")
			}
			assert.Positive(t, found)
		})
	}
}

func TestParentIDs(t *testing.T) {
	for _, dir := range versions(t) {
		gs, _, err := parseFixture(t, filepath.Join(dir, "stack.txt"))
		require.NoError(t, err)
		for _, g := range gs {
			if g.id == 1 {
				assert.Zero(t, g.parent)
				continue
			}
			assert.NotEmpty(t, g.createdBy, "goroutine %d", g.id)
			assert.Positive(t, g.parent, "goroutine %d", g.id)
		}
	}
}

func TestElided(t *testing.T) {
	for _, dir := range versions(t) {
		gs, _, err := parseFixture(t, filepath.Join(dir, "stack.txt"))
		require.NoError(t, err)
		elided := 0
		for _, g := range gs {
			if g.elided {
				elided++
				assert.Equal(t, "main.parkDeep", g.funcs[0])
				assert.Equal(t, "main.startDeep", g.createdBy, "created by survives the elision")
			}
		}
		assert.Positive(t, elided)
	}
}

// Lines around a dump (log output, "panic: ...", register dumps) are not
// goroutines and do not confuse the parser.
func TestSurroundingText(t *testing.T) {
	for _, dir := range versions(t) {
		for _, file := range []string{"panic.txt", "sigquit.txt", "system.txt"} {
			t.Run(filepath.Join(filepath.Base(dir), file), func(t *testing.T) {
				gs, info, err := parseFixture(t, filepath.Join(dir, file))
				require.NoError(t, err)
				assert.Equal(t, len(gs), info.Goroutines)
				assert.Greater(t, len(gs), 300)
			})
		}
	}
}

// Bad input is reported at its line, and what is good is still read.
func TestErrorsNameTheLine(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versions(t)[0], "stack.txt"))
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	// Break the third goroutine's header (real text, one edit).
	n := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "goroutine ") {
			if n++; n == 3 {
				lines[i] = strings.Replace(l, "]:", ":", 1)
				break
			}
		}
	}
	broken := strings.Join(lines, "\n")
	var tab stack.Table
	count := 0
	info, err := Parse(strings.NewReader(broken), &tab, func(*stack.Goroutine) { count++ })
	require.Error(t, err)
	assert.Regexp(t, `^line \d+: goroutine header: `, err.Error())
	assert.Positive(t, count)
	assert.Equal(t, info.Goroutines, count)

	_, err = Parse(strings.NewReader("no goroutines here\njust a log\n"), &tab, func(*stack.Goroutine) {})
	assert.True(t, errors.Is(err, ErrNoGoroutines))
}

// failingReader returns data, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A read that fails is reported as such, not only as a truncated dump.
func TestReadError(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versions(t)[0], "stack.txt"))
	require.NoError(t, err)
	boom := errors.New("connection reset")
	var tab stack.Table
	count := 0
	_, err = Parse(&failingReader{data: data[:len(data)/2], err: boom}, &tab, func(*stack.Goroutine) { count++ })
	require.ErrorIs(t, err, boom)
	assert.Regexp(t, `^after line \d+: read: connection reset`, err.Error())
	assert.Positive(t, count, "what was read is still passed on")
}

// parseText parses text into plain records.
func parseText(t *testing.T, text string) ([]goroutine, Info, error) {
	t.Helper()
	var tab stack.Table
	var out []goroutine
	info, err := Parse(strings.NewReader(text), &tab, func(g *stack.Goroutine) {
		r := goroutine{id: g.ID, state: tab.String(g.State), createdBy: tab.String(g.CreatedBy.Func)}
		for _, fr := range g.Frames {
			r.funcs = append(r.funcs, tab.String(fr.Func))
		}
		out = append(out, r)
	})
	return out, info, err
}

// A value receiver printed in parentheses is part of the name, not the
// start of the arguments. Real text, one edit: the receiver form of a
// method value.
func TestValueReceiver(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versions(t)[0], "stack.txt"))
	require.NoError(t, err)
	const name = "example.com/safemem.(Writer).WriteFromBlocks-fm"
	text := strings.Replace(string(data), "\nmain.parkChanRecv(", "\n"+name+"(", 1)
	require.NotEqual(t, string(data), text)
	gs, _, err := parseText(t, text)
	require.NoError(t, err)
	found := false
	for _, g := range gs {
		found = found || slices.Contains(g.funcs, name)
	}
	assert.True(t, found, "no frame named %s", name)
}

// A gccgo traceback prints function names without their arguments; the
// error says so at the first one, not that goroutines have no frames.
func TestGccgo(t *testing.T) {
	gccgo, err := exec.LookPath("gccgo")
	if err != nil {
		t.Skip("gccgo is not installed (apt-get install gccgo): no real gccgo traceback to read")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte(`package main

func main() {
	ch := make(chan int)
	go func() { ch <- 1 }()
	go func() { ch <- 2 }()
	panic("boom")
}
`), 0o644))
	bin := filepath.Join(dir, "p")
	out, err := exec.Command(gccgo, "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.Error(t, cmd.Run(), "the program panics")
	require.Contains(t, stderr.String(), "goroutine 1 [running]:")

	_, _, err = parseText(t, stderr.String())
	require.Error(t, err)
	assert.Regexp(t, `line \d+: goroutine 1: function line "main.main" has no argument list, and a file line follows: this looks like a gccgo`, err.Error())
	assert.NotContains(t, err.Error(), "has no frames")
	assert.ErrorIs(t, err, ErrNoGoroutines)
}

// A ?debug=1 file cut inside a record names the record, not "goroutine 0".
func TestDebug1Cut(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versions(t)[0], "debug1.txt"))
	require.NoError(t, err)
	i := strings.Index(string(data), "\n1 @ 0x")
	require.Positive(t, i)
	cut := string(data[:i+len("\n1 @ 0x")+20])
	recordLine := strings.Count(string(data[:i+1]), "\n") + 1
	gs, info, err := parseText(t, cut)
	require.ErrorIs(t, err, ErrTruncated)
	assert.True(t, info.Truncated)
	assert.Positive(t, len(gs))
	assert.Contains(t, err.Error(), fmt.Sprintf("input ends inside the ?debug=1 record of 1 goroutine (started at line %d)", recordLine))
	assert.NotContains(t, err.Error(), "goroutine 0")
}

// Goroutines deeper than the runtime ever prints keep their first
// maxFrames frames, and a note says so.
func TestDeepGoroutine(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(versions(t)[0], "stack.txt"))
	require.NoError(t, err)
	first, _, ok := strings.Cut(string(data), "\n\n")
	require.True(t, ok)
	lines := strings.Split(first, "\n")
	frame := lines[1] + "\n" + lines[2] + "\n" // a function line and its file line
	deep := lines[0] + "\n" + strings.Repeat(frame, 3*maxFrames) + "\n"
	gs, info, err := parseText(t, deep)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Len(t, gs[0].funcs, maxFrames)
	require.Len(t, info.Notes, 1)
	assert.Contains(t, info.Notes[0], "deeper than 1024 frames keeps its first 1024")
}
