// Command park parks goroutines in every blocking state the runtime can
// print, waits until all of them have really parked, and then captures the
// goroutines the way the -mode flag asks. It is run by ../gen, which turns
// its output into the fixtures in ../go1.NN; see ../README.md.
//
// Every blocking statement is on a line ending in a "// site:NAME" comment.
// The generator finds the line numbers by scanning this file for those
// comments, so lines can move freely. Every site parks a distinct number of
// goroutines (the count in the sites table), so a test can tell the sites
// apart by count alone.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A site is one blocking statement and the goroutines parked on it.
type site struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	// Leaked says whether the goroutineleak profile must report the
	// goroutines of this site.
	Leaked bool `json:"leaked"`
	// Primitive says what the goroutines wait on:
	//   "local":  a channel or sync primitive reachable only from the
	//             parked goroutines' own stacks (provably leaked);
	//   "global": a package-level channel (always reachable, never leaked);
	//   "nil":    a nil channel (leaked by definition);
	//   "none":   nothing the leak detector considers (no cases, I/O,
	//             semaphores, sleep, system calls).
	Primitive string `json:"primitive"`
	// Match names a function that identifies the goroutines of a site
	// whose blocking frame is not in this file (the os/signal goroutine).
	Match string `json:"match,omitempty"`

	start func(n int)
}

// sites lists the sites in the order they are started. The counts must be
// distinct.
var sites = []site{
	{Name: "signal", Count: 1, Primitive: "none", Match: "os/signal.loop", start: startSignal},
	{Name: "rwlock", Count: 2, Leaked: true, Primitive: "local", start: startRWLock},
	{Name: "syscall", Count: 3, Primitive: "none", start: startSyscall},
	{Name: "deep", Count: 4, Leaked: true, Primitive: "local", start: startDeep},
	{Name: "accept", Count: 5, Primitive: "none", start: startAccept},
	{Name: "iowait", Count: 6, Primitive: "none", start: startIOWait},
	{Name: "semacquire", Count: 7, Primitive: "none", start: startSemacquire},
	{Name: "labels", Count: 8, Leaked: true, Primitive: "local", start: startLabels},
	{Name: "grandchild", Count: 9, Leaked: true, Primitive: "local", start: startGrandchild},
	{Name: "generic", Count: 10, Leaked: true, Primitive: "local", start: startGeneric},
	{Name: "method", Count: 11, Leaked: true, Primitive: "local", start: startMethod},
	{Name: "inlined", Count: 12, Leaked: true, Primitive: "local", start: startInlined},
	{Name: "sleep", Count: 13, Primitive: "none", start: startSleep},
	{Name: "chansend", Count: 14, Leaked: true, Primitive: "local", start: startChanSend},
	{Name: "chansendfull", Count: 15, Leaked: true, Primitive: "local", start: startChanSendFull},
	{Name: "chanrecv", Count: 16, Primitive: "global", start: startChanRecv},
	{Name: "rangechan", Count: 17, Leaked: true, Primitive: "local", start: startRangeChan},
	{Name: "select", Count: 18, Leaked: true, Primitive: "local", start: startSelect},
	{Name: "selectnocases", Count: 19, Leaked: true, Primitive: "none", start: startSelectNoCases},
	{Name: "nilsend", Count: 20, Leaked: true, Primitive: "nil", start: startNilSend},
	{Name: "nilrecv", Count: 21, Leaked: true, Primitive: "nil", start: startNilRecv},
	{Name: "mutex", Count: 22, Leaked: true, Primitive: "local", start: startMutex},
	{Name: "rlock", Count: 23, Leaked: true, Primitive: "local", start: startRLock},
	{Name: "waitgroup", Count: 24, Leaked: true, Primitive: "local", start: startWaitGroup},
	{Name: "cond", Count: 25, Leaked: true, Primitive: "local", start: startCond},
}

// ---- channels ----

// globalCh is a package-level channel: it is always reachable from the data
// segment, so goroutines receiving from it are never reported as leaked.
var globalCh = make(chan int)

func startChanSend(n int) {
	ch := make(chan int)
	for range n {
		go parkChanSend(ch)
	}
}

func parkChanSend(ch chan int) {
	ch <- 1 // site:chansend
}

func startChanSendFull(n int) {
	ch := make(chan int, 1)
	ch <- 0
	for range n {
		go parkChanSendFull(ch)
	}
}

func parkChanSendFull(ch chan int) {
	ch <- 1 // site:chansendfull
}

func startChanRecv(n int) {
	for range n {
		go parkChanRecv()
	}
}

