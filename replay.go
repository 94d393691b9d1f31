package leaksentinel

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// Replay is a [Source] that plays saved goroutine dumps and profiles, the
// files a cron job or a profiler collected (runtime.Stack output,
// ?debug=2, ?debug=1, ?debug=0 profiles, SIGQUIT and panic tracebacks;
// gzipped or not), one sample per dump, in time order: the profiles' own
// times when every file has one, else the files' modification times, else
// their names ([Replay.Order] says which). A file holding several dumps one
// after another (a log with a SIGQUIT dump every hour) is several samples.
// A sentinel started on a Replay samples as fast as it reads, each sample at
// its file's time, and stops after the last ([Sentinel.Done]).
//
// A file that cannot be read or parsed is a failed sample whose error names
// it; the rest still count. Text dumps give creators and the goroutine ids
// the turnover check reads; profiles give neither.
type Replay struct {
	files []replayFile
	order string
	next  int            // the next file
	queue []replaySample // the samples of the file being played
	cur   replaySample   // the sample last returned
}

type replayFile struct {
	name string
	time time.Time // by which it is played
}

type replaySample struct {
	snap *Snapshot
	text []byte // the dump's text; nil for a profile
	top  int64  // its highest goroutine id
}

// NewReplay returns a replay of the files named by paths: files, or
// directories, each standing for the files directly in it (not those
// whose names start with a dot).
func NewReplay(paths ...string) (*Replay, error) {
	var names []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("leaksentinel: replay: %w", err)
		}
		if !fi.IsDir() {
			names = append(names, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("leaksentinel: replay: %w", err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			names = append(names, filepath.Join(p, e.Name()))
		}
	}
	if len(names) == 0 {
		return nil, errors.New("leaksentinel: replay: no files")
	}
	r := &Replay{files: make([]replayFile, len(names))}
	profileTimes := true
	mtimes := map[time.Time]bool{}
	for i, name := range names {
		f := replayFile{name: name}
		if fi, err := os.Stat(name); err == nil {
			f.time = fi.ModTime()
			mtimes[f.time] = true
		}
		if t := profileTime(name); !t.IsZero() {
			f.time = t
		} else {
			profileTimes = false
		}
		r.files[i] = f
	}
	switch {
	case profileTimes:
		r.order = "profile time"
	case len(mtimes) > 1:
		r.order = "modification time"
		for i := range r.files { // a profile's own time does not mix with others' mtimes
			if fi, err := os.Stat(r.files[i].name); err == nil {
				r.files[i].time = fi.ModTime()
			}
		}
	default:
		r.order = "name"
		for i := range r.files {
			r.files[i].time = time.Time{}
		}
	}
	slices.SortStableFunc(r.files, func(a, b replayFile) int {
		return cmp.Or(a.time.Compare(b.time), strings.Compare(a.name, b.name))
	})
	return r, nil
}

// profileTime returns the time a pprof profile file records, or zero for
// anything else.
func profileTime(name string) time.Time {
	data, err := readReplayFile(name)
	if err != nil || !isProfile(data) {
		return time.Time{}
	}
	snap, err := ParseProfile(bytes.NewReader(data))
	if err != nil {
		return time.Time{}
	}
	return snap.Time
}

// Order says by what the files are played: "profile time", "modification
// time" or "name".
func (r *Replay) Order() string { return r.order }

// Files returns the files in the order they are played.
func (r *Replay) Files() []string {
	out := make([]string, len(r.files))
	for i, f := range r.files {
		out[i] = f.name
	}
	return out
}

// Capture returns the next dump's goroutines, [io.EOF] after the last.
func (r *Replay) Capture(context.Context) (*Snapshot, error) {
	if len(r.queue) == 0 {
		if r.next == len(r.files) {
			return nil, io.EOF
		}
		f := r.files[r.next]
		r.next++
		samples, err := readSamples(f)
		if len(samples) == 0 {
			r.cur = replaySample{}
			return nil, fmt.Errorf("replay: %s: %w", f.name, err)
		}
		r.queue = samples
		if err != nil {
			// A file read in part (a truncated dump): its complete
			// goroutines are the sample, the cut is said.
			r.cur, r.queue = r.queue[0], r.queue[1:]
			return r.cur.snap, fmt.Errorf("replay: %s: %w", f.name, err)
		}
	}
	r.cur, r.queue = r.queue[0], r.queue[1:]
	return r.cur.snap, nil
}

// Dump returns the text of the dump last captured.
func (r *Replay) Dump(context.Context) ([]byte, error) {
	if r.cur.text == nil {
		return nil, unsupported("a profile has no dump")
	}
	return r.cur.text, nil
}

// Clock returns the highest goroutine id of the dump last captured; 0 for a
// profile.
func (r *Replay) Clock(context.Context) (int64, error) { return r.cur.top, nil }

// String names the replay.
func (r *Replay) String() string {
	if len(r.files) == 1 {
		return r.files[0].name
	}
	return fmt.Sprintf("%d files", len(r.files))
}

// readSamples reads a file's dumps, or its profile, as samples at its time.
func readSamples(f replayFile) ([]replaySample, error) {
	data, err := readReplayFile(f.name)
	if err != nil {
		return nil, err
	}
	if isProfile(data) {
		snap, err := ParseProfile(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if !f.time.IsZero() {
			snap.Time = f.time
		}
		return []replaySample{{snap: snap}}, nil
	}
	// A file may hold several dumps one after another (a log with a
	// SIGQUIT dump every hour): each is a sample, with its own text for
	// the sentinel's dump, cut at the header line of its first goroutine.
	type part struct {
		line int // the first goroutine's header line, from 1
		top  int64
	}
	var parts []part
	snaps, err := parseDumpSeries(bytes.NewReader(data), func(dump int, _ *stack.Table, g *stack.Goroutine) {
		for len(parts) <= dump {
			parts = append(parts, part{line: g.Line})
		}
		p := &parts[dump]
		p.line = min(p.line, g.Line)
		p.top = max(p.top, g.ID)
	})
	if len(snaps) == 0 {
		return nil, err
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// cut[i] is the line index where dump i's text starts: its first
	// goroutine's header, or the "goroutine profile: total N" line of a
	// ?debug=1 dump above its first record.
	cut := make([]int, len(parts)+1)
	cut[len(parts)] = len(lines)
	for i := 1; i < len(parts); i++ {
		c := min(max(parts[i].line-1, 0), len(lines))
		for c > 0 && bytes.Contains(lines[c-1], []byte(" profile: total ")) {
			c--
		}
		cut[i] = max(c, cut[i-1])
	}
	out := make([]replaySample, len(snaps))
	for i, snap := range snaps {
		snap.Time = f.time
		out[i] = replaySample{snap: snap, text: data}
		if i < len(parts) {
			out[i].top = parts[i].top
			if len(snaps) > 1 {
				out[i].text = bytes.Join(lines[cut[i]:cut[i+1]], nil)
			}
		}
	}
	return out, err
}

// readReplayFile returns a file's content, gunzipped, at most maxProfile
// bytes of it.
func readReplayFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxProfile+1))
	if err != nil {
		return nil, fmt.Errorf("read: after %d bytes: %w", len(data), err)
	}
	if len(data) > maxProfile {
		return nil, fmt.Errorf("over %d MiB", maxProfile>>20)
	}
	return data, nil
}

// isProfile reports whether data, gunzipped, is a protobuf profile rather
// than text: a profile's first fields are framed by control bytes a text
// dump never holds.
func isProfile(data []byte) bool {
	for _, c := range data[:min(len(data), 512)] {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return true
		}
	}
	return false
}
