package leaksentinel

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seriesDirs returns testdata/series/<version>/<kind> for each Go version
// the series was recorded with (go run ./testdata/series).
func seriesDirs(t *testing.T, kind string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "series", "go1.*", kind))
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "run go run ./testdata/series")
	return dirs
}

// files returns dir's files in name order, copied into a new directory
// with modification times one second apart in that order, as a cron job
// leaves them (a checkout's times say nothing).
func cronCopy(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := t.TempDir()
	start := time.Unix(1_700_000_000, 0)
	for i, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		name := filepath.Join(out, e.Name())
		require.NoError(t, os.WriteFile(name, data, 0o644))
		at := start.Add(time.Duration(i) * time.Second)
		require.NoError(t, os.Chtimes(name, at, at))
	}
	return out
}

// verdict is what parity compares of an alert.
type verdict struct {
	Site    Site
	Sample  int
	Count   int
	Growth  int
	Creator string
}

func verdicts(leaks []Leak) []verdict {
	var out []verdict
	for _, l := range leaks {
		out = append(out, verdict{l.Site, l.Sample, l.Count, l.Growth, l.CreatedBy()})
	}
	return out
}

func relFile(site Site) string { return filepath.Base(site.File) }

// replayAll plays src to its end and returns the alerts.
func replayAll(t *testing.T, o Options) ([]Leak, Stats) {
	t.Helper()
	var mu sync.Mutex
	var leaks []Leak
	o.OnLeak = func(l Leak) {
		mu.Lock()
		defer mu.Unlock()
		leaks = append(leaks, l)
	}
	o.Logger = slog.New(slog.DiscardHandler)
	s, err := Start(o)
	require.NoError(t, err)
	select {
	case <-s.Done():
	case <-time.After(time.Minute):
		t.Fatal("the replay did not end")
	}
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	return leaks, s.Stats()
}

// A recorded series of ?debug=2 dumps of a leaking service, played through
// Replay and through the HTTP source (an httptest server answering each
// request with the next file, as the service did), gives the same alerts
// at the same samples: the one loop, whatever the source.
func TestReplayAndHTTPSourceAgree(t *testing.T) {
	for _, dir := range seriesDirs(t, "dumps") {
		t.Run(filepath.Base(filepath.Dir(dir)), func(t *testing.T) {
			r, err := NewReplay(cronCopy(t, dir))
			require.NoError(t, err)
			assert.Equal(t, "modification time", r.Order())
			files := r.Files()
			replayed, st := replayAll(t, Options{Source: r, Window: 12})
			assert.Equal(t, len(files), st.Captures)
			require.NotEmpty(t, replayed, "the series leaks")
			l := replayed[0]
			assert.Equal(t, "main.leak.func1", l.Function)
			assert.Equal(t, StateChanReceive, l.State)
			assert.Equal(t, "main.leak", l.CreatedBy())
			assert.LessOrEqual(t, l.Sample, 12+2, "found within the window and two samples")
			for _, l := range replayed {
				assert.NotContains(t, l.Function, "requests", "requests come and go")
				assert.NotContains(t, l.Function, "worker", "the pool does not grow")
			}

			var served atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path != "/debug/pprof/goroutine" || req.FormValue("debug") != "2" {
					http.NotFound(w, req)
					return
				}
				i := int(served.Add(1)) - 1
				if i >= len(files) {
					http.Error(w, "the series is over", http.StatusGone)
					return
				}
				data, err := os.ReadFile(files[i])
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Write(data)
			}))
			defer srv.Close()
			h, err := NewHTTPSource(srv.URL, HTTPOptions{Debug2: true})
			require.NoError(t, err)
			ticks := make(chan time.Time)
			var mu sync.Mutex
			var polled []Leak
			s, err := Start(Options{Source: h, Window: 12, Logger: slog.New(slog.DiscardHandler), ticks: ticks,
				OnLeak: func(l Leak) {
					mu.Lock()
					defer mu.Unlock()
					polled = append(polled, l)
				}})
			require.NoError(t, err)
			for range len(files) - 1 {
				sampleOnce(s, ticks, time.Now())
			}
			s.Stop()
			assert.Equal(t, len(files), s.Stats().Captures)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, verdicts(replayed), verdicts(polled))
		})
	}
}

