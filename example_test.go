package leaksentinel_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/leaksentinel/leaksentinel"
)

// A sentinel watching a service whose handler returns without cancelling
// its worker: the worker's goroutine stays parked in its select, one more
// per request. The fast interval and short window are for the example; a
// service keeps the defaults.
func ExampleStart() {
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval: 5 * time.Millisecond,
		Window:   6,
		Logger:   slog.New(slog.DiscardHandler), // a service logs alerts; the example prints them
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop()

	stop := serveLeakily()
	defer stop()

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for len(s.Leaks()) == 0 {
		select {
		case <-tick.C:
		case <-timeout:
			fmt.Println("no leak found in a minute")
			return
		}
	}
	l := s.Leaks()[0]
	fmt.Printf("[%s] %s\ncreated by %s\n", l.State, l.Function, l.CreatedBy())
	// Output:
	// [select] github.com/leaksentinel/leaksentinel_test.handle.func1
	// created by github.com/leaksentinel/leaksentinel_test.handle
}

// OnLeak hands each alert to the service's own code: a pager, a metric, a
// dump to disk. It runs on a goroutine of the sentinel's, one alert at a
// time, and is called again for a site each time its growth doubles.
func ExampleOptions_onLeak() {
	alerts := make(chan leaksentinel.Leak, 1)
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval: 5 * time.Millisecond,
		Window:   6,
		Logger:   slog.New(slog.DiscardHandler),
		OnLeak: func(l leaksentinel.Leak) {
			select {
			case alerts <- l: // the first alert; the example prints only that one
			default:
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop()

	stop := serveLeakily()
	defer stop()

	var l leaksentinel.Leak
	select {
	case l = <-alerts:
	case <-time.After(time.Minute):
		fmt.Println("no leak found in a minute")
		return
	}
	fmt.Printf("%s goroutines at %s:%d keep piling up\n", l.State, filepath.Base(l.File), l.Line)
	// Output: select goroutines at example_service_test.go:36 keep piling up
}

// Capture groups the process's own goroutines by site.
func ExampleCapture() {
	stop := make(chan struct{})
	defer close(stop)
	for range 3 {
		go idle(stop)
	}

	for {
		snap, err := leaksentinel.Capture()
		if err != nil {
			log.Fatal(err)
		}
		for _, g := range snap.Groups {
			if g.Function == "github.com/leaksentinel/leaksentinel_test.idle" && g.State == leaksentinel.StateChanReceive && g.Count == 3 {
				fmt.Printf("%d goroutines at [%s] %s\n", g.Count, g.State, g.Function)
				return
			}
		}
		time.Sleep(time.Millisecond) // until all three are parked
	}
	// Output: 3 goroutines at [chan receive] github.com/leaksentinel/leaksentinel_test.idle
}

// idle waits for stop, like a worker with no work.
func idle(stop <-chan struct{}) {
	<-stop
}

// ParseDump reads what a service already printed: here a runtime.Stack dump
// of the classic leak demo (testdata/leakdemo), gzipped as it was saved.
func ExampleParseDump() {
	f, err := os.Open("testdata/go1.27/leak_demo.stack.txt.gz")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	snap, err := leaksentinel.ParseDump(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d goroutines at %d sites\n", snap.Total, len(snap.Groups))
	for _, g := range snap.Groups {
		fmt.Printf("%6d [%s] %s %s:%d", g.Count, g.State, g.Function, filepath.Base(g.File), g.Line)
		if len(g.Creators) > 0 {
			fmt.Printf(", created by %s", g.Creators[0].Function)
		}
		fmt.Println()
	}
	// Output:
	// 20001 goroutines at 2 sites
	//  20000 [chan send] main.alloc2.func1 leak_demo.go:53, created by main.alloc1
	//      1 [running] main.allStacks leak_demo.go:61
}

// ParseProfile reads the ?debug=0 form of /debug/pprof/goroutine, as
// curl -o saves it. A profile has no wait reasons: the state is read from
// the runtime frames on top, and creators are unknown.
func ExampleParseProfile() {
	f, err := os.Open("testdata/go1.27/leak_demo.pb.gz")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	snap, err := leaksentinel.ParseProfile(f)
	if err != nil {
		log.Fatal(err)
	}
	top := snap.Groups[0]
	fmt.Printf("%d of %d goroutines at [%s] %s %s:%d\n",
		top.Count, snap.Total, top.State, top.Function, filepath.Base(top.File), top.Line)
	// Output: 20000 of 20001 goroutines at [chan send] main.alloc2.func1 leak_demo.go:53
}

// Diff compares two snapshots by site, whatever they were read from: here
// a goroutine profile of a process at rest (testdata/park) and a text dump
// of one that leaked. Sites that grew come first.
func ExampleDiff() {
	base := parseFile("testdata/go1.27/goroutine.pb.gz", leaksentinel.ParseProfile)
	cur := parseFile("testdata/go1.27/leak_demo.stack.txt.gz", leaksentinel.ParseDump)

	fmt.Printf("goroutines: %d -> %d\n", base.Total, cur.Total)
	for _, d := range leaksentinel.Diff(base, cur) {
		if d.Growth() > 0 {
			fmt.Printf("%+d [%s] %s %s:%d\n", d.Growth(), d.State, d.Function, filepath.Base(d.File), d.Line)
		}
	}
	// Output:
	// goroutines: 326 -> 20001
	// +20000 [chan send] main.alloc2.func1 leak_demo.go:53
	// +1 [runnable] main.allStacks leak_demo.go:61
}

// parseFile reads a snapshot from a file with parse.
func parseFile(name string, parse func(io.Reader) (*leaksentinel.Snapshot, error)) *leaksentinel.Snapshot {
	f, err := os.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	snap, err := parse(f)
	if err != nil {
		log.Fatal(err)
	}
	return snap
}

// With ProfileDir set, a memory alert carries two heap profiles, one from
// near the start of the growth and one from the alert, and Command is what
// to run on them. The alert here is written out by hand, as OnHeapGrowth
// would receive it.
func ExampleHeapGrowth_Command() {
	report := func(h leaksentinel.HeapGrowth) { // Options.OnHeapGrowth
		fmt.Printf("live heap %d MiB, +%d MiB since %s\n", h.HeapLive>>20, h.Growth>>20, h.Since.Format(time.TimeOnly))
		if cmd := h.Command(); cmd != "" {
			fmt.Println(cmd)
		}
	}

	report(leaksentinel.HeapGrowth{
		HeapLive:    96 << 20,
		Growth:      48 << 20,
		Since:       time.Date(2026, 11, 27, 5, 41, 26, 0, time.UTC),
		BaseProfile: "/var/tmp/leaks/leaksentinel-20261127T054126.512Z-heap-base.pb.gz",
		Profile:     "/var/tmp/leaks/leaksentinel-20261127T055126.514Z-heap.pb.gz",
	})
	// Output:
	// live heap 96 MiB, +48 MiB since 05:41:26
	// go tool pprof -top -lines -base /var/tmp/leaks/leaksentinel-20261127T054126.512Z-heap-base.pb.gz /var/tmp/leaks/leaksentinel-20261127T055126.514Z-heap.pb.gz
}
