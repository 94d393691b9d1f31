package leaksentinel

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leakForPprof leaks a goroutine at a line of its own until release is
// closed.
func leakForPprof(release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release
	}()
}

// TestProfilesProveTheLeak checks that the files ProfileDir keeps are what
// an operator needs: go tool pprof -top -base on the baseline and the alert
// names the leaking function.
func TestProfilesProveTheLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	// go test puts its own toolchain's bin first in PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to run go tool pprof:", err)
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()

	dir := filepath.Join(t.TempDir(), "profiles")
	l, _ := leakUntilAlert(t, Options{
		Interval:    2 * time.Millisecond,
		Logger:      slog.New(slog.DiscardHandler),
		ProfileDir:  dir,
		MaxProfiles: 3,
		NoConfirm:   true,
	}, func(*Sentinel) {
		// The first sample writes the baseline, before the leak starts.
		deadline := time.Now().Add(20 * time.Second)
		for len(glob(t, dir, "*.goroutine.baseline.pb.gz")) == 0 {
			require.True(t, time.Now().Before(deadline), "no baseline profile")
			time.Sleep(time.Millisecond)
		}
	}, func() { leakForPprof(release, &wg) })
	// OnLeak runs after the alert's files are written.
	const leaking = "github.com/leaksentinel/leaksentinel.leakForPprof.func1"
	require.Equal(t, leaking, l.Function)

	profiles := glob(t, dir, "*.pb.gz") // sorted: after the owner, names start with the time
	require.GreaterOrEqual(t, len(profiles), 2, profiles)
	first, last := profiles[0], profiles[len(profiles)-1]
	assert.True(t, strings.HasSuffix(last, ".goroutine.alert.pb.gz"), last)
	// The alert says which files it wrote: the profile, and the dump's
	// text, both still there when OnLeak runs.
	require.Contains(t, l.Files, last)
	for _, file := range l.Files {
		assert.FileExists(t, file)
		assert.Equal(t, dir, filepath.Dir(file))
	}
	assert.Contains(t, l.Files, strings.TrimSuffix(last, ".pb.gz")+".txt")
	var logged string
	for _, a := range l.LogValue().Group() {
		if a.Key == "files" {
			logged = a.Value.String()
		}
	}
	assert.Equal(t, strings.Join(l.Files, " "), logged, "the alert's log names its files")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "tool", "pprof", "-top", "-base", first, last)
	cmd.Env = append(os.Environ(), "PPROF_TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("go tool pprof -top -base %s %s:\n%s", filepath.Base(first), filepath.Base(last), out)
	assert.Contains(t, string(out), "Type: goroutine")
	var found bool
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 6 && fields[5] == leaking {
			found = true
			cum, err := strconv.Atoi(fields[3])
			require.NoError(t, err, line)
			assert.GreaterOrEqual(t, cum, DefaultMinGrowth, "goroutines added at the leaking function: %s", line)
		}
	}
	assert.True(t, found, "pprof -top names %s", leaking)

	for _, file := range glob(t, dir, "*") {
		fi, err := os.Stat(file)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), file)
	}
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the directory the sentinel created")
}

