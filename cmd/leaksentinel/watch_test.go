package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startLeaky starts the leaky service (testdata/leaky) and returns its
// address; the test's cleanup kills it.
func startLeaky(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(leakyBin, append([]string{"-every", "10ms"}, args...)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "leaky printed %q", line)
	return addr
}

// servesLeakProfile reports whether the service at addr serves the
// goroutineleak profile: Go 1.27 does, Go 1.26 only built with
// GOEXPERIMENT=goroutineleakprofile.
func servesLeakProfile(t *testing.T, addr string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutineleak")
	require.NoError(t, err)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode == http.StatusOK
}

// watchProc is a running watch whose stdout lines arrive on lines.
type watchProc struct {
	cmd    *exec.Cmd
	lines  chan string // closed at EOF
	stderr bytes.Buffer
	all    []string // lines received so far
}

func startWatch(t *testing.T, args ...string) *watchProc {
	t.Helper()
	p := &watchProc{cmd: exec.Command(cliBin, append([]string{"watch"}, args...)...), lines: make(chan string, 100)}
	out, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = &p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.wait()
	})
	return p
}

// next returns the next line for which match is true, or fails after
// timeout.
func (p *watchProc) next(t *testing.T, timeout time.Duration, match func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("watch exited before the line expected; stdout:\n%s\nstderr:\n%s", strings.Join(p.all, "\n"), p.stderr.String())
			}
			p.all = append(p.all, l)
			if match(l) {
				return l
			}
		case <-deadline:
			p.cmd.Process.Kill()
			p.wait()
			t.Fatalf("no line expected within %v; stdout:\n%s\nstderr:\n%s", timeout, strings.Join(p.all, "\n"), p.stderr.String())
		}
	}
}

// wait drains stdout and waits for the process, returning its exit code.
func (p *watchProc) wait() int {
	for l := range p.lines {
		p.all = append(p.all, l)
	}
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return p.cmd.ProcessState.ExitCode()
}

// interrupt sends SIGINT and returns the exit code.
func (p *watchProc) interrupt(t *testing.T) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	return p.wait()
}

// watchEvent is a JSON line of watch or replay: an event, with the fields
// of a leak (the library's one JSON shape of a site) flattened into it.
type watchEvent struct {
	Event          string       `json:"event"`
	State          string       `json:"state"`
	Function       string       `json:"function"`
	File           string       `json:"file"`
	Count          int          `json:"count"`
	Growth         int          `json:"growth"`
	Sample         int          `json:"sample"`
	Confirmed      bool         `json:"confirmed"`
	ProvedAt       string       `json:"proved_at"`
	ConfirmNote    string       `json:"confirm_note"`
	Creators       []frame      `json:"created_by"`
	Stack          []frame      `json:"stack"`
	Error          string       `json:"error"`
	RetryIn        float64      `json:"retry_in_seconds"`
	Samples        int          `json:"samples"`
	Failed         int          `json:"failed"`
	Leaking        []watchEvent `json:"leaking_sites"`
	LeaksReported  int          `json:"leaks_reported"`
	WindowSamples  int          `json:"window_samples"`
	RatePerMinute  float64      `json:"rate_per_minute"`
	IntervalSecond float64      `json:"interval_seconds"`
	Note           string       `json:"note"`
	Order          string       `json:"order"`
	TurnedOver     int          `json:"turned_over"`
}

type frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

func parseEvent(t *testing.T, line string) watchEvent {
	t.Helper()
	var ev watchEvent
	require.NoError(t, json.Unmarshal([]byte(line), &ev), "line %q", line)
	return ev
}