func parkChanRecv() {
	<-globalCh // site:chanrecv
}

func startRangeChan(n int) {
	ch := make(chan int)
	for range n {
		go parkRangeChan(ch)
	}
}

func parkRangeChan(ch chan int) {
	for range ch { // site:rangechan
	}
}

func startSelect(n int) {
	a, b := make(chan int), make(chan string)
	for range n {
		go parkSelect(a, b)
	}
}

func parkSelect(a chan int, b chan string) {
	select { // site:select
	case <-a:
	case b <- "x":
	}
}

func startSelectNoCases(n int) {
	for range n {
		go parkSelectNoCases()
	}
}

func parkSelectNoCases() {
	select {} // site:selectnocases
}

func startNilSend(n int) {
	for range n {
		go parkNilSend()
	}
}

func parkNilSend() {
	var ch chan int
	ch <- 1 // site:nilsend
}

func startNilRecv(n int) {
	for range n {
		go parkNilRecv()
	}
}

func parkNilRecv() {
	var ch chan int
	<-ch // site:nilrecv
}

// ---- sync ----

// The start functions below run on the main goroutine, lock or arm the
// primitive and return without keeping a reference to it, so the primitive
// is reachable only from the parked goroutines.

// guarded is a typical mutex-protected struct. Its pointer field also keeps
// the mutex out of the runtime's tiny allocator, which packs small
// pointer-free objects (a bare sync.Mutex) into shared 16-byte blocks: a
// block shared with a live object makes the mutex reachable, and the leak
// detector then (correctly) does not report its waiters.
type guarded struct {
	mu   sync.Mutex
	data map[string]int
}

func startMutex(n int) {
	g := &guarded{data: map[string]int{}}
	g.mu.Lock() // never unlocked
	for range n {
		go parkMutex(g)
	}
}

func parkMutex(g *guarded) {
	g.mu.Lock() // site:mutex
	g.data["x"]++
}

// startRWLock uses one RWMutex per writer: a second writer on the same
// RWMutex would wait in sync.Mutex.Lock (the writers' mutex), not in
// sync.RWMutex.Lock.
func startRWLock(n int) {
	for range n {
		rw := new(sync.RWMutex)
		rw.RLock() // never unlocked
		go parkRWLock(rw)
	}
}

func parkRWLock(rw *sync.RWMutex) {
	rw.Lock() // site:rwlock
}

func startRLock(n int) {
	rw := new(sync.RWMutex)
	rw.Lock() // never unlocked
	for range n {
		go parkRLock(rw)
	}
}

func parkRLock(rw *sync.RWMutex) {
	rw.RLock() // site:rlock
}

func startWaitGroup(n int) {
	wg := new(sync.WaitGroup)
	wg.Add(1) // Done is never called
	for range n {
		go parkWaitGroup(wg)
	}
}

func parkWaitGroup(wg *sync.WaitGroup) {
	wg.Wait() // site:waitgroup
}

func startCond(n int) {
	c := sync.NewCond(new(sync.Mutex))
	for range n {
		go parkCond(c)
	}
}

func parkCond(c *sync.Cond) {
	c.L.Lock()
	c.Wait() // site:cond
}

// ---- I/O, semaphores, sleep, system calls ----

// keepAlive holds the other ends of parked connections and pipes so that no
// finalizer closes them.
var keepAlive []any

// ioConns are the server ends of the connections the iowait goroutines read.
var ioConns []net.Conn

func startAccept(n int) {
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		go parkAccept(ln)
	}
}

func parkAccept(ln net.Listener) {
	c, err := ln.Accept() // site:accept
	log.Fatalf("Accept returned %v, %v", c, err)
}

func startIOWait(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	for range n {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		keepAlive = append(keepAlive, client)
		ioConns = append(ioConns, server)
		go parkIOWait(server)
	}
	// The semacquire readers must find every connection's read lock
	// taken, so wait for these readers to block in the netpoller first.
	waitFor("main.parkIOWait(", "IO wait", n)
}

func parkIOWait(c net.Conn) {
	buf := make([]byte, 1)
	n, err := c.Read(buf) // site:iowait
	log.Fatalf("Read returned %d, %v", n, err)
}

// startSemacquire starts second readers on the connections the iowait
// goroutines are reading: they wait for the read lock of internal/poll's
// fdMutex, a runtime semaphore.
func startSemacquire(n int) {
	for i := range n {
		go parkSemacquire(ioConns[i%len(ioConns)])
	}
}