// TestProfilesBounded drives many alerts and checks, while the sentinel
// writes, that ProfileDir never holds more than MaxProfiles captures, and
// that it leaves other files alone.
func TestProfilesBounded(t *testing.T) {
	const maxProfiles = 2
	dir := t.TempDir()
	// Beside the sentinel's files: someone's notes, and the captures of
	// other instances sharing the directory (another process id, another
	// host, a program whose name starts like this one's), older than any
	// of this process's.
	others := []string{
		"notes.txt",
		strings.Replace(profileOwner(), "."+strconv.Itoa(os.Getpid())+".", ".1.", 1) + "20000101T000000.000Z.goroutine.alert.pb.gz",
		strings.Replace(profileOwner(), "."+nameField(hostname())+".", ".elsewhere.", 1) + "20000101T000000.000Z.goroutine.alert.pb.gz",
		strings.TrimSuffix(profileOwner(), ".") + "1.20000101T000000.000Z.goroutine.alert.pb.gz",
	}
	for _, name := range others {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("mine"), 0o644))
	}
	// The sentinel logs each capture it wrote; its log handler counts the
	// captures in the directory then, from the sampling goroutine.
	var mu sync.Mutex
	var atWrite []int
	logger := slog.New(recordHook(func(r slog.Record) {
		if r.Message == "leaksentinel: profile written" {
			files, _ := filepath.Glob(filepath.Join(dir, profileOwner()+"*"))
			mu.Lock()
			atWrite = append(atWrite, len(stampsOf(files)))
			mu.Unlock()
		}
	}))
	f := newFake()
	s, err := Start(f.options(Options{
		Logger:      logger,
		ProfileDir:  dir,
		MaxProfiles: maxProfiles,
		NoConfirm:   true,
	}))
	require.NoError(t, err)
	defer s.Stop()

	seen := make(map[string]bool)
	check := func() {
		t.Helper()
		now := stamps(t, dir)
		assert.LessOrEqual(t, len(now), maxProfiles, "captures in ProfileDir: %v", now)
		for _, stamp := range now {
			seen[stamp] = true
		}
	}
	// Sites start leaking one after another, each raising alerts.
	for i := range 60 {
		for j := range 6 {
			if start := j * 8; i >= start {
				f.set(Site{State: StateChanSend, Function: "main.leak", File: "/src/leak.go", Line: j + 1}, 1+i-start)
			}
		}
		f.tick(t, s)
		check()
	}
	s.Stop()
	check()
	assert.Greater(t, len(seen), maxProfiles+1, "alerts wrote more captures than are kept")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, atWrite)
	assert.LessOrEqual(t, slices.Max(atWrite), maxProfiles, "captures in ProfileDir as each was written")
	assert.Greater(t, s.Stats().Leaks, maxProfiles)
	for _, name := range others {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "files not written by this process are kept")
		assert.Equal(t, "mine", string(data), name)
	}
}

// hostname is the host's name as profileOwner takes it.
func hostname() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return host
}

// TestProfileNames checks what a file's name tells whoever collects a
// fleet's files: the sentinel, the program, the host, the process, the
// time and the kind, in that order, with no dot inside a field.
func TestProfileNames(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	s := &Sentinel{opts: Options{ProfileDir: "/profiles"}}
	now := time.Date(2026, 12, 1, 20, 49, 37, 123456789, time.FixedZone("CET", 3600))
	got := s.profileBase(now)
	want := "/profiles/leaksentinel." + nameField(filepath.Base(exe)) + "." + nameField(hostname()) + "." +
		strconv.Itoa(os.Getpid()) + ".20261201T194937.123Z"
	assert.Equal(t, want, got)
	fields := strings.Split(strings.TrimPrefix(got, "/profiles/"), ".")
	require.Len(t, fields, 6, "leaksentinel, program, host, pid, time with its milliseconds")
	assert.Equal(t, "leaksentinel_test", fields[1], "go test's binary, its dot turned")

	for _, tt := range []struct{ give, want string }{
		{"checkout", "checkout"},
		{"web-7_a", "web-7_a"},
		{"api.v2", "api_v2"},
		{"a b/c\\d\x00é", "a_b_c_d__"},
	} {
		assert.Equal(t, tt.want, nameField(tt.give), tt.give)
	}
}

// stamps returns this process's captures in dir: the time stamps of the
// sentinel's files.
func stamps(t *testing.T, dir string) []string {
	t.Helper()
	return stampsOf(glob(t, dir, profileOwner()+"*"))
}

func stampsOf(files []string) []string {
	var out []string
	for _, file := range files {
		rest, ok := strings.CutPrefix(filepath.Base(file), profileOwner())
		if !ok {
			continue
		}
		if stamp := rest[:len(stampFormat)]; !slices.Contains(out, stamp) {
			out = append(out, stamp)
		}
	}
	return out
}

func glob(t *testing.T, dir, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	slices.Sort(files)
	return files
}

// recordHook is a slog.Handler that calls a function for each record.
type recordHook func(slog.Record)

func (h recordHook) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHook) Handle(_ context.Context, r slog.Record) error {
	h(r)
	return nil
}

func (h recordHook) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h recordHook) WithGroup(string) slog.Handler { return h }

// A profile appears whole under its name or not at all, and no temporary
// file is left behind.
func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, profileOwner()+"x.goroutine.alert.pb.gz")
	require.NoError(t, writeFile(name, []byte("first")))
	require.NoError(t, writeFile(name, []byte("second")))
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "second", string(got))
	fi, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	// Renaming onto a directory fails: the temporary file goes too.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "taken"), 0o700))
	require.Error(t, writeFile(filepath.Join(dir, "taken"), []byte("x")))
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2)
	assert.Error(t, writeFile(filepath.Join(dir, "missing", "f"), []byte("x")))
}