// TestWatchLeaky watches a real service that leaks a goroutine every
// 10ms: the alert names the leaking function, its creator (from the one
// ?debug=2 dump an alert takes), and, where the service serves the
// goroutineleak profile, is confirmed by it. SIGINT stops the watch with
// a summary and exit 0.
func TestWatchLeaky(t *testing.T) {
	t.Parallel()
	addr := startLeaky(t)
	confirmable := servesLeakProfile(t, addr)
	t.Logf("the service serves the goroutineleak profile: %v", confirmable)
	p := startWatch(t, "--json", "--interval", "50ms", "--window", "6", addr)

	start := parseEvent(t, p.next(t, 10*time.Second, func(string) bool { return true }))
	assert.Equal(t, "start", start.Event)
	assert.Equal(t, 0.05, start.IntervalSecond)

	line := p.next(t, 60*time.Second, func(l string) bool { return strings.Contains(l, `"event":"leak"`) })
	ev := parseEvent(t, line)
	assert.Equal(t, "main.leak.func1", ev.Function, "the first leak reported: %s", line)
	assert.Equal(t, "chan send", ev.State)
	assert.True(t, strings.HasSuffix(ev.File, "testdata/leaky/main.go"), ev.File)
	assert.GreaterOrEqual(t, ev.Growth, 3)
	assert.GreaterOrEqual(t, ev.Count, ev.Growth)
	assert.GreaterOrEqual(t, ev.WindowSamples, 6)
	assert.Positive(t, ev.RatePerMinute)
	require.NotEmpty(t, ev.Creators, "%s", line)
	assert.Equal(t, "main.leak", ev.Creators[0].Function)
	require.NotEmpty(t, ev.Stack)
	assert.Equal(t, "main.leak.func1", ev.Stack[0].Function)
	if confirmable {
		assert.True(t, ev.Confirmed, "%s", line)
		assert.NotEmpty(t, ev.ProvedAt)
	} else {
		assert.False(t, ev.Confirmed)
		assert.Contains(t, ev.ConfirmNote, "does not serve the goroutineleak profile")
	}

	assert.Equal(t, exitOK, p.interrupt(t), "stderr:\n%s", p.stderr.String())
	require.NotEmpty(t, p.all)
	sum := parseEvent(t, p.all[len(p.all)-1])
	assert.Equal(t, "summary", sum.Event)
	assert.GreaterOrEqual(t, sum.Samples, 6)
	assert.Zero(t, sum.Failed)
	assert.GreaterOrEqual(t, sum.LeaksReported, 1)
	require.NotEmpty(t, sum.Leaking)
	assert.Equal(t, "main.leak.func1", sum.Leaking[0].Function)
	for _, l := range p.all {
		// The healthy churn comes and goes: never reported.
		assert.NotContains(t, l, "main.churn")
		var ev watchEvent
		assert.NoError(t, json.Unmarshal([]byte(l), &ev), "every line is JSON: %q", l)
	}
}

// TestWatchDebug2ExitOnLeak polls ?debug=2 text, prints for people, and
// stops by itself at the first leak with exit 1.
func TestWatchDebug2ExitOnLeak(t *testing.T) {
	t.Parallel()
	addr := startLeaky(t)
	got := runCLI(t, nil, "watch", "--debug2", "--exit-on-leak", "--duration", "60s", "--interval", "50ms", "--window", "6", addr)
	require.Equal(t, exitFound, got.code, "%s", got)
	for _, want := range []string{
		"watching http://" + addr + "/debug/pprof/goroutine?debug=2 every 50ms (?debug=2 text",
		" LEAK: ",
		" at [chan send] main.leak.func1 main.go:",
		"    created by main.leak ",
		"    main.leak.func1\n    \t",
		"leaking: 1 site\n",
	} {
		assert.Contains(t, got.stdout, want)
	}
	assert.NotContains(t, got.stdout, "\x1b[K", "no status line when stdout is not a terminal")
	assert.Contains(t, got.stderr, "leaksentinel watch: 1 site leaking")
}

