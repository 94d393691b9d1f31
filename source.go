package leaksentinel

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
)

// Source is where a [Sentinel] gets its goroutines: this process (the
// default, when [Options].Source is nil), a live service's net/http/pprof
// endpoints ([NewHTTPSource]), or saved dumps and profiles ([NewReplay]).
// The sentinel's one sampling loop asks every source the same questions,
// from the cheapest to the costliest, so that a verdict is the same
// wherever the goroutines came from.
//
// Capture is the only look a source must have: the goroutines grouped by
// site, every sample. It returns [io.EOF] when the source has no more
// samples (the end of a replay); the sentinel then stops by itself (see
// [Sentinel.Done]). Any other error is a failed sample: it is logged and,
// for a live source, retried with back-off. A snapshot returned with an
// error wrapping [ErrTruncated] is used, and the cut noted once.
//
// A source may also have any of these methods, which the sentinel finds by
// type assertion, as io.Copy finds io.WriterTo, and uses when it has them:
//
//	Waiting() int64
//		the number of waiting goroutines now, costing next to nothing.
//		The sentinel skips a capture while its floor does not rise (see
//		[Options].MaxSkip). Without it, every tick captures.
//	Dump(ctx context.Context) ([]byte, error)
//		a text dump with goroutine ids, wait times and creators, as
//		runtime.Stack or ?debug=2 print it. Asked when a site is reported,
//		if the last capture had at most [Options].DumpLimit goroutines;
//		without it, leaks have no creators and the turnover check is off.
//	Clock(ctx context.Context) (int64, error)
//		a goroutine id no goroutine present now is above (the highest
//		handed out so far, or a dump's highest); 0 when unknown. Asked
//		every capture; the turnover check compares the ids of a site's
//		goroutines with it. Without it, the highest id of a dump taken
//		every few captures serves.
//	Profile(ctx context.Context) ([]byte, error)
//		a pprof goroutine profile (?debug=0), for labels and for the
//		files of [Options].ProfileDir. Asked with Dump.
//	Prove(ctx context.Context) (*Snapshot, error)
//		the runtime's goroutineleak profile: the goroutines it proved can
//		never wake. [errors.ErrUnsupported] when the source has none.
//		Asked for a reported site at most once a window, guarded against
//		its quadratic pause; a site once proved stays confirmed.
//
// The sentinel calls a source from its one sampling goroutine, never
// concurrently.
type Source interface {
	Capture(ctx context.Context) (*Snapshot, error)
}

// The optional looks of a Source, as documented there.
type (
	waitingSource interface{ Waiting() int64 }
	dumpSource    interface {
		Dump(ctx context.Context) ([]byte, error)
	}
	clockSource interface {
		Clock(ctx context.Context) (int64, error)
	}
	profileSource interface {
		Profile(ctx context.Context) ([]byte, error)
	}
	proofSource interface {
		Prove(ctx context.Context) (*Snapshot, error)
	}
)

// processSource is the process the sentinel runs in: runtime.GoroutineProfile
// for captures, runtime/metrics as the trigger, runtime.Stack for dumps, the
// goroutine clock, the pprof goroutine profile and, where the runtime has it,
// the goroutineleak profile.
type processSource struct {
	waiting  []metrics.Sample
	dumpSize int // the last dump's size and a quarter: the next buffer
}

func newProcessSource() *processSource {
	return &processSource{waiting: []metrics.Sample{{Name: "/sched/goroutines/waiting:goroutines"}}}
}

func (p *processSource) Capture(context.Context) (*Snapshot, error) { return Capture() }

func (p *processSource) Waiting() int64 {
	metrics.Read(p.waiting)
	if p.waiting[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(p.waiting[0].Value.Uint64())
}

// Dump returns runtime.Stack(all) text, sized from the last one so that it
// rarely needs a second stop of the world.
func (p *processSource) Dump(context.Context) ([]byte, error) {
	size := max(p.dumpSize, runtime.NumGoroutine()*2048, 64<<10)
	for {
		buf := make([]byte, size)
		n := runtime.Stack(buf, true)
		if n < len(buf) || size >= 256<<20 {
			p.dumpSize = n + n/4
			return buf[:n], nil
		}
		size *= 2
	}
}

func (p *processSource) Clock(context.Context) (int64, error) { return goidClock(), nil }

func (p *processSource) Profile(context.Context) ([]byte, error) {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (p *processSource) Prove(context.Context) (*Snapshot, error) {
	prof := pprof.Lookup("goroutineleak")
	if prof == nil {
		return nil, errNoProof
	}
	// WriteTo runs the leak-detection cycle; Count() only reports the
	// last one, so the profile is written first.
	var b bytes.Buffer
	if err := prof.WriteTo(&b, 0); err != nil {
		return nil, err
	}
	return ParseProfile(&b)
}

// errNoProof is what Prove returns in a process whose runtime has no
// goroutineleak profile.
var errNoProof error = unsupported("goroutineleak profile unavailable (Go 1.27, or Go 1.26 with GOEXPERIMENT=goroutineleakprofile)")

// unsupported is an error that says why a source lacks a look; it is
// [errors.ErrUnsupported].
type unsupported string

func (u unsupported) Error() string        { return string(u) }
func (u unsupported) Is(target error) bool { return target == errors.ErrUnsupported }

// ownFunctions are the functions at the bottom of the sentinel's own
// goroutines: its sampler, its OnLeak delivery and the goroutine clock's
// brief goroutines. Whatever the source, a process running a sentinel
// shows them; they are never a site a user should see.
var ownFunctions = map[string]bool{
	"github.com/leaksentinel/leaksentinel.(*Sentinel).run":     true,
	"github.com/leaksentinel/leaksentinel.(*Sentinel).deliver": true,
	"github.com/leaksentinel/leaksentinel.goidClock.func1":     true,
}

// withoutOwn returns snap without the goroutines of sentinels (this one,
// or another in the watched process), snap itself when it has none.
func withoutOwn(snap *Snapshot) *Snapshot {
	own := func(g *Group) bool {
		for _, st := range g.Stacks {
			for _, f := range st.Frames {
				if ownFunctions[f.Function] {
					return true
				}
			}
		}
		return false
	}
	i := slices.IndexFunc(snap.Groups, func(g Group) bool { return own(&g) })
	if i < 0 {
		return snap
	}
	out := *snap
	out.Groups = slices.Clone(snap.Groups[:i])
	for j := i; j < len(snap.Groups); j++ {
		g := &snap.Groups[j]
		if own(g) {
			out.Total -= g.Count
			continue
		}
		out.Groups = append(out.Groups, *g)
	}
	return &out
}
