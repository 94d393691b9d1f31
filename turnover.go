package leaksentinel

import (
	"bytes"
	"runtime"
	"strconv"

	"github.com/leaksentinel/leaksentinel/internal/detect"
)

// A rise of a site's floor is a leak only if the goroutines stay: leaked
// goroutines never leave, so those present when the rise began are still
// there when it is reported. Counts alone cannot tell that from load that
// grows for longer than a window (traffic ramping up through the morning),
// where every goroutine waits briefly and the floor rises because more of
// them are in flight at once. Their ages can. Before it alerts, the
// sentinel reads the ids of the site's goroutines from the dump it takes
// to explain the alert: goroutine ids grow with creation, and the sentinel
// notes, at every capture, an id above every goroutine's then. If none of
// the goroutines the site held when its floor had risen is left, the site
// turned over and is not reported; its history restarts, so that a leak
// hidden behind the ramp is found a window later.
//
// The clock errs on the safe side: a P hands out the rest of the batch it
// held when the clock was read (at most 15 ids per P) before it takes a
// newer one, so a goroutine created after the clock may get an id below it
// and count as one that stayed. That keeps an alert, never drops one; it
// makes the check work only where goroutines are created often enough to
// use those batches up (any service under growing load does; a test with
// a handful of goroutines on several Ps may not).
//
// Two kinds of leak are young at every look, and the check leaves them be:
// a goroutine that wakes on a ticker and parks again keeps its id, so it
// stays by this measure; a chain of goroutines each starting its successor
// ("go s.redial()" at the end of redial) does not, and is recognised by its
// creator: a site whose goroutines were created by the site's own function
// is never judged by age.
//
// Wait ages, the "N minutes" of a dump, are not used for this: the runtime
// resets a goroutine's wait whenever it runs, so a leaked goroutine that
// wakes on a ticker and parks again is always "young", and the minutes
// appear only after a garbage collection, in whole minutes. Creation order
// has neither flaw.

// goidBatch is the number of ids a P takes from the runtime at a time
// (runtime._GoidCacheBatch): a goroutine gets the next id of its creator's
// P's batch, so ids grow with creation only batch by batch.
const goidBatch = 16

// goidClock returns an id above that of every goroutine created before the
// call, or 0 if it cannot read one. One goroutine's id is not enough: its
// P may still hold an old batch while other Ps have handed out higher ids.
// Creating goidBatch+1 goroutines in a row from one P uses up its batch and
// takes a new one, whose ids are above every id handed out so far. It
// costs that many goroutines and one-goroutine tracebacks (no stop of the
// world): about 55 µs (BenchmarkGoidClock), against 1.5 ms for the
// capture it follows at 1,000 goroutines.
func goidClock() int64 {
	ids := make(chan int64, goidBatch+1)
	for range goidBatch + 1 {
		go func() {
			var buf [64]byte
			ids <- parseGoid(buf[:runtime.Stack(buf[:], false)])
		}()
	}
	var top int64
	for range goidBatch + 1 {
		top = max(top, <-ids)
	}
	return top
}

// parseGoid reads the id from a traceback's "goroutine N [" header.
func parseGoid(b []byte) int64 {
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return 0
	}
	id, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// turnedOver reports whether none of the goroutines at a site found
// leaking by ev were there when the window's last third began: the floor
// had risen by then (the detector compares the last third's floor with the
// first's), so a leak's goroutines, which never leave, are among those
// present at that moment; load that only grew has replaced them all. at is
// the site's goroutines in this sample's dump. It reports false whenever it
// cannot tell (no dump, a clock no longer remembered).
//
// The last third, not the window's start: a leak that began with the
// window at a line healthy requests also wait at had, at the start, only
// requests there, and would be held back a window. The price is that load
// is told from a leak only when its goroutines live less than a third of a
// window (8 samples by default, 80 s at the default interval).
func (s *Sentinel) turnedOver(ev detect.Event[Site], at []born) bool {
	if len(at) == 0 {
		return false
	}
	clock := s.clockAt(ev.Start + ev.Span - ev.Span/3)
	if clock == 0 {
		return false
	}
	oldest := at[0].id
	for _, b := range at {
		if b.creator.Function == ev.Key.Function {
			// A goroutine that starts its successor and returns (a
			// reconnect or retry loop written as "go c.loop()") is young
			// at every look, yet the chain never ends: no verdict by age.
			return false
		}
		oldest = min(oldest, b.id)
	}
	return oldest > clock
}

// clockAt returns the goroutine clock of sample i, or of the first sample
// after it that read one (a source whose clock is a dump reads it every
// clockEvery captures): a later clock is higher, so it errs towards keeping
// an alert. Zero when none is remembered.
func (s *Sentinel) clockAt(i int) int64 {
	for ; i <= s.det.Samples(); i++ {
		if m, ok := s.markAt(i); ok && m.goid > 0 {
			return m.goid
		}
	}
	return 0
}