// TestWatchRetries points watch at endpoints that fail in each way it
// must survive: it reports every failure, retries with growing waits, and
// stops cleanly on SIGINT.
func TestWatchRetries(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	ln.Close()

	failing := func(code int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			w.Write([]byte(body))
		})
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	// A body cut mid-way: the dump parser alone would take the cut for
	// the end of a smaller dump.
	dump := make([]byte, 1<<20)
	dump = dump[:runtime.Stack(dump, true)]
	cutShort := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(dump)+100))
		w.Write(dump)
	})
	var calls atomic.Int32
	recovering := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		pprof.Lookup("goroutine").WriteTo(w, 0)
	})

	tests := []struct {
		name    string
		handler http.Handler // nil: the refused address
		args    []string
		want    []string // in stderr
	}{
		{name: "refused", want: []string{"connect: connection refused (failure 1; retrying in 40ms)", "(failure 2; retrying in 80ms)", "(failure 3; retrying in 160ms)"}},
		{name: "500", handler: failing(500, "boom\nmore"), want: []string{"/debug/pprof/goroutine: 500 Internal Server Error: boom (failure 1; retrying in 40ms)", "(failure 3;"}},
		{name: "404", handler: http.NotFoundHandler(), want: []string{"404 Not Found: 404 page not found (does the service import net/http/pprof", "(failure 3;"}},
		{name: "not a profile", handler: failing(200, "<html>hello</html>\n"), want: []string{"no goroutines found", "(failure 3;"}},
		{name: "cut short", handler: cutShort, args: []string{"--debug2"}, want: []string{"read: after ", "unexpected EOF (failure 1; retrying in 40ms)", "(failure 3;"}},
		{name: "timeout", handler: hang, args: []string{"--timeout", "30ms"}, want: []string{"no answer within 30ms (timeout)", "(failure 3;"}},
		{name: "recovers", handler: recovering, want: []string{"503 Service Unavailable: warming up (failure 3; retrying in 160ms)", "sampling again after 3 failures"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := refused
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				addr = srv.URL
			}
			p := startWatch(t, append([]string{"--interval", "20ms"}, append(tt.args, addr)...)...)
			p.next(t, 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "watching ") })
			time.Sleep(1200 * time.Millisecond)
			// Stopped without one successful sample, watch fails, so
			// that a CI gate on it cannot pass silently.
			want := exitInput
			if tt.name == "recovers" {
				want = exitOK
			}
			assert.Equal(t, want, p.interrupt(t), "stderr:\n%s", p.stderr.String())
			stderr := p.stderr.String()
			for _, want := range tt.want {
				assert.Contains(t, stderr, want)
			}
			assert.NotContains(t, stderr, "panic")
			assert.NotContains(t, stderr, "goroutine ")
			out := strings.Join(p.all, "\n")
			assert.Contains(t, out, "stopped after ")
			if tt.name == "recovers" {
				assert.Regexp(t, `[1-9]\d* samples?, 3 failed`, out)
			} else {
				assert.Contains(t, out, ": 0 samples, ")
			}
		})
	}
}

// TestWatchJSONErrors checks that failures are JSON events too, with the
// back-off capped at 16 intervals.
func TestWatchJSONErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	got := runCLI(t, nil, "watch", "--json", "--interval", "5ms", "--duration", "1s", srv.URL)
	require.Equal(t, exitInput, got.code, "no successful sample: %s", got)
	assert.Contains(t, got.stderr, "no successful sample in ")
	var retries []float64
	var last watchEvent
	for l := range strings.Lines(got.stdout) {
		ev := parseEvent(t, l)
		if ev.Event == "error" {
			assert.Contains(t, ev.Error, "500 Internal Server Error: down")
			retries = append(retries, ev.RetryIn)
		}
		last = ev
	}
	require.GreaterOrEqual(t, len(retries), 6, "%s", got.stdout)
	assert.Equal(t, []float64{0.01, 0.02, 0.04, 0.08, 0.08, 0.08}, retries[:6])
	assert.Equal(t, "summary", last.Event)
	assert.Equal(t, len(retries), last.Failed)
	assert.Empty(t, last.Leaking)
}

// TestWatchStatusLine runs watch in process as if on a terminal, against
// this process's own goroutine profile: a status line rewritten in place.
func TestWatchStatusLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Lookup("goroutine").WriteTo(w, 0)
	}))
	defer srv.Close()
	got := runInProcess(t.Context(), nil, true, "watch", "--interval", "10ms", "--duration", "300ms", srv.URL)
	require.Equal(t, exitOK, got.code, "%s", got)
	assert.Regexp(t, `\r\x1b\[Ksamples [1-9]\d* \| goroutines `, got.stdout)
	assert.Contains(t, got.stdout, " | suspects 0")
	assert.Contains(t, got.stdout, "\r\x1b[Kstopped after ", "the summary erases the status line")

	got = runInProcess(t.Context(), nil, true, "watch", "--json", "--interval", "10ms", "--duration", "100ms", srv.URL)
	require.Equal(t, exitOK, got.code, "%s", got)
	assert.NotContains(t, got.stdout, "\r", "no status line in JSON")
}

