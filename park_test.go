package leaksentinel

import (
	"bufio"
	"context"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parked is a set of goroutines parked in known states at known lines of
// this file, each site with a distinct count, released by release.
type parked struct {
	release func()
	want    map[string]parkSite // by marker name
}

type parkSite struct {
	state State
	count int
	line  int // of the "// site:NAME" marker in this file
}

// park parks goroutines in every state a test process can leave and wake
// again. Sites that cannot be woken (nil channels, select {}, sleeps) are
// covered by the fixtures under testdata/ instead.
func park(t *testing.T) *parked {
	t.Helper()
	var (
		wg      sync.WaitGroup // tracks the parked goroutines
		done    = make(chan struct{})
		send    = make(chan int)
		recv    = make(chan int)
		sel1    = make(chan int)
		sel2    = make(chan int)
		mu      sync.Mutex
		rwR     sync.RWMutex // held by Lock: readers wait
		rwW     sync.RWMutex // held by RLock: one writer waits
		missing sync.WaitGroup
		condMu  sync.Mutex
		cond    = sync.NewCond(&condMu)
		woken   bool
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server, err := ln.Accept()
	require.NoError(t, err)
	var pipe [2]int
	require.NoError(t, syscall.Pipe(pipe[:]))

	start := func(n int, f func()) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f()
			}()
		}
	}
	mu.Lock()
	rwR.Lock()
	rwW.RLock()
	missing.Add(1)

	start(3, func() { send <- 1 }) // site:chansend
	start(4, func() { <-recv })    // site:chanrecv
	start(5, func() {
		select { // site:select
		case <-sel1:
		case <-sel2:
		}
	})
	// Parking on the locks is the point of these critical sections.
	start(6, func() {
		mu.Lock()   // site:mutex
		mu.Unlock() //lint:ignore SA2001 parking is the point
	})
	start(2, func() {
		rwR.RLock()   // site:rlock
		rwR.RUnlock() //lint:ignore SA2001 parking is the point
	})
	start(1, func() {
		rwW.Lock()   // site:rwlock
		rwW.Unlock() //lint:ignore SA2001 parking is the point
	})
	start(7, func() { missing.Wait() }) // site:waitgroup
	start(8, func() {
		condMu.Lock()
		for !woken {
			cond.Wait() // site:cond
		}
		condMu.Unlock()
	})
	start(1, func() {
		var b [1]byte
		server.Read(b[:]) // site:iowait
	})
	start(1, func() {
		var b [1]byte
		syscall.Read(pipe[0], b[:]) // site:syscall
	})
	pprof.Do(context.Background(), pprof.Labels("worker", "w1"), func(context.Context) {
		start(9, func() { <-done }) // site:labels
	})

	p := &parked{want: map[string]parkSite{
		"chansend":  {state: StateChanSend, count: 3},
		"chanrecv":  {state: StateChanReceive, count: 4},
		"select":    {state: StateSelect, count: 5},
		"mutex":     {state: StateMutexLock, count: 6},
		"rlock":     {state: StateRWMutexRLock, count: 2},
		"rwlock":    {state: StateRWMutexLock, count: 1},
		"waitgroup": {state: StateWaitGroupWait, count: 7},
		"cond":      {state: StateCondWait, count: 8},
		"iowait":    {state: StateIOWait, count: 1},
		"syscall":   {state: StateSyscall, count: 1},
		"labels":    {state: StateChanReceive, count: 9},
	}}
	lines := markerLines(t, "park_test.go")
	for name, s := range p.want {
		s.line = lines[name]
		require.NotZero(t, s.line, "marker site:%s", name)
		p.want[name] = s
	}
	p.release = func() {
		close(done)
		for range 3 {
			<-send
		}
		close(recv)
		close(sel1)
		mu.Unlock()
		rwR.Unlock()
		rwW.RUnlock()
		missing.Done()
		condMu.Lock()
		woken = true
		cond.Broadcast()
		condMu.Unlock()
		client.Write([]byte{1})
		syscall.Write(pipe[1], []byte{1})
		wg.Wait()
		client.Close()
		server.Close()
		ln.Close()
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
	}
	t.Cleanup(p.release)
	p.waitParked(t)
	return p
}

// waitParked polls Capture until every site holds its count.
func (p *parked) waitParked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := Capture()
		require.NoError(t, err)
		got := p.counts(s)
		ready := true
		for name, want := range p.want {
			if got[name] != want.count {
				ready = false
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines did not park: got %v", got)
		}
		time.Sleep(time.Millisecond)
	}
}

// counts returns, for each marker, the goroutines of s at its line.
func (p *parked) counts(s *Snapshot) map[string]int {
	got := make(map[string]int)
	for _, g := range s.Groups {
		if !strings.HasSuffix(g.File, "park_test.go") {
			continue
		}
		for name, want := range p.want {
			if g.Line == want.line {
				got[name] += g.Count
			}
		}
	}
	return got
}

// markerLines maps NAME to the line of each "// site:NAME" comment in file.
func markerLines(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	lines := make(map[string]int)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if _, name, ok := strings.Cut(sc.Text(), "// site:"); ok {
			lines[strings.TrimSpace(name)] = n
		}
	}
	require.NoError(t, sc.Err())
	return lines
}
