package leaksentinel

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Goroutines parked here give the scripted source its tracebacks: one site
// (parkedAt's receive), started by two different go statements.
//
//go:noinline
func parkedAt(ch chan struct{}) { <-ch }

//go:noinline
func startFromPool(ch chan struct{}) { go parkedAt(ch) }

//go:noinline
func startFromLeak(ch chan struct{}) { go parkedAt(ch) }

// tracebacks returns the runtime's own traceback of one goroutine started
// by each of startFromPool and startFromLeak, keyed by the starter's name.
func tracebacks(t *testing.T) map[string]string {
	t.Helper()
	ch := make(chan struct{})
	defer close(ch)
	startFromPool(ch)
	startFromLeak(ch)
	out := map[string]string{}
	for len(out) < 2 {
		runtime.Gosched()
		buf := make([]byte, 1<<20)
		text := string(buf[:runtime.Stack(buf, true)])
		for _, block := range strings.Split(text, "\n\n") {
			if !strings.Contains(block, "leaksentinel.parkedAt(") || !strings.Contains(block, "[chan receive") {
				continue
			}
			for _, starter := range []string{"startFromPool", "startFromLeak"} {
				if strings.Contains(block, "created by github.com/leaksentinel/leaksentinel."+starter) {
					out[starter] = strings.TrimSpace(block) + "\n"
				}
			}
		}
	}
	return out
}

var goroutineHeader = regexp.MustCompile(`^goroutine \d+ `)

// scripted is a Source whose goroutines the test creates and ends, each a
// real traceback with its id renumbered: captures and dumps are that text,
// its clock the highest id handed out, its proof names the goroutines the test says
// the runtime would prove.
type scripted struct {
	mu     sync.Mutex
	blocks map[string]string // traceback by starter
	live   map[int64]string  // goroutine id -> starter
	proved map[int64]bool
	next   int64
	now    time.Time
	ticks  chan time.Time
	proves int // Prove calls
}

func newScripted(t *testing.T) *scripted {
	return &scripted{blocks: tracebacks(t), live: map[int64]string{}, proved: map[int64]bool{}, next: 100,
		now: time.Unix(1_700_000_000, 0), ticks: make(chan time.Time)}
}

// start creates n goroutines started by starter and returns their ids.
func (s *scripted) start(starter string, n int, proved bool) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for range n {
		s.next++
		s.live[s.next] = starter
		s.proved[s.next] = proved
		ids = append(ids, s.next)
	}
	return ids
}

func (s *scripted) end(ids ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.live, id)
	}
}

func (s *scripted) text(keep func(id int64) bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.live))
	for id := range s.live {
		if keep(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var b bytes.Buffer
	for _, id := range ids {
		b.WriteString(goroutineHeader.ReplaceAllString(s.blocks[s.live[id]], fmt.Sprintf("goroutine %d ", id)))
		b.WriteString("\n")
	}
	return b.Bytes()
}

func (s *scripted) Capture(context.Context) (*Snapshot, error) {
	snap, err := ParseDump(bytes.NewReader(s.text(func(int64) bool { return true })))
	if err != nil {
		return &Snapshot{Time: s.clock()}, nil // no goroutines yet
	}
	snap.Time = s.clock()
	return snap, nil
}

func (s *scripted) Dump(context.Context) ([]byte, error) {
	return s.text(func(int64) bool { return true }), nil
}

func (s *scripted) Clock(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, nil
}

func (s *scripted) Prove(context.Context) (*Snapshot, error) {
	s.mu.Lock()
	s.proves++
	s.mu.Unlock()
	text := s.text(func(id int64) bool { return s.proved[id] })
	if len(text) == 0 {
		return &Snapshot{}, nil
	}
	return ParseDump(bytes.NewReader(text))
}

func (s *scripted) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// run starts a sentinel on s, with alerts collected.
func (s *scripted) run(t *testing.T, o Options) (*Sentinel, *alerts) {
	t.Helper()
	a := &alerts{}
	o.Source, o.ticks, o.now = s, s.ticks, s.clock
	o.OnLeak = a.add
	if o.Window == 0 {
		o.Window = 12
	}
	if o.Logger == nil {
		o.Logger = (&logBuffer{}).logger()
	}
	sen, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(sen.Stop)
	return sen, a
}

// tick advances the clock and takes one sample.
func (s *scripted) tick(sen *Sentinel) {
	s.mu.Lock()
	s.now = s.now.Add(10 * time.Second)
	now := s.now
	s.mu.Unlock()
	sampleOnce(sen, s.ticks, now)
}

type alerts struct {
	mu    sync.Mutex
	leaks []Leak
}

func (a *alerts) add(l Leak) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leaks = append(a.leaks, l)
}