// Replay of the series' ?debug=0 profiles, played in their own time order,
// names the leaking line, without creators (profiles have none).
func TestReplayProfiles(t *testing.T) {
	for _, dir := range seriesDirs(t, "profiles") {
		t.Run(filepath.Base(filepath.Dir(dir)), func(t *testing.T) {
			r, err := NewReplay(dir)
			require.NoError(t, err)
			assert.Equal(t, "profile time", r.Order())
			leaks, _ := replayAll(t, Options{Source: r, Window: 12})
			require.NotEmpty(t, leaks)
			assert.Equal(t, "main.leak.func1", leaks[0].Function)
			assert.Equal(t, "main.go", relFile(leaks[0].Site))
			assert.Equal(t, StateChanReceive, leaks[0].State)
			assert.False(t, leaks[0].Found.IsZero())
			assert.True(t, leaks[0].Since.Before(leaks[0].Found))
		})
	}
}

// A bad file is a failed sample naming it; the rest still count.
func TestReplaySkipsBadFiles(t *testing.T) {
	dir := cronCopy(t, seriesDirs(t, "dumps")[0])
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	slices.Sort(names)
	bad := names[5]
	require.NoError(t, os.WriteFile(bad, []byte("this is not a dump\n"), 0o644))
	at := time.Unix(1_700_000_005, 0)
	require.NoError(t, os.Chtimes(bad, at, at))
	var logs logBuffer
	r, err := NewReplay(dir)
	require.NoError(t, err)
	s, err := Start(Options{Source: r, Window: 12, Logger: logs.logger()})
	require.NoError(t, err)
	<-s.Done()
	s.Stop()
	st := s.Stats()
	assert.Equal(t, 1, st.Failed)
	assert.Equal(t, len(names)-1, st.Captures)
	assert.Positive(t, st.Leaks)
	var errs []string
	for _, rec := range logs.records(t) {
		if rec["msg"] == "leaksentinel: capture failed" {
			errs = append(errs, fmt.Sprint(rec["err"]))
		}
	}
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], filepath.Base(bad))
}

// Files without profile times or distinct modification times play in
// name order, and say so.
func TestReplayNameOrder(t *testing.T) {
	dir := t.TempDir()
	src := seriesDirs(t, "dumps")[0]
	at := time.Unix(1_700_000_000, 0)
	for _, name := range []string{"003.txt", "001.txt", "002.txt"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		p := filepath.Join(dir, "b-"+name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		require.NoError(t, os.Chtimes(p, at, at))
	}
	r, err := NewReplay(dir)
	require.NoError(t, err)
	assert.Equal(t, "name", r.Order())
	files := r.Files()
	assert.True(t, slices.IsSortedFunc(files, func(a, b string) int { return cmp.Compare(a, b) }), "%v", files)
	assert.True(t, strings.HasSuffix(files[0], "b-001.txt"))
}

// A file holding several dumps one after another is several samples, and
// each sample's dump (the text the sentinel reads creators and ids from)
// is that dump alone.
func TestReplaySeriesFile(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "shapes", "go1.*", "series.*.txt.gz"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		t.Run(filepath.Base(filepath.Dir(name))+"/"+filepath.Base(name), func(t *testing.T) {
			data, err := readReplayFile(name)
			require.NoError(t, err)
			want, _ := parseDumpSeries(bytes.NewReader(data), nil)
			require.Greater(t, len(want), 1, "a series")
			r, err := NewReplay(name)
			require.NoError(t, err)
			for i := range want {
				snap, err := r.Capture(t.Context())
				require.NoError(t, err, "sample %d", i)
				assert.Equal(t, want[i].Total, snap.Total, "sample %d", i)
				text, err := r.Dump(t.Context())
				require.NoError(t, err)
				alone, err := ParseDump(bytes.NewReader(text))
				require.NoError(t, err, "sample %d's dump alone", i)
				assert.Equal(t, want[i].Total, alone.Total, "sample %d's dump alone", i)
				assert.Empty(t, alone.Notes(), "sample %d's dump is one dump", i)
				top, err := r.Clock(t.Context())
				require.NoError(t, err)
				if !strings.Contains(name, "debug1") { // ?debug=1 records have no ids
					assert.Positive(t, top, "the clock: the dump's highest goroutine id")
				}
			}
			_, err = r.Capture(t.Context())
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}
