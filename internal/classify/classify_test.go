package classify

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPrintName(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "main.main", want: "main.main"},
		{give: "main.parkGeneric[go.shape.string]", want: "main.parkGeneric[...]"},
		{give: "main.parkGeneric[...]", want: "main.parkGeneric[...]"},
		{give: "main.(*Set[go.shape.int]).Add", want: "main.(*Set[...]).Add"},
		{give: "main.F[go.shape.[]int]", want: "main.F[...]"},
		{give: "main.F[go.shape.int", want: "main.F[go.shape.int"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, PrintName(tt.give), tt.give)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		give string
		want Header
	}{
		{give: "chan send", want: Header{State: ChanSend}},
		{give: "chan send, 2 minutes", want: Header{State: ChanSend, WaitMinutes: 2}},
		{give: "chan receive (leaked), 7 minutes, locked to thread", want: Header{State: ChanReceive, WaitMinutes: 7, Leaked: true, Locked: true}},
		{give: "select (durable), synctest bubble 1", want: Header{State: Select}},
		{give: "running (scan)", want: Header{State: Running}},
		{give: "chan receive (nil chan)", want: Header{State: ChanReceiveNil}},
	}
	for _, tt := range tests {
		got, ok := ParseStatus(tt.give)
		assert.True(t, ok, tt.give)
		assert.Equal(t, tt.want, got, tt.give)
	}
	_, ok := ParseStatus("")
	assert.False(t, ok)
}

func TestSiteIndex(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want int
	}{
		{name: "mutex: the caller of Lock", give: []string{"internal/sync.runtime_SemacquireMutex", "internal/sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).Lock", "sync.(*Mutex).Lock", "main.f"}, want: 4},
		{name: "socket read: the caller of Read", give: []string{"internal/poll.runtime_pollWait", "internal/poll.(*pollDesc).wait", "internal/poll.(*FD).Read", "net.(*netFD).Read", "net.(*conn).Read", "bufio.(*Reader).fill", "net/http.(*persistConn).readLoop"}, want: 6},
		{name: "only plumbing: first the runtime prints", give: []string{"runtime.gopark", "os/signal.signal_recv"}, want: 1},
		{name: "all plumbing", give: []string{"runtime.gopark", "time.Sleep", "runtime.goexit"}, want: 1},
		{name: "none", give: nil, want: -1},
	}
	for _, tt := range tests {
		got := SiteIndex(len(tt.give), func(i int) string { return tt.give[i] })
		assert.Equal(t, tt.want, got, tt.name)
	}
}

func TestCoarsen(t *testing.T) {
	assert.Equal(t, ChanSend, Coarsen(ChanSendNil, Frames))
	assert.Equal(t, ChanSendNil, Coarsen(ChanSendNil, Text))
	assert.Equal(t, Unknown, Coarsen(ChanSendNil, UserFrames))
	assert.Equal(t, MutexLock, Coarsen(MutexLock, UserFrames))
	assert.Equal(t, Runnable, Coarsen(Running, Frames))
	assert.Equal(t, Waiting, Coarsen("GC worker (idle)", Frames))
	for _, p := range []Precision{Text, Frames, UserFrames} {
		for _, s := range []string{ChanSend, ChanSendNil, Select, MutexLock, IOWait, Syscall, Running, "finalizer wait"} {
			c := Coarsen(s, p)
			assert.Equal(t, c, Coarsen(c, p), "coarsening is idempotent: %s at %d", s, p)
		}
	}
}