// all returns the alerts, once the sentinel has delivered every one.
func (a *alerts) all(sen *Sentinel) []Leak {
	sen.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leaks
}

var parkedSite = func() Site {
	return Site{State: StateChanReceive, Function: "github.com/leaksentinel/leaksentinel.parkedAt"}
}()

func atParked(l Leak) bool { return l.Function == parkedSite.Function && l.State == parkedSite.State }

// Load that ramps for three windows, every goroutine living two samples:
// the site's floor rises steadily, but none of its goroutines stays, and
// the turnover check, reading the dump's ids against the source's clock,
// holds every alert back.
func TestScriptedRampTurnsOver(t *testing.T) {
	src := newScripted(t)
	sen, a := src.run(t, Options{NoConfirm: true, MaxSkip: -1})
	var prev [][]int64
	for i := range 36 {
		ids := src.start("startFromPool", 3+i, false)
		prev = append(prev, ids)
		if len(prev) > 2 {
			src.end(prev[0]...)
			prev = prev[1:]
		}
		src.tick(sen)
	}
	assert.Empty(t, a.all(sen), "load whose goroutines leave is not a leak")
	assert.Positive(t, sen.Stats().TurnedOver)
}

// The same ramp whose goroutines stay is a leak, found within the window.
func TestScriptedRampThatStays(t *testing.T) {
	src := newScripted(t)
	sen, a := src.run(t, Options{NoConfirm: true, MaxSkip: -1})
	for range 20 {
		src.start("startFromPool", 3, false)
		src.tick(sen)
	}
	leaks := a.all(sen)
	require.NotEmpty(t, leaks)
	assert.True(t, atParked(leaks[0]), "%v", leaks[0])
	assert.Zero(t, sen.Stats().TurnedOver)
	assert.LessOrEqual(t, leaks[0].Sample, 14, "found within the window (12) and two samples")
}

// A leak that shares its site with a healthy pool, goroutine for goroutine
// the same stack: the goroutines that arrived over the window (the newest
// ids) name the leak's creator, though the pool's goroutines outnumber it.
func TestScriptedSharedSiteCreator(t *testing.T) {
	src := newScripted(t)
	src.start("startFromPool", 200, false)
	sen, a := src.run(t, Options{NoConfirm: true, MaxSkip: -1, MinGrowth: 3})
	for range 40 {
		src.start("startFromLeak", 6, false)
		src.tick(sen)
	}
	leaks := a.all(sen)
	require.NotEmpty(t, leaks)
	l := leaks[0]
	require.NotEmpty(t, l.Creators)
	assert.Equal(t, "github.com/leaksentinel/leaksentinel.startFromLeak", l.Creators[0].Function)
	assert.Less(t, l.Count-l.Growth, 200+40*6)
}