// TestWatchTruncatedDump serves a ?debug=2 dump cut short, as pprof's
// stops at 64 MiB: the complete goroutines make the sample, with a note.
func TestWatchTruncatedDump(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtureDirs(t)[0], "truncated.txt"))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "2", r.FormValue("debug"))
		w.Write(data)
	}))
	defer srv.Close()
	got := runInProcess(t.Context(), nil, false, "watch", "--json", "--debug2", "--interval", "10ms", "--duration", "200ms", srv.URL)
	require.Equal(t, exitOK, got.code, "%s", got)
	var notes []string
	var last watchEvent
	for l := range strings.Lines(got.stdout) {
		last = parseEvent(t, l)
		if last.Event == "note" {
			notes = append(notes, l)
		}
	}
	require.Len(t, notes, 1, "one note, not one a sample: %s", got.stdout)
	assert.Contains(t, notes[0], "dump truncated")
	assert.Contains(t, notes[0], "counts are partial")
	assert.Equal(t, "summary", last.Event)
	assert.Positive(t, last.Samples)
	assert.Zero(t, last.Failed)
}

// TestWatchRampIsNotALeak watches a service whose load ramps for longer
// than half a window, its requests each waiting three samples: the waiting
// line's floor rises steadily, but its goroutines leave, and watch, being
// the sentinel, holds the alert back as the in-process sentinel does
// (turnover check; the clock is read from ?debug=2 every few samples).
func TestWatchRampIsNotALeak(t *testing.T) {
	t.Parallel()
	addr := startLeaky(t, "-ramp", "4s", "-life", "150ms")
	got := runCLI(t, nil, "watch", "--json", "--interval", "50ms", "--duration", "4s", addr)
	require.Equal(t, exitOK, got.code, "%s", got)
	var last watchEvent
	for l := range strings.Lines(got.stdout) {
		ev := parseEvent(t, l)
		assert.NotEqual(t, "leak", ev.Event, "growing load is not a leak: %s", l)
		last = ev
	}
	assert.Equal(t, "summary", last.Event)
	assert.Positive(t, last.TurnedOver, "the ramp rose and was held back: %s", got.stdout)
	assert.GreaterOrEqual(t, last.Samples, 30)
}

// TestWatchDeadEndpointFails: a CI gate on a watch that never sampled
// must not pass.
func TestWatchDeadEndpointFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	got := runCLI(t, nil, "watch", "--exit-on-leak", "--duration", "500ms", "--interval", "50ms", addr)
	assert.Equal(t, exitInput, got.code, "%s", got)
	assert.Contains(t, got.stderr, "no successful sample")
	assert.Contains(t, got.stderr, "connection refused")
}

// TestReplayCommand replays the series of profiles a leaking service saved
// every 200 ms: it names the leaking line, and the summary says so.
func TestReplayCommand(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "series", "go1.*", "profiles"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		got := runCLI(t, nil, "replay", "--window", "12", "--exit-on-leak", dir)
		assert.Equal(t, exitFound, got.code, "%s", got)
		assert.Contains(t, got.stdout, "replaying 40 files in order of profile time")
		assert.Regexp(t, `sample 1[2-4] \(.*\): LEAK: \d+ goroutines at \[chan receive\] main\.leak\.func1 main\.go:\d+`, got.stdout)
		assert.Contains(t, got.stdout, "leaking: 1 site\n")
		assert.NotContains(t, got.stdout, "main.requests")

		got = runCLI(t, nil, "replay", "--json", "--window", "12", dir)
		require.Equal(t, exitOK, got.code, "%s", got)
		var leaks []watchEvent
		for l := range strings.Lines(got.stdout) {
			if ev := parseEvent(t, l); ev.Event == "leak" {
				leaks = append(leaks, ev)
			}
		}
		require.Len(t, leaks, 1, "%s", got.stdout)
		assert.Equal(t, "main.leak.func1", leaks[0].Function)
		assert.Positive(t, leaks[0].Sample)
	}
	got := runCLI(t, nil, "replay", "/nonexistent/dir")
	assert.Equal(t, exitInput, got.code)
	assert.Contains(t, got.stderr, "no such file")
}
