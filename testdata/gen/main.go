// Command gen regenerates the fixtures in testdata/go1.NN from real running
// programs. Run it from the module root, once per Go version:
//
//	go run ./testdata/gen
//	GOTOOLCHAIN=go1.27.3 go run ./testdata/gen
//
// It builds ../park and ../leakdemo with the toolchain it runs under, runs
// them in the modes listed in jobs (concurrently: the stack_minutes.txt
// capture alone takes more than a minute), checks every capture against the
// site table of park (counts, states, leak verdicts), derives expect.json
// from what the runtime printed, and then replaces the contents of
// testdata/go1.NN, where NN comes from the children's runtime.Version().
// Nothing is written there unless every check passed.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	parkSource     = "testdata/park/main.go"
	leakDemoSource = "testdata/leakdemo/leak_demo.go"
	leakDemoCount  = 20000 // the leaks constant in leak_demo.go
	leakExperiment = "goroutineleakprofile"
)

// A job is one run of a child program.
type job struct {
	name    string   // for messages
	program string   // "park" or "leakdemo"
	leak    bool     // use the park binary built for the goroutineleak profile
	args    []string // in addition to -out
	godebug string
	gotb    string // GOTRACEBACK; empty means the default
	// files are the files the child writes into its -out directory, or,
	// with stderr set, the single file its stderr is kept in.
	files  []capture
	stderr bool
	// sigquit: wait for "ready" on stdout, then send SIGQUIT.
	sigquit bool
	// exit is the exit status the child must end with.
	exit int
}

// A capture is a file a job produces and how, for manifest.json.
type capture struct{ name, how string }

var jobs = []job{
	{
		name: "capture", program: "park", args: []string{"-mode", "capture"},
		files: []capture{
			{"stack.txt", "in process: runtime.Stack(buf, true)"},
			{"debug2.txt", `in process: pprof.Lookup("goroutine").WriteTo(w, 2)`},
			{"debug1.txt", `in process: pprof.Lookup("goroutine").WriteTo(w, 1)`},
			{"goroutine.pb.gz", `in process: pprof.Lookup("goroutine").WriteTo(w, 0)`},
			{"truncated.txt", "in process: runtime.Stack(buf, true) with a 3000-byte buf"},
		},
	},
	{
		name: "minutes", program: "park", args: []string{"-mode", "minutes"}, godebug: "tracebacklabels=1",
		files: []capture{
			{"stack_minutes.txt", "in process: runtime.GC(), 61 s sleep, runtime.GC(), runtime.Stack(buf, true)"},
		},
	},
	{
		name: "ancestors", program: "park", args: []string{"-mode", "stack", "-name", "ancestors.txt"}, godebug: "tracebackancestors=5",
		files: []capture{{"ancestors.txt", "in process: runtime.Stack(buf, true)"}},
	},
	{
		name: "labels", program: "park", args: []string{"-mode", "stack", "-name", "labels.txt"}, godebug: "tracebacklabels=1",
		files: []capture{{"labels.txt", "in process: runtime.Stack(buf, true)"}},
	},
	{
		name: "leak", program: "park", leak: true, args: []string{"-mode", "leak"},
		files: []capture{
			{"goroutineleak.pb.gz", `in process, first: pprof.Lookup("goroutineleak").WriteTo(w, 0)`},
			{"goroutineleak.debug1.txt", `in process, second: pprof.Lookup("goroutineleak").WriteTo(w, 1)`},
			{"stack_leaked.txt", "in process, third: runtime.Stack(buf, true)"},
		},
	},
	{
		name: "system", program: "park", args: []string{"-mode", "sigquit"}, gotb: "system",
		files:  []capture{{"system.txt", "stderr of the child (log lines, then the dump) after SIGQUIT"}},
		stderr: true, sigquit: true, exit: 2,
	},
	{
		name: "sigquit", program: "park", args: []string{"-mode", "sigquit"},
		files:  []capture{{"sigquit.txt", "stderr of the child (log lines, then the dump) after SIGQUIT"}},
		stderr: true, sigquit: true, exit: 2,
	},
	{
		name: "panic", program: "park", args: []string{"-mode", "panic"}, gotb: "all",
		files:  []capture{{"panic.txt", "stderr of the child (log lines, then the dump) after a panic in a non-main goroutine"}},
		stderr: true, exit: 2,
	},
	{
		name: "leakdemo", program: "leakdemo",
		files: []capture{
			{"leak_demo.stack.txt", "in process: runtime.Stack(buf, true)"},
			{"leak_demo.debug1.txt", `in process: pprof.Lookup("goroutine").WriteTo(w, 1)`},
			{"leak_demo.pb.gz", `in process: pprof.Lookup("goroutine").WriteTo(w, 0)`},
		},
	},
}

// gzipped lists the captures that are stored gzipped (with a .gz suffix).
var gzipped = map[string]bool{"leak_demo.stack.txt": true, "leak_demo.debug1.txt": true}

