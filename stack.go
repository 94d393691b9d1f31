package leaksentinel

import (
	"fmt"

	"github.com/leaksentinel/leaksentinel/internal/classify"
)

// State is why a goroutine is not running, normalised across sources: the
// wait reason a traceback header prints, without the wait minutes, "locked
// to thread" or "(leaked)" (those are fields of [Group]).
//
// Besides the constants below, a State may hold any other wait reason the
// runtime prints ("GC worker (idle)", "finalizer wait", ...).
type State string

// States every source can report. Profiles and raw PCs have no header, so
// their state is inferred from the runtime frames on top; where frames
// cannot tell two states apart without depending on one Go release's line
// numbers, the broader one is reported (a nil-channel send is [StateChanSend]
// there). [Diff] compares snapshots at the coarser of their two sources.
const (
	StateChanSend       State = "chan send"
	StateChanReceive    State = "chan receive"
	StateChanSendNil    State = "chan send (nil chan)"
	StateChanReceiveNil State = "chan receive (nil chan)"
	StateSelect         State = "select"
	StateSelectNoCases  State = "select (no cases)"
	StateMutexLock      State = "sync.Mutex.Lock"
	StateRWMutexLock    State = "sync.RWMutex.Lock"
	StateRWMutexRLock   State = "sync.RWMutex.RLock"
	StateWaitGroupWait  State = "sync.WaitGroup.Wait"
	StateCondWait       State = "sync.Cond.Wait"
	StateSemacquire     State = "semacquire"
	StateIOWait         State = "IO wait"
	StateSleep          State = "sleep"
	StateSyscall        State = "syscall"
	StateRunning        State = "running"
	StateRunnable       State = "runnable"
	// StateWaiting is a goroutine parked in the runtime for a reason its
	// frames do not show.
	StateWaiting State = "waiting"
	// StateUnknown is reported where the source hides what the goroutine
	// waits on: the ?debug=1 text drops the runtime frames that would
	// tell a channel operation or a select from a runnable goroutine.
	StateUnknown State = "unknown"
)

// Frame is one function call in a stack.
type Frame struct {
	Function string // as tracebacks print it: "main.(*Server).serve"
	File     string
	Line     int
}

// String returns "function file:line", or "" for the zero Frame.
func (f Frame) String() string {
	if f == (Frame{}) {
		return ""
	}
	return fmt.Sprintf("%s %s:%d", f.Function, f.File, f.Line)
}

// Site is where goroutines are parked, as a person would name it: the state
// and the first frame outside the runtime and the standard library's
// blocking plumbing (sync, internal/poll, net and os file descriptors, io,
// bufio, time.Sleep, syscall). For a goroutine stuck in
// sync.(*Mutex).Lock it is the caller of Lock; for one reading a socket, the
// caller of Read. A stack made only of plumbing is named by its first frame
// the runtime would print.
//
// Site is comparable and keys maps.
type Site struct {
	State    State
	Function string
	File     string
	Line     int
}

// Frame returns the site's frame.
func (s Site) Frame() Frame {
	return Frame{Function: s.Function, File: s.File, Line: s.Line}
}

// String returns "[state] function file:line".
func (s Site) String() string {
	if s.Function == "" {
		return fmt.Sprintf("[%s]", s.State)
	}
	return fmt.Sprintf("[%s] %s %s:%d", s.State, s.Function, s.File, s.Line)
}

// Stack is one distinct stack and the number of goroutines that had it.
type Stack struct {
	// Frames are innermost first, as a traceback prints them: runtime
	// frames that tracebacks hide by default are left out whatever the
	// source.
	Frames    []Frame
	CreatedBy Frame // the "created by" frame; zero when unknown
	Count     int
}

// Creator is a "created by" frame (the go statement that started the
// goroutines) and how many goroutines of a group it started.
type Creator struct {
	Frame
	Count int
}

// coarsen is the state as a source of precision p reports it.
func (s State) coarsen(p classify.Precision) State {
	return State(classify.Coarsen(string(s), p))
}
