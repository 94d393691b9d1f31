package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// scenarios is the import path pattern of the corpus's programs.
const scenarios = "github.com/leaksentinel/leaksentinel/internal/corpus/scenarios/..."

// config holds the settings of one evaluation.
type config struct {
	Tick        time.Duration
	Window      int // 0: the sentinel's default
	MaxSkip     int
	NoConfirm   bool           // the sentinel without proof, so without its fast path
	Ticks       int            // run length; 0: max(96, 8×window)
	Parallel    int            // scenarios run at once
	Run         *regexp.Regexp // nil: all
	LeakProfile bool           // Go 1.26: build with GOEXPERIMENT=goroutineleakprofile
	Verbose     bool
	Progress    io.Writer // nil: quiet
}

// corpus is the scenarios built into a temporary directory.
type corpus struct {
	Dir          string
	GoVersion    string   // of the toolchain that built them
	GoExperiment string   // the GOEXPERIMENT they were built with
	Names        []string // sorted
}

// build builds the scenarios that cfg.Run selects into a temporary
// directory, with the go command on PATH: the toolchain that runs the
// evaluator, as GOTOOLCHAIN selects it for both. On Go 1.26 the
// goroutineleak profile needs GOEXPERIMENT=goroutineleakprofile, added
// unless cfg.LeakProfile is false; from Go 1.27 the runtime always has it.
func build(ctx context.Context, cfg config) (*corpus, error) {
	out, err := goCmd(ctx, nil, "env", "GOVERSION", "GOEXPERIMENT")
	if err != nil {
		return nil, err
	}
	env := strings.Split(strings.TrimSpace(out), "\n")
	c := &corpus{GoVersion: env[0]}
	if len(env) > 1 {
		c.GoExperiment = env[1]
	}
	if cfg.LeakProfile && strings.HasPrefix(c.GoVersion, "go1.26") && !strings.Contains(c.GoExperiment, "goroutineleakprofile") {
		c.GoExperiment = strings.TrimPrefix(c.GoExperiment+",goroutineleakprofile", ",")
	}

	out, err = goCmd(ctx, nil, "list", scenarios)
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for _, p := range strings.Fields(out) {
		name := path.Base(p)
		if cfg.Run == nil || cfg.Run.MatchString(name) {
			pkgs = append(pkgs, p)
			c.Names = append(c.Names, name)
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no scenario matches -run %v", cfg.Run)
	}
	slices.Sort(c.Names)

	c.Dir, err = os.MkdirTemp("", "leaksentinel-corpus-")
	if err != nil {
		return nil, err
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "building %d scenarios with %s (GOEXPERIMENT=%s)\n", len(pkgs), c.GoVersion, c.GoExperiment)
	}
	args := append([]string{"build", "-o", c.Dir + string(filepath.Separator)}, pkgs...)
	if _, err := goCmd(ctx, []string{"GOEXPERIMENT=" + c.GoExperiment}, args...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close removes the built programs.
func (c *corpus) Close() {
	if c.Dir != "" {
		os.RemoveAll(c.Dir)
	}
}

// Path returns the program of scenario name.
func (c *corpus) Path(name string) string {
	return filepath.Join(c.Dir, name)
}

// goCmd runs the go command with extra environment and returns its
// standard output.
func goCmd(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}