// parkInfo is what park -info prints.
type parkInfo struct {
	Version        string     `json:"version"`
	GOEXPERIMENT   string     `json:"goexperiment"`
	DefaultGODEBUG string     `json:"default_godebug"`
	LeakProfile    bool       `json:"goroutineleak_profile"`
	Sites          []siteInfo `json:"sites"`
}

type siteInfo struct {
	Name      string `json:"name"`
	Count     int    `json:"count"`
	Leaked    bool   `json:"leaked"`
	Primitive string `json:"primitive"`
	Match     string `json:"match"`
}

// gen holds the state of one run.
type gen struct {
	goBin   string
	tmp     string
	bins    map[string]string // "park", "parkleak", "leakdemo" -> path
	info    parkInfo
	leakExp string // GOEXPERIMENT the goroutineleak build of park used
	out     string // staging directory
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	shapes := flag.Bool("shapes", false, "write testdata/shapes/go1.NN (see shapes.go) instead of testdata/go1.NN")
	flag.Parse()

	if _, err := os.Stat(parkSource); err != nil {
		log.Fatalf("run from the module root: %v", err)
	}
	tmp, err := os.MkdirTemp("", "leaksentinel-gen-")
	if err != nil {
		log.Fatal(err)
	}
	if *keep {
		log.Printf("temporary directory: %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	g := &gen{
		goBin: filepath.Join(runtime.GOROOT(), "bin", "go"),
		tmp:   tmp,
		bins:  map[string]string{},
		out:   filepath.Join(tmp, "out"),
	}
	run := g.run
	if *shapes {
		run = g.runShapes
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func (g *gen) run() error {
	start := time.Now()
	if err := os.Mkdir(g.out, 0o755); err != nil {
		return err
	}
	if err := g.build(); err != nil {
		return err
	}
	dir, err := versionDir(g.info.Version)
	if err != nil {
		return err
	}
	log.Printf("%s: running %d jobs", g.info.Version, len(jobs))
	if err := g.runJobs(); err != nil {
		return err
	}
	if err := g.check(); err != nil {
		return fmt.Errorf("checking the captures (nothing written): %v", err)
	}
	if err := install(g.out, filepath.Join("testdata", dir)); err != nil {
		return err
	}
	log.Printf("wrote testdata/%s in %s", dir, time.Since(start).Round(time.Second))
	return nil
}

// versionDir maps "go1.26.8" to "go1.26".
func versionDir(v string) (string, error) {
	m := regexp.MustCompile(`^(go1\.\d+)(\.\d+)?$`).FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("cannot map runtime.Version() %q to a testdata directory", v)
	}
	return m[1], nil
}

// env returns the environment for children: ours, without the variables
// that change what the runtime prints, plus extra.
func env(extra ...string) []string {
	var e []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "GODEBUG" || k == "GOTRACEBACK" || k == "GOEXPERIMENT" {
			continue
		}
		e = append(e, kv)
	}
	return append(e, extra...)
}

func (g *gen) goBuild(name, pkg string, extraEnv ...string) error {
	out := filepath.Join(g.tmp, name)
	cmd := exec.Command(g.goBin, "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), extraEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s %s: %v\n%s", strings.Join(extraEnv, " "), pkg, err, b)
	}
	g.bins[name] = out
	return nil
}

// build builds the children. If park has no goroutineleak profile (Go
// 1.26), it builds a second park with GOEXPERIMENT=goroutineleakprofile.
func (g *gen) build() error {
	if err := g.goBuild("park", "./testdata/park"); err != nil {
		return err
	}
	if err := g.goBuild("leakdemo", "./testdata/leakdemo"); err != nil {
		return err
	}
	if err := g.parkInfo(); err != nil {
		return err
	}
	if g.info.Version != runtime.Version() {
		return fmt.Errorf("park is %s but gen is %s: %s is not this toolchain's go", g.info.Version, runtime.Version(), g.goBin)
	}
	if g.info.LeakProfile {
		g.bins["parkleak"] = g.bins["park"]
		return nil
	}
	g.leakExp = leakExperiment
	if err := g.goBuild("parkleak", "./testdata/park", "GOEXPERIMENT="+leakExperiment); err != nil {
		return err
	}
	var li parkInfo
	b, err := runOutput(g.bins["parkleak"], "-info")
	if err == nil {
		err = json.Unmarshal(b, &li)
	}
	if err != nil || !li.LeakProfile {
		return fmt.Errorf("park built with GOEXPERIMENT=%s has no goroutineleak profile (%v)", leakExperiment, err)
	}
	return nil
}

func (g *gen) runJobs() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			stderr, err := g.runJob(j)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("job %s: %v\nstderr:\n%s", j.name, err, tail(stderr, 4000)))
				return
			}
			log.Printf("job %-9s done in %s", j.name, time.Since(t).Round(100*time.Millisecond))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func runOutput(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).Output()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// runJob runs one child and returns its stderr.
