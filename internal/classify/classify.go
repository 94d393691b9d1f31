// Package classify holds the rules that turn what a source says about a
// goroutine into a blocking site: the normalised state, and the frame a person
// must read. Every source (text dumps, pprof protos, raw PCs) goes through the
// same rules, so the same goroutine gets the same site whatever captured it.
package classify

import "strings"

// The states every source agrees on. Text dumps print them in goroutine
// headers; frame-only sources infer them from the runtime frames on top.
const (
	ChanSend        = "chan send"
	ChanReceive     = "chan receive"
	ChanSendNil     = "chan send (nil chan)"
	ChanReceiveNil  = "chan receive (nil chan)"
	Select          = "select"
	SelectNoCases   = "select (no cases)"
	MutexLock       = "sync.Mutex.Lock"
	RWMutexLock     = "sync.RWMutex.Lock"
	RWMutexRLock    = "sync.RWMutex.RLock"
	WaitGroupWait   = "sync.WaitGroup.Wait"
	CondWait        = "sync.Cond.Wait"
	Semacquire      = "semacquire"
	IOWait          = "IO wait"
	Sleep           = "sleep"
	Syscall         = "syscall"
	Running         = "running"
	Runnable        = "runnable"
	Waiting         = "waiting"
	Unknown         = "unknown"
	stateLeakedMark = " (leaked)"
)

// Precision says how much of a goroutine's state a source can show.
type Precision uint8

const (
	// Text is a traceback header: the runtime's own wait reason.
	Text Precision = iota
	// Frames is a full stack including runtime frames (pprof debug=0,
	// runtime.GoroutineProfile): the state is inferred from the frames on
	// top, and states that differ only by a line inside the runtime (a nil
	// channel send and a plain send) are reported as the broader one.
	Frames
	// UserFrames is a stack whose runtime frames above the first other
	// frame were dropped (pprof debug=1): only states whose plumbing lives
	// outside package runtime (sync, internal/poll, time.Sleep) can be
	// known; the rest are Unknown. Syscalls are among the rest: some enter
	// through package syscall, which shows, others through the runtime
	// (os/signal's receiver), which does not.
	UserFrames
)

// Coarsen returns the state as a source of precision p would have reported
// it, so that snapshots from different sources can be compared.
func Coarsen(state string, p Precision) string {
	if p == Text {
		return state
	}
	switch state {
	case ChanSendNil:
		state = ChanSend
	case ChanReceiveNil:
		state = ChanReceive
	case Running, "preempted":
		state = Runnable
	case ChanSend, ChanReceive, Select, SelectNoCases, MutexLock, RWMutexLock,
		RWMutexRLock, WaitGroupWait, CondWait, Semacquire, IOWait, Sleep, Syscall,
		Runnable, Unknown:
	default:
		state = Waiting
	}
	if p == UserFrames {
		switch state {
		case MutexLock, RWMutexLock, RWMutexRLock, WaitGroupWait, CondWait,
			Semacquire, IOWait, Sleep:
		default:
			state = Unknown
		}
	}
	return state
}

// Header is what a traceback header says besides the goroutine id:
//
//	goroutine 20 [chan send, 2 minutes]:
//	goroutine 7 [chan receive (leaked), locked to thread]:
//	goroutine 9 [select, 5 minutes, synctest bubble 1]:
type Header struct {
	State       string // normalised, without "(leaked)", "(scan)", "(durable)"
	WaitMinutes int    // 0 when the header has none
	Leaked      bool
	Locked      bool
}

// ParseStatus parses the part of a header between the brackets, without
// labels (the caller strips those, as their syntax differs between Go
// releases). It reports false when the status is empty.
func ParseStatus(s string) (Header, bool) {
	var h Header
	status, rest, _ := strings.Cut(s, ", ")
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ", ")
		switch {
		case part == "locked to thread":
			h.Locked = true
		case strings.HasSuffix(part, " minutes"):
			h.WaitMinutes = atoi(strings.TrimSuffix(part, " minutes"))
		}
		// Anything else ("synctest bubble 3", additions of later
		// releases) says nothing about the blocking site.
	}
	for {
		switch {
		case strings.HasSuffix(status, stateLeakedMark):
			h.Leaked = true
			status = strings.TrimSuffix(status, stateLeakedMark)
			continue
		case strings.HasSuffix(status, " (scan)"):
			status = strings.TrimSuffix(status, " (scan)")
			continue
		case strings.HasSuffix(status, " (durable)"):
			// synctest's durably blocked goroutines wait on the same
			// primitives; the bubble is not part of the site.
			status = strings.TrimSuffix(status, " (durable)")
			continue
		}
		break
	}
	h.State = status
	return h, status != ""
}

