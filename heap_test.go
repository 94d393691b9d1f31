package leaksentinel

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memSeries feeds a heapWatch a live-heap series, one garbage collection
// every gcEvery ticks, and returns the first tick that alerted (0: none).
func memSeries(t *testing.T, ticks, gcEvery int, live func(tick int) uint64) int {
	t.Helper()
	h := newHeapWatch(DefaultHeapWindow)
	start := time.Unix(1_700_000_000, 0)
	var m Memory
	for i := 1; i <= ticks; i++ {
		if i%gcEvery == 0 {
			m.GCCycles++
			m.HeapLive = live(i)
		}
		if _, ok := h.observe(m, start.Add(time.Duration(i)*time.Second)); ok {
			return i
		}
	}
	return 0
}

const mib = 1 << 20

func TestHeapVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		gcEvery int
		live    func(tick int) uint64
		alert   bool
	}{
		{name: "steady growth", gcEvery: 3, live: func(i int) uint64 { return 50*mib + uint64(i)*mib/4 }, alert: true},
		{name: "growth, rare collections", gcEvery: 8, live: func(i int) uint64 { return 50*mib + uint64(i)*mib/2 }, alert: true},
		{name: "flat", gcEvery: 2, live: func(int) uint64 { return 80 * mib }},
		{name: "warm-up then flat", gcEvery: 2, live: func(i int) uint64 { return 20*mib + uint64(min(i, 20))*2*mib }},
		{name: "cache filling to a bound", gcEvery: 3, live: func(i int) uint64 { return 30*mib + uint64(min(i, 40))*mib/2 }},
		{name: "sawtooth allocation", gcEvery: 2, live: func(i int) uint64 { return 40*mib + uint64(i%15)*2*mib }},
		{name: "small growth on a big heap", gcEvery: 3, live: func(i int) uint64 { return 2000*mib + uint64(i)*mib/8 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := memSeries(t, 400, tt.gcEvery, tt.live)
			if tt.alert {
				assert.NotZero(t, got, "no alert")
				assert.LessOrEqual(t, got, 2*DefaultHeapWindow)
			} else {
				assert.Zero(t, got, "false alarm at tick %d", got)
			}
		})
	}
}

// growHeap appends to a buffer that is never released: the field guide's
// demo, at a safe size.
func growHeap(buf *[][]byte) {
	*buf = append(*buf, make([]byte, 64<<10)) // the growing line
}

// TestHeapProfilesNameTheLine: the two heap profiles a memory alert writes
// work with go tool pprof -base, which names the line that grew.
func TestHeapProfilesNameTheLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	dir := t.TempDir()
	alerts := make(chan HeapGrowth, 1)
	ticks := make(chan time.Time)
	s, err := Start(Options{
		Logger:     slog.New(slog.DiscardHandler),
		ProfileDir: dir,
		HeapWindow: 24,
		ticks:      ticks,
		OnHeapGrowth: func(h HeapGrowth) {
			select {
			case alerts <- h:
			default:
			}
		},
	})
	require.NoError(t, err)
	defer s.Stop()

	var held [][]byte
	var got HeapGrowth
	for i := 0; ; i++ {
		for range 16 {
			growHeap(&held)
		}
		runtime.GC() // a busy service collects; the test does it on purpose
		ticks <- time.Now()
		select {
		case got = <-alerts:
		default:
			require.Less(t, i, 200, "no memory alert")
			continue
		}
		break
	}
	s.Stop()
	require.NotEmpty(t, got.BaseProfile)
	require.NotEmpty(t, got.Profile)
	assert.Positive(t, got.Growth)
	for _, f := range []string{got.BaseProfile, got.Profile} {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	// go test puts its own toolchain first on PATH.
	out, err := exec.Command("go", "tool", "pprof",
		"-top", "-lines", "-sample_index=inuse_space", "-base", got.BaseProfile, got.Profile).CombinedOutput()
	require.NoError(t, err, string(out))
	_, file, _, _ := runtime.Caller(0)
	want := filepath.Base(file) + ":" + strconv.Itoa(growLine(t, file))
	assert.Contains(t, string(out), want, "pprof -base names the growing line")
	runtime.KeepAlive(held)
}

// growLine finds the line of growHeap's append in file.
func growLine(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "// the growing line") && !strings.Contains(l, "strings.Contains") {
			return i + 1
		}
	}
	t.Fatal("no growing line")
	return 0
}

// TestHeapBoundedCacheAndSawtoothLive runs real allocation patterns that
// are not leaks: a cache that fills to a bound and stays, with sawtooth
// garbage on top. No memory alert may fire.
func TestHeapBoundedCacheAndSawtoothLive(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates for a few hundred ticks")
	}
	var alerts []HeapGrowth
	ticks := make(chan time.Time)
	s, err := Start(Options{
		Logger:       slog.New(slog.DiscardHandler),
		HeapWindow:   24,
		ticks:        ticks,
		OnHeapGrowth: func(h HeapGrowth) { alerts = append(alerts, h) },
	})
	require.NoError(t, err)
	defer s.Stop()

	cache := make(map[int][]byte)
	var sawtooth [][]byte
	for i := range 24 * 6 {
		if len(cache) < 400 { // 6.4 MiB over the first 10 ticks, then bounded
			for range 40 {
				cache[len(cache)] = make([]byte, 16<<10)
			}
		}
		sawtooth = append(sawtooth, make([]byte, 256<<10))
		if i%10 == 9 {
			sawtooth = nil // dropped every ten ticks
		}
		runtime.GC()
		runtime.KeepAlive(sawtooth) // live through the collection
		ticks <- time.Now()
	}
	s.Stop()
	assert.Empty(t, alerts, "a bounded cache and sawtooth garbage are not leaks")
	assert.Zero(t, s.Stats().HeapAlerts)
	runtime.KeepAlive(cache)
}