func (g *gen) runJob(j job) ([]byte, error) {
	bin := g.bins[j.program]
	if j.leak {
		bin = g.bins["parkleak"]
	}
	dir := filepath.Join(g.tmp, "job-"+j.name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-out", dir}, j.args...)...)
	cmd.Dir = dir // where a GOTRACEBACK=crash child may leave a core file
	var extra []string
	if j.godebug != "" {
		extra = append(extra, "GODEBUG="+j.godebug)
	}
	if j.gotb != "" {
		extra = append(extra, "GOTRACEBACK="+j.gotb)
	}
	cmd.Env = env(extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var stdout *bufio.Reader
	if j.sigquit {
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stdout = bufio.NewReader(pipe)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if j.sigquit {
		line, err := stdout.ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			return stderr.Bytes(), fmt.Errorf("waiting for ready: got %q, %v", line, err)
		}
		if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
			return stderr.Bytes(), err
		}
	}
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return stderr.Bytes(), err
	}
	if ctx.Err() != nil {
		return stderr.Bytes(), fmt.Errorf("timed out")
	}
	if code != j.exit {
		return stderr.Bytes(), fmt.Errorf("exit status %d, want %d", code, j.exit)
	}
	if j.stderr {
		err := os.WriteFile(filepath.Join(g.out, j.files[0].name), stderr.Bytes(), 0o644)
		return stderr.Bytes(), err
	}
	for _, f := range j.files {
		if err := os.Rename(filepath.Join(dir, f.name), filepath.Join(g.out, f.name)); err != nil {
			return stderr.Bytes(), fmt.Errorf("missing capture: %v", err)
		}
	}
	return stderr.Bytes(), nil
}

// install replaces the files in dir with those in staging, gzipping the
// ones listed in gzipped.
func install(staging, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	files, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, e := range files {
		b, err := os.ReadFile(filepath.Join(staging, e.Name()))
		if err != nil {
			return err
		}
		name := e.Name()
		if gzipped[name] {
			name += ".gz"
			var buf bytes.Buffer
			zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			if err != nil {
				return err
			}
			if _, err := zw.Write(b); err != nil {
				return err
			}
			if err := zw.Close(); err != nil {
				return err
			}
			b = buf.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON writes v as indented JSON into the staging directory.
func (g *gen) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(g.out, name), append(b, '\n'), 0o644)
}

// manifestEntry describes how one file was produced.
type manifestEntry struct {
	File         string `json:"file"`
	Program      string `json:"program"`
	Mode         string `json:"mode,omitempty"`
	Capture      string `json:"capture"`
	GODEBUG      string `json:"GODEBUG,omitempty"`
	GOTRACEBACK  string `json:"GOTRACEBACK,omitempty"`
	GOEXPERIMENT string `json:"GOEXPERIMENT,omitempty"`
}

type manifest struct {
	Version string `json:"version"`
	// DefaultGODEBUG is the GODEBUG default compiled into the children
	// (from the go line of go.mod); GODEBUG below is set on top of it.
	DefaultGODEBUG string `json:"default_godebug"`
	// GOEXPERIMENT is the one the children were built with (from the
	// environment); files list their own only when it differs.
	GOEXPERIMENT string          `json:"goexperiment"`
	Generator    string          `json:"generator"`
	Files        []manifestEntry `json:"files"`
}

func (g *gen) writeManifest() error {
	m := manifest{
		Version:        g.info.Version,
		DefaultGODEBUG: g.info.DefaultGODEBUG,
		GOEXPERIMENT:   g.info.GOEXPERIMENT,
		Generator:      "go run ./testdata/gen (see testdata/README.md)",
	}
	programs := map[string]string{"park": parkSource, "leakdemo": leakDemoSource}
	for _, j := range jobs {
		for _, f := range j.files {
			name := f.name
			if gzipped[name] {
				name += ".gz"
			}
			e := manifestEntry{
				File: name, Program: programs[j.program], Capture: f.how,
				GODEBUG: j.godebug, GOTRACEBACK: j.gotb,
			}
			if len(j.args) >= 2 && j.args[0] == "-mode" {
				e.Mode = j.args[1]
			}
			if j.leak {
				e.GOEXPERIMENT = g.leakExp
			}
			m.Files = append(m.Files, e)
		}
	}
	m.Files = append(m.Files,
		manifestEntry{File: "expect.json", Program: "testdata/gen", Capture: "derived from stack.txt and the site table of " + parkSource + ", checked against every capture"},
		manifestEntry{File: "leak_demo.expect.json", Program: "testdata/gen", Capture: "derived from leak_demo.stack.txt"},
		manifestEntry{File: "VERSION", Program: "testdata/gen", Capture: "runtime.Version() of the children"},
		manifestEntry{File: "manifest.json", Program: "testdata/gen", Capture: "this file"},
	)
	sort.Slice(m.Files, func(i, k int) bool { return m.Files[i].File < m.Files[k].File })
	return g.writeJSON("manifest.json", m)
}
