package leaksentinel

import (
	"bytes"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// driven is a real sentinel (real captures, dumps and goroutine clock)
// that samples when the test says, one full capture per tick, so that a
// workload can be paced exactly.
type driven struct {
	s     *Sentinel
	ticks chan time.Time
	logs  *logBuffer

	mu     sync.Mutex
	alerts []Leak
}

func startDriven(t *testing.T, window int) *driven {
	t.Helper()
	d := &driven{ticks: make(chan time.Time), logs: &logBuffer{}}
	logger := slog.New(slog.NewJSONHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Start(Options{
		Window:    window,
		MaxSkip:   -1,
		NoConfirm: true,
		Logger:    logger,
		OnLeak: func(l Leak) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.alerts = append(d.alerts, l)
		},
		ticks: d.ticks,
	})
	require.NoError(t, err)
	d.s = s
	t.Cleanup(s.Stop)
	return d
}

// tick takes one sample and waits for it.
func (d *driven) tick() { sampleOnce(d.s, d.ticks, time.Now()) }

// leaks returns the alerts so far, after the queue has drained.
func (d *driven) leaks() []Leak {
	d.s.Stop() // waits for OnLeak to have had every alert
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.alerts
}

// vetoes counts the samples at which a site rose but had turned over.
func (d *driven) vetoes(t *testing.T) int {
	n := 0
	for _, r := range d.logs.records(t) {
		if msg, _ := r["msg"].(string); strings.Contains(msg, "none of its goroutines stayed") {
			n++
		}
	}
	return n
}

// waiters parks goroutines at one line (rampWait) on channels the test
// releases tick by tick.
type waiters struct {
	wg      sync.WaitGroup
	pending map[int][]chan struct{} // by the tick that releases them
	sizes   map[chan struct{}]int
	all     []chan struct{}
	live    int // goroutines not released
}

func newWaiters() *waiters {
	return &waiters{pending: make(map[int][]chan struct{}), sizes: make(map[chan struct{}]int)}
}

// add parks n goroutines until tick until (never, if until < 0).
func (w *waiters) add(n, until int) {
	ch := make(chan struct{})
	w.all = append(w.all, ch)
	w.sizes[ch] = n
	w.live += n
	if until >= 0 {
		w.pending[until] = append(w.pending[until], ch)
	}
	for range n {
		w.wg.Add(1)
		go rampWait(ch, &w.wg)
	}
}

// release lets the goroutines due at tick i go.
func (w *waiters) release(i int) {
	for _, ch := range w.pending[i] {
		close(ch)
		w.live -= w.sizes[ch]
	}
	delete(w.pending, i)
}

// stop lets every goroutine go and waits for them.
func (w *waiters) stop() {
	for _, ch := range w.all {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	w.wg.Wait()
}

func rampWait(ch <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-ch
}

// waitParked waits until want goroutines wait in rampWait, so that a sample
// sees them parked, not starting.
func waitParked(t *testing.T, fn string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := Capture()
		require.NoError(t, err)
		n := 0
		for _, g := range snap.Groups {
			if g.Function == fn && g.State != StateRunning && g.State != StateRunnable {
				n += g.Count
			}
		}
		if n == want {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d goroutines in %s, want %d", n, fn, want)
		time.Sleep(100 * time.Microsecond)
	}
}

const rampWaitFunc = "github.com/leaksentinel/leaksentinel.rampWait"

// Load that ramps up for three windows, every request waiting two ticks,
// raises the waiting site's floor steadily: counts alone call it a leak.
// None of the goroutines stays, so it is not reported.
//
// One P: with several, a P that sat idle while the sentinel read its clock
// hands out up to 15 older ids afterwards, so a few of the ramp's newest
// goroutines may look older than they are, and the alert is kept (the side
// the clock errs on). A service creating goroutines all the time uses
// those up at once; this test creates a few dozen.
func TestRampIsNotALeak(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const window = 12
	d := startDriven(t, window)
	w := newWaiters()
	defer w.stop()
	for i := range 3 * window {
		w.release(i)
		w.add(2+i, i+2)
		waitParked(t, rampWaitFunc, w.live)
		d.tick()
	}
	assert.Empty(t, d.leaks())
	assert.Positive(t, d.vetoes(t), "the floor rose as a leak's does; the site was judged by its goroutines' ages")
	assert.Equal(t, d.vetoes(t), d.s.Stats().TurnedOver)
}

// The same ramp where the goroutines never leave is a leak.
func TestRampThatStaysIsALeak(t *testing.T) {
	const window = 12
	d := startDriven(t, window)
	w := newWaiters()
	defer w.stop()
	for range 3 * window {
		w.add(2, -1)
		waitParked(t, rampWaitFunc, w.live)
		d.tick()
	}
	leaks := d.leaks()
	require.NotEmpty(t, leaks)
	assert.Equal(t, rampWaitFunc, leaks[0].Function)
	assert.Zero(t, d.vetoes(t))
}

// A leak that starts at a line healthy requests wait at briefly: at the
// window's start the site held only requests, which have all left, and the
// first verdict is held back; the leaked goroutines stay, so the next one
// reports it, within two windows of the leak's start.
func TestLeakBehindChurnIsFound(t *testing.T) {
	const window = 12
	d := startDriven(t, window)
	w := newWaiters()
	defer w.stop()
	start := 2 * window
	for i := range 5 * window {
		w.release(i)
		w.add(3, i+1) // requests: three a tick, one tick each
		if i >= start {
			w.add(1, -1)
		}
		waitParked(t, rampWaitFunc, w.live)
		d.tick()
		if i >= start+2*window {
			break
		}
	}
	leaks := d.leaks()
	require.NotEmpty(t, leaks, "not found within two windows of its start")
	assert.Equal(t, rampWaitFunc, leaks[0].Function)
}

// A leaked goroutine that wakes on every tick and parks again has a wait
// age that never grows; it stays, so it is reported.
func TestWakingLeakIsALeak(t *testing.T) {
	d := leakOnBeats(t, (*beat).loop, beatLoopFunc)
	assert.Zero(t, d.vetoes(t))
}

// A chain of goroutines, each waiting a tick, then starting the next and
// returning, has only young goroutines, yet a chain never ends: one more
// chain a tick is a leak.
func TestRespawningLeakIsALeak(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as TestRampIsNotALeak
	leakOnBeats(t, (*beat).link, beatLinkFunc)
}

// leakOnBeats starts one more goroutine running start each tick, beats
// once a tick, and checks that the sentinel reports the site of fn.
func leakOnBeats(t *testing.T, start func(*beat, *sync.WaitGroup), fn string) *driven {
	t.Helper()
	const window = 12
	d := startDriven(t, window)
	beat := newBeat()
	var wg sync.WaitGroup
	defer func() { beat.stop(); wg.Wait() }()
	for i := range 3 * window {
		wg.Add(1)
		go start(beat, &wg)
		beat.next()
		waitParked(t, fn, i+1)
		d.tick()
	}
	leaks := d.leaks()
	require.NotEmpty(t, leaks)
	assert.Equal(t, fn, leaks[0].Function)
	return d
}

const beatLinkFunc = "github.com/leaksentinel/leaksentinel.(*beat).link"

// link waits for the next beat, then hands over to a new goroutine.
func (b *beat) link(wg *sync.WaitGroup) {
	defer wg.Done()
	select {
	case <-b.current():
		wg.Add(1)
		go b.link(wg)
	case <-b.done:
	}
}

// beat wakes every goroutine in its loop once a tick, like a ticker.
type beat struct {
	mu   sync.Mutex
	ch   chan struct{}
	done chan struct{}
}

func newBeat() *beat { return &beat{ch: make(chan struct{}), done: make(chan struct{})} }

func (b *beat) next() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}

func (b *beat) current() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *beat) stop() { close(b.done) }