func parkSemacquire(c net.Conn) {
	buf := make([]byte, 1)
	n, err := c.Read(buf) // site:semacquire
	log.Fatalf("Read returned %d, %v", n, err)
}

func startSleep(n int) {
	for range n {
		go parkSleep()
	}
}

func parkSleep() {
	time.Sleep(time.Hour) // site:sleep
}

// startSyscall starts goroutines blocked in a raw read(2) on an empty,
// blocking pipe: they stay in the "syscall" state, each holding a thread.
func startSyscall(n int) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		log.Fatal(err)
	}
	keepAlive = append(keepAlive, p)
	for range n {
		go parkSyscall(p[0])
	}
}

func parkSyscall(fd int) {
	buf := make([]byte, 1)
	n, err := syscall.Read(fd, buf) // site:syscall
	log.Fatalf("read returned %d, %v", n, err)
}

// startSignal makes os/signal start its watcher goroutine.
func startSignal(int) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1) // site:signal
}

// ---- traceback shapes ----

func startInlined(n int) {
	ch := make(chan int)
	for range n {
		go parkInlined(ch)
	}
}

func parkInlined(ch chan int) {
	recvInlined(ch)
}

// recvInlined is small enough for the compiler to inline it into
// parkInlined, so tracebacks print it as an inlined frame.
func recvInlined(ch chan int) int {
	return <-ch // site:inlined
}

// deepFrames is deep enough for tracebacks to elide frames in the middle.
const deepFrames = 150

func startDeep(n int) {
	ch := make(chan int)
	for range n {
		go parkDeep(deepFrames, ch)
	}
}

func parkDeep(depth int, ch chan int) {
	if depth > 0 {
		parkDeep(depth-1, ch)
		return
	}
	<-ch // site:deep
}

func startLabels(n int) {
	ch := make(chan int)
	labels := pprof.Labels("worker", "w1", "tenant", "a b")
	pprof.Do(context.Background(), labels, func(context.Context) {
		for range n {
			go parkLabels(ch) // inherits the labels
		}
	})
}

func parkLabels(ch chan int) {
	<-ch // site:labels
}

// startGrandchild starts chains main -> spawnParent -> spawnChild ->
// parkGrandchild; the two middle goroutines exit.
func startGrandchild(n int) {
	ch := make(chan int)
	for range n {
		go spawnParent(ch)
	}
}

func spawnParent(ch chan int) {
	go spawnChild(ch)
}

func spawnChild(ch chan int) {
	go parkGrandchild(ch)
}

func parkGrandchild(ch chan int) {
	<-ch // site:grandchild
}

func startGeneric(n int) {
	ch := make(chan string)
	for range n {
		go parkGeneric(ch)
	}
}

func parkGeneric[T any](ch chan T) {
	<-ch // site:generic
}

type waiter struct {
	ch chan int
}

func (w *waiter) wait() {
	<-w.ch // site:method
}

func startMethod(n int) {
	w := &waiter{ch: make(chan int)}
	for range n {
		go w.wait()
	}
}

// ---- waiting for the goroutines to park ----

// allStacks returns runtime.Stack(buf, true) with a buffer large enough.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// header returns the state of a goroutine dump block ("chan receive") and
// the block's lines.
func header(block string) (state string, lines []string) {
	lines = strings.Split(block, "\n")
	h := lines[0]
	i, j := strings.Index(h, " ["), strings.Index(h, "]")
	if i < 0 || j < i {
		return "", lines
	}
	// Go 1.26 prints labels inside the brackets: "[select labels:{...}]".
	state, _, _ = strings.Cut(h[i+2:j], " labels:{")
	state, _, _ = strings.Cut(state, ",")
	return state, lines
}

