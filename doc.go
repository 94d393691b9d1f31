// Package leaksentinel finds goroutine leaks while a service runs, and in
// tests.
//
// A service starts a sentinel in main:
//
//	s, err := leaksentinel.Start(leaksentinel.Options{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer s.Stop()
//
// It samples the goroutines on a ticker, groups them by the line they are
// parked at, and when one site's count keeps rising it logs through
// log/slog, naming the line and the line that started the goroutines:
//
//	level=WARN msg="leaksentinel: goroutine leak" site="main.search.func1 /src/main.go:103"
//	  state="chan send" count=598 growth=400 rate=4364.02 since=2026-11-27T05:41:26Z
//	  created_by="main.search /src/main.go:102" stack_bytes=1656460 confirmed=false
//
// # Sites
//
// A [Site] is a state (chan send, select, sync.Mutex.Lock, IO wait, ...) and
// the first frame outside the runtime and the standard library's blocking
// plumbing: for a goroutine stuck in sync.(*Mutex).Lock, the caller of Lock.
// A [Snapshot] holds a process's goroutines grouped by site, whatever it was
// read from: the live process ([Capture]), a text dump ([ParseDump]: the
// output of runtime.Stack, /debug/pprof/goroutine?debug=2 or ?debug=1, a
// panic or SIGQUIT traceback) or a pprof profile ([ParseProfile]). [Diff]
// compares two snapshots site by site, like go tool pprof -base.
//
// # Detection
//
// A leak is a site whose floor keeps rising: goroutines arrive and never
// leave. Healthy services have thousands of parked goroutines, in pools that
// grow and shrink, bursts that drain and waits that end; their floors stay
// put. The sentinel keeps each site's floors over the last [Options.Window]
// samples (and over 2, 4 and 8 times as many, for slow leaks) and reports a
// site when they rise steadily across the whole window. Settings count
// samples, not seconds, so they mean the same at any interval.
//
// Load that keeps growing raises a floor too. Before it alerts, the
// sentinel checks that the goroutines stay: if none of those the site held
// once its floor had risen is left (goroutine ids tell their age), the site
// turned over and is judged afresh over a new window ([Stats].TurnedOver).
//
// # Cost
//
// Each tick reads the number of waiting goroutines from runtime/metrics
// (well under a microsecond). A full capture, runtime.GoroutineProfile with
// two stops of the world under a millisecond, is taken when that number's
// floor rose since the last one, or at least every [Options.MaxSkip]+1
// ticks; captures are the detector's samples. Only an alert takes the costlier looks:
// a runtime.Stack dump to name creators (which stops the world for the whole
// dump, so only under [Options.DumpLimit] goroutines), the pprof goroutine
// profile for labels, and, where the runtime has it, the goroutineleak
// profile to prove the leak.
//
// # Tests
//
// In tests, the same grouping makes leak reports short; see docs/testing.md
// in the repository.
package leaksentinel