// A proof is kept: the runtime's goroutineleak profile, asked once for the
// first alert, confirms the later alerts of the site (its growth doubling)
// without being asked again within the window.
func TestScriptedProofIsKept(t *testing.T) {
	src := newScripted(t)
	sen, a := src.run(t, Options{MaxSkip: -1, Window: 12})
	for range 40 {
		src.start("startFromLeak", 5, true)
		src.tick(sen)
	}
	leaks := a.all(sen)
	require.GreaterOrEqual(t, len(leaks), 2, "the leak, and its growth doubling")
	first := leaks[0]
	assert.True(t, first.Confirmed, "%+v", first)
	for _, l := range leaks[1:] {
		assert.True(t, l.Confirmed, "a proved site stays confirmed: %+v", l)
		assert.Empty(t, l.ConfirmNote)
		assert.False(t, l.ProvedAt.After(l.Found))
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	assert.LessOrEqual(t, src.proves, 1+40/12, "asked at most once a window")
}

// A source without a proof, or a site the proof does not hold, is reported
// unconfirmed with the reason.
func TestScriptedUnproved(t *testing.T) {
	src := newScripted(t)
	sen, a := src.run(t, Options{MaxSkip: -1})
	for range 20 {
		src.start("startFromLeak", 3, false)
		src.tick(sen)
	}
	leaks := a.all(sen)
	require.NotEmpty(t, leaks)
	assert.False(t, leaks[0].Confirmed)
}

// A leak the runtime can prove is reported at a quarter of the window
// (plus two samples), confirmed; one it cannot prove waits for the whole
// window, as before.
func TestScriptedFastPath(t *testing.T) {
	for _, proved := range []bool{true, false} {
		t.Run(fmt.Sprintf("proved=%v", proved), func(t *testing.T) {
			src := newScripted(t)
			src.start("startFromPool", 10, false) // a healthy pool besides
			sen, a := src.run(t, Options{MaxSkip: -1, Window: 24})
			for range 40 {
				src.start("startFromLeak", 3, proved)
				src.tick(sen)
			}
			leaks := a.all(sen)
			require.NotEmpty(t, leaks)
			l := leaks[0]
			assert.Equal(t, proved, l.Confirmed)
			// Samples are counted from Start's own first sample; the
			// leak starts with the second.
			if proved {
				assert.LessOrEqual(t, l.Sample, 1+24/4+2, "%+v", l)
				assert.Equal(t, 24/4, l.Window)
			} else {
				assert.GreaterOrEqual(t, l.Sample, 24)
				assert.LessOrEqual(t, l.Sample, 1+24+2)
			}
		})
	}
}

// A rise over a quarter of the window whose goroutines leave is not
// reported early even if the runtime would prove some goroutines there:
// the turnover check comes first.
func TestScriptedFastPathTurnover(t *testing.T) {
	src := newScripted(t)
	sen, a := src.run(t, Options{MaxSkip: -1, Window: 24})
	var prev [][]int64
	for i := range 20 {
		prev = append(prev, src.start("startFromLeak", 3+2*i, true))
		if len(prev) > 1 {
			src.end(prev[0]...)
			prev = prev[1:]
		}
		src.tick(sen)
	}
	assert.Empty(t, a.all(sen))
}

// triggered is a scripted source with the cheap trigger: its waiting
// goroutines.
type triggered struct{ *scripted }

func (t triggered) Waiting() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(len(t.live))
}

// While a site rises every tick, every tick captures (the measured
// case: a steady leak was captured every second tick, so a window of 24
// samples took 49 ticks); while nothing moves, one tick in MaxSkip+1 does,
// and a one-tick spike of churn captures nothing.
func TestTriggerCapturesEveryTickWhileRising(t *testing.T) {
	src := triggered{newScripted(t)}
	src.start("startFromPool", 50, false)
	s := newSentinel(Options{Source: src, NoConfirm: true, Logger: slog.New(slog.DiscardHandler)}.withDefaults())
	s.sample() // the first sample always captures
	flat := s.Stats().Captures
	for range 30 {
		s.sample()
	}
	flat = s.Stats().Captures - flat
	assert.Equal(t, 30/(DefaultMaxSkip+1), flat, "nothing moves: the safety net only")

	spike := src.start("startFromPool", 20, false)
	s.sample()
	src.end(spike...)
	before := s.Stats().Captures
	for range 4 {
		s.sample()
	}
	assert.LessOrEqual(t, s.Stats().Captures-before, 1, "a one-tick spike is not growth")

	before = s.Stats().Captures
	for range 24 {
		src.start("startFromLeak", 3, false)
		s.sample()
	}
	assert.GreaterOrEqual(t, s.Stats().Captures-before, 23, "a steady rise captures every tick but its first")
	leakSamples := 0
	for range 10 {
		src.start("startFromLeak", 3, false)
		s.sample()
		if len(s.Leaks()) > 0 && leakSamples == 0 {
			leakSamples = s.Stats().Captures
		}
	}
	assert.Positive(t, leakSamples, "reported about one window of ticks after the leak began")
}