// atoi parses a small non-negative decimal number, returning 0 on anything
// else.
func atoi(s string) int {
	if s == "" || len(s) > 9 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// primitives maps the function that implements a blocking operation to the
// state the runtime reports for a goroutine parked in it. The innermost one
// found in a stack wins.
var primitives = map[string]string{
	"runtime.chansend":                        ChanSend,
	"runtime.chansend1":                       ChanSend,
	"runtime.chanrecv":                        ChanReceive,
	"runtime.chanrecv1":                       ChanReceive,
	"runtime.chanrecv2":                       ChanReceive,
	"runtime.selectgo":                        Select,
	"runtime.block":                           SelectNoCases,
	"internal/sync.runtime_SemacquireMutex":   MutexLock,
	"sync.runtime_SemacquireMutex":            MutexLock, // before Go 1.24
	"sync.runtime_SemacquireRWMutexR":         RWMutexRLock,
	"sync.runtime_SemacquireRWMutex":          RWMutexLock,
	"sync.runtime_SemacquireWaitGroup":        WaitGroupWait,
	"sync.runtime_Semacquire":                 Semacquire,
	"runtime.semacquire":                      Semacquire, // the runtime's own semaphores
	"internal/poll.runtime_Semacquire":        Semacquire,
	"sync.runtime_notifyListWait":             CondWait,
	"internal/poll.runtime_pollWait":          IOWait,
	"time.Sleep":                              Sleep,
	"runtime.notetsleepg":                     Syscall,
	"runtime.cgocall":                         Syscall,
	"syscall.Syscall":                         Syscall,
	"syscall.Syscall6":                        Syscall,
	"syscall.RawSyscall":                      Syscall,
	"syscall.RawSyscall6":                     Syscall,
	"syscall.rawsyscalln":                     Syscall,
	"syscall.syscalln":                        Syscall,
	"internal/runtime/syscall.Syscall6":       Syscall,
	"internal/runtime/syscall/linux.Syscall6": Syscall,
	"golang.org/x/sys/unix.Syscall":           Syscall,
	"golang.org/x/sys/unix.Syscall6":          Syscall,
	"golang.org/x/sys/unix.RawSyscall":        Syscall,
	"golang.org/x/sys/unix.RawSyscall6":       Syscall,
}

// parks are the runtime functions a parked goroutine has on top.
func isPark(fn string) bool {
	return fn == "runtime.gopark" || fn == "runtime.goparkunlock"
}

// InferState returns the state of a goroutine from its frames, innermost
// first (function names only), as the runtime would print it in a header.
//
// With Frames precision the runtime frames are present: a goroutine with no
// primitive and no park on top is runnable, and one parked in a function this
// table does not know is "waiting". With UserFrames precision the runtime
// frames above the first other frame are missing, so only primitives outside
// package runtime can be seen and everything else is Unknown.
func InferState(funcs []string, p Precision) string {
	parked := false
	for _, fn := range funcs {
		if s, ok := primitives[fn]; ok {
			if p == UserFrames {
				return Coarsen(s, UserFrames)
			}
			return s
		}
		if isPark(fn) {
			parked = true
			continue
		}
		if isRuntimeInternal(fn) {
			continue
		}
		break
	}
	switch {
	case p == UserFrames:
		return Unknown
	case parked:
		return Waiting
	case capturing(funcs):
		// The goroutine taking the profile is the one running.
		return Running
	default:
		return Runnable
	}
}

// capturing reports whether a stack is that of the goroutine taking a
// goroutine profile.
func capturing(funcs []string) bool {
	for _, fn := range funcs {
		if fn == "runtime.GoroutineProfile" || strings.HasPrefix(fn, "runtime.goroutineProfileWithLabels") {
			return true
		}
	}
	return false
}

// plumbing lists the standard packages whose frames only carry a goroutine
// to the primitive it blocks on. A site names the first frame outside them:
// for a goroutine stuck in sync.(*Mutex).Lock, the caller of Lock; for one
// reading a socket, the caller of conn.Read, not net.(*netFD).Read, which
// every reader in the process shares.
var plumbing = map[string]bool{
	"runtime":     true,
	"sync":        true,
	"sync/atomic": true,
	"syscall":     true,
	"time":        true,
	"io":          true,
	"bufio":       true,
	"os":          true,
	"net":         true,
}

// Package returns the import path of a function name as tracebacks print it:
//
//	net/http.(*persistConn).readLoop -> net/http
//	main.parkGeneric[...]            -> main
func Package(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

// IsPlumbing reports whether fn belongs to the runtime or to the standard
// packages that implement blocking, so that it cannot be a site.
func IsPlumbing(fn string) bool {
	pkg := Package(fn)
	return plumbing[pkg] || strings.HasPrefix(pkg, "internal/") || strings.HasPrefix(pkg, "runtime/internal/")
}

// isRuntimeInternal reports whether a traceback hides fn by default: the
// runtime's unexported functions and the runtime's internal packages.
func isRuntimeInternal(fn string) bool {
	if rest, ok := strings.CutPrefix(fn, "runtime."); ok {
		return rest == "" || !('A' <= rest[0] && rest[0] <= 'Z')
	}
	return strings.HasPrefix(fn, "internal/runtime/") || strings.HasPrefix(fn, "runtime/internal/")
}

// Hidden reports whether a traceback printed at the default level omits
// frames of fn, so that stacks from frame-only sources can be shown as a
// traceback would show them.
func Hidden(fn string) bool {
	return isRuntimeInternal(fn)
}

// SiteIndex returns the index of the frame that names a goroutine's site:
// the first frame outside the plumbing, else the first frame the runtime
// would not hide, else the first frame. It returns -1 for no frames.
func SiteIndex(n int, fn func(i int) string) int {
	if n == 0 {
		return -1
	}
	for i := 0; i < n; i++ {
		if !IsPlumbing(fn(i)) {
			return i
		}
	}
	for i := 0; i < n; i++ {
		if !isRuntimeInternal(fn(i)) {
			return i
		}
	}
	return 0
}

// PrintName returns a function name as tracebacks print it: type arguments
// of generic functions and types shown as "[...]".
//
//	main.parkGeneric[go.shape.string]          -> main.parkGeneric[...]
//	main.(*Set[go.shape.int]).Add              -> main.(*Set[...]).Add
//
// pprof profiles carry the linker's names with the shapes spelled out;
// tracebacks and runtime.CallersFrames elide them.
func PrintName(name string) string {
	if strings.IndexByte(name, '[') < 0 {
		return name
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '[':
			if depth == 0 {
				b.WriteString("[...]")
			}
			depth++
		case c == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	if depth != 0 {
		return name // unbalanced: leave it as it is
	}
	return b.String()
}