// waitFor waits until want goroutines whose stack mentions fn are in state.
func waitFor(fn, state string, want int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := 0
		for _, b := range strings.Split(string(allStacks()), "\n\n") {
			if s, _ := header(b); s == state && strings.Contains(b, fn) {
				got++
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			log.Fatalf("waitFor %s in %q: have %d, want %d", fn, state, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the process has want goroutines and several
// consecutive dumps show the same goroutines in the same states at the same
// lines, none of them running or runnable (except the caller).
func settle(want int) {
	const stableRounds = 5
	deadline := time.Now().Add(60 * time.Second)
	prev, stable := "", 0
	for stable < stableRounds {
		time.Sleep(40 * time.Millisecond)
		dump := string(allStacks())
		if time.Now().After(deadline) {
			log.Fatalf("goroutines did not settle: %d goroutines, want %d\n%s", runtime.NumGoroutine(), want, dump)
		}
		blocks := strings.Split(strings.TrimSpace(dump), "\n\n")
		var sig strings.Builder
		busy := runtime.NumGoroutine() != want
		for _, b := range blocks[1:] { // blocks[0] is this goroutine
			state, lines := header(b)
			if (state == "running" || state == "runnable") && strings.Contains(b, "main.") {
				busy = true
			}
			sig.WriteString(state)
			for _, l := range lines[1:min(len(lines), 5)] {
				sig.WriteString("|" + strings.TrimSpace(strings.Split(l, " +0x")[0]))
			}
			sig.WriteString("\n")
		}
		if busy || sig.String() != prev {
			prev, stable = sig.String(), 0
			continue
		}
		stable++
	}
}

// startAll starts every site and returns the number of goroutines the
// process has once they have all parked (including main).
func startAll() int {
	want := 1
	for _, s := range sites {
		s.start(s.Count)
		want += s.Count
	}
	return want
}

// ---- captures ----

var outDir = flag.String("out", ".", "directory to write captures into")

func write(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(*outDir, name), data, 0o644); err != nil {
		log.Fatal(err)
	}
}

func writeProfile(name, profile string, debug int) {
	p := pprof.Lookup(profile)
	if p == nil {
		log.Fatalf("no %q profile in this binary (GOEXPERIMENT=goroutineleakprofile needed?)", profile)
	}
	f, err := os.Create(filepath.Join(*outDir, name))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.WriteTo(f, debug); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// info is what -info prints.
type info struct {
	Version        string `json:"version"`
	GOEXPERIMENT   string `json:"goexperiment"`
	DefaultGODEBUG string `json:"default_godebug"`
	LeakProfile    bool   `json:"goroutineleak_profile"`
	Sites          []site `json:"sites"`
}

func printInfo() {
	in := info{
		Version:     runtime.Version(),
		LeakProfile: pprof.Lookup("goroutineleak") != nil,
		Sites:       sites,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "GOEXPERIMENT":
				in.GOEXPERIMENT = s.Value
			case "DefaultGODEBUG":
				in.DefaultGODEBUG = s.Value
			}
		}
	}
	out, err := json.MarshalIndent(in, "", "\t")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", out)
}

func main() {
	mode := flag.String("mode", "capture", "what to do once parked: capture, minutes, stack, leak, sigquit or panic")
	name := flag.String("name", "stack.txt", "file name for -mode stack")
	printInfoFlag := flag.Bool("info", false, "print version, build settings and the site table as JSON and exit")
	flag.Parse()
	if *printInfoFlag {
		printInfo()
		return
	}

	// Text written to stderr before the dump, as in an operator's log
	// excerpt; only the sigquit and panic modes keep stderr.
	log.Printf("park: pid %d, %s, starting %d sites", os.Getpid(), runtime.Version(), len(sites))
	want := startAll()
	log.Printf("park: started %d goroutines, waiting for them to park", want-1)
	settle(want)
	log.Printf("park: all %d goroutines parked", want-1)

	switch *mode {
	case "capture":
		write("stack.txt", allStacks())
		writeProfile("debug2.txt", "goroutine", 2)
		writeProfile("debug1.txt", "goroutine", 1)
		writeProfile("goroutine.pb.gz", "goroutine", 0)
		buf := make([]byte, 3000)
		write("truncated.txt", buf[:runtime.Stack(buf, true)])

	case "stack": // with GODEBUG set by the caller
		write(*name, allStacks())

	case "minutes":
		// The runtime learns when a goroutine blocked only when a GC
		// scans it, so collect now, wait more than a minute, and
		// collect again.
		runtime.GC()
		time.Sleep(61 * time.Second)
		runtime.GC()
		write("stack_minutes.txt", allStacks())

	case "leak":
		buf := make([]byte, 2*len(allStacks())) // allocate before the leak GC
		writeProfile("goroutineleak.pb.gz", "goroutineleak", 0)
		writeProfile("goroutineleak.debug1.txt", "goroutineleak", 1)
		write("stack_leaked.txt", buf[:runtime.Stack(buf, true)])

	case "sigquit":
		log.Printf("park: waiting for SIGQUIT")
		fmt.Println("ready") // tells the generator to send SIGQUIT
		select {}

	case "panic":
		log.Printf("park: about to crash")
		go crash()
		select {}

	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

func crash() {
	panic(fmt.Sprintf("park: simulated crash after parking %d sites", len(sites)))
}