const beatLoopFunc = "github.com/leaksentinel/leaksentinel.(*beat).loop"

func (b *beat) loop(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-b.current():
		case <-b.done:
			return
		}
	}
}

func TestParseGoid(t *testing.T) {
	for give, want := range map[string]int64{
		"goroutine 1 [running]:\n":                       1,
		"goroutine 123456789 [chan receive, 3 minutes]:": 123456789,
		"goroutine x [running]:":                         0,
		"goroutine 12":                                   0,
		"":                                               0,
		"panic: boom":                                    0,
	} {
		assert.Equal(t, want, parseGoid([]byte(give)), give)
	}
	a, b := goidClock(), goidClock()
	assert.Positive(t, a)
	assert.Greater(t, b, a, "ids grow with creation")
}

// Goroutines created on other Ps, from batches of ids taken after the
// caller's, still get ids below the clock.
func TestGoidClockIsAnUpperBound(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for range 10 {
		// The caller's P takes a batch of ids, uses one, and holds the
		// rest while the other Ps take newer batches.
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
		}()
		var spawners sync.WaitGroup
		for range 4 {
			spawners.Add(1)
			go func() {
				defer spawners.Done()
				for range 100 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-release
					}()
				}
			}()
		}
		spawners.Wait()
		clock := goidClock()
		buf := make([]byte, 8<<20)
		n := 0
		b := newBirths(classify.Text)
		_, err := parseDump(bytes.NewReader(buf[:runtime.Stack(buf, true)]), b.add)
		require.NoError(t, err)
		for site, at := range b.at {
			if !strings.Contains(site.Function, "TestGoidClockIsAnUpperBound") {
				continue
			}
			for _, b := range at {
				n++
				require.LessOrEqual(t, b.id, clock, "a goroutine created before the clock was read")
			}
		}
		require.Positive(t, n)
	}
}

// BenchmarkGoidClock is what the goroutine clock adds to each capture.
func BenchmarkGoidClock(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		goidClock()
	}
}
