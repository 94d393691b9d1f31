package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The binaries the tests run, built once by TestMain.
var (
	cliBin   string // leaksentinel
	leakyBin string // testdata/leaky
)

// TestMain builds the command and the leaky service, runs the tests, and
// checks that they leaked no goroutine: a leak detector must not leak.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leaksentinel-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cleanup := func(int) { os.RemoveAll(dir) }
	cliBin = filepath.Join(dir, "leaksentinel")
	leakyBin = filepath.Join(dir, "leaky")
	for _, b := range []struct{ out, pkg string }{{cliBin, "."}, {leakyBin, "./testdata/leaky"}} {
		if err := goBuild(b.out, b.pkg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			cleanup(1)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(cleanup))
}

// goBuild builds pkg with the go command running the tests: go test puts
// its GOROOT/bin first in PATH, so GOTOOLCHAIN=go1.27.3 go test builds the
// binaries with Go 1.27.3 too.
func goBuild(out, pkg string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	cmd := exec.Command(gobin, "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build -o %s %s: %v\n%s", out, pkg, err, stderr.String())
	}
	return nil
}

// result is what a run of the binary printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the binary with args and stdin (nil: none) to completion.
func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cliBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("leaksentinel %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// runInProcess runs the command line in this process, with buffers for
// its files: for the cases that need no binary.
func runInProcess(ctx context.Context, stdin io.Reader, tty bool, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &env{stdin: stdin, stdout: &stdout, stderr: &stderr, tty: tty})
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}
