package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit codes, the same for every command.
const (
	exitOK    = 0 // done; for watch, also stopped by a signal or --duration
	exitFound = 1 // the condition asked about: diff --fail-on-growth, watch --exit-on-leak
	exitUsage = 2 // bad command line
	exitInput = 3 // a file could not be read or parsed
)

const exitCodesHelp = `Exit codes:
  0  ok (watch: also when stopped by Ctrl-C, SIGTERM or --duration)
  1  the condition asked about: diff --fail-on-growth, watch --exit-on-leak
  2  usage error
  3  an input could not be read or parsed (group still prints what it read)
`

// env is what a command reads and writes: the process's files in main,
// buffers in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// tty reports whether stdout is a terminal: watch then keeps a live
	// status line.
	tty bool
}

// command is a subcommand. run parses its own flags.
type command struct {
	name    string
	summary string
	help    string // usage line, description and examples; flags are added
	flags   func(fs *flag.FlagSet) any
	run     func(ctx context.Context, e *env, cfg any, args []string) error
}

var commands = []*command{groupCommand, diffCommand, watchCommand, replayCommand}

const mainHelp = `leaksentinel finds goroutine leaks in dumps, profiles and live services,
by the line the goroutines are parked at.

Usage:
  leaksentinel COMMAND [flags] ARGS

Commands:
%s
Run 'leaksentinel help COMMAND' (or COMMAND --help) for its flags and examples.

Inputs are detected by content: gzip or not, then a pprof protobuf profile
(?debug=0) or text: runtime.Stack output, ?debug=2, ?debug=1, panic and
SIGQUIT tracebacks. '-' reads standard input.

`

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		printMainHelp(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			printMainHelp(e.stdout)
			return exitOK
		}
		c := lookup(rest[0])
		if c == nil {
			fmt.Fprintf(e.stderr, "leaksentinel: unknown command %q\n", rest[0])
			return exitUsage
		}
		fs := newFlagSet(c)
		c.flags(fs)
		printHelp(e.stdout, c, fs)
		return exitOK
	case "version", "-version", "--version":
		fmt.Fprintln(e.stdout, "leaksentinel", version())
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "leaksentinel: unknown command %q; run 'leaksentinel help'\n", name)
		return exitUsage
	}
	fs := newFlagSet(c)
	cfg := c.flags(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(e.stdout, c, fs)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "leaksentinel %s: %v\nRun 'leaksentinel %[1]s --help' for usage.\n", c.name, err)
		return exitUsage
	}
	err := c.run(ctx, e, cfg, fs.Args())
	if err == nil {
		return exitOK
	}
	code := exitInput
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(e.stderr, "leaksentinel %s: %v\n", c.name, err)
	if code == exitUsage {
		fmt.Fprintf(e.stderr, "Run 'leaksentinel %s --help' for usage.\n", c.name)
	}
	return code
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// newFlagSet returns the command's flag set, silent: run prints errors and
// help itself, help on stdout and errors on stderr.
func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("leaksentinel "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// exitError carries the exit code of an error; errors without one exit
// with exitInput.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func printMainHelp(w io.Writer) {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, mainHelp, b.String())
	io.WriteString(w, exitCodesHelp)
}

// printHelp prints a command's help: its text, its flags spelt with two
// dashes (flag accepts one or two), and the exit codes.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	help, examples, _ := strings.Cut(c.help, "\nExamples:\n")
	io.WriteString(w, help)
	io.WriteString(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, strings.ReplaceAll(usage, "\n", "\n      "))
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		io.WriteString(w, "\n")
	})
	if examples != "" {
		io.WriteString(w, "\nExamples:\n"+examples)
	}
	io.WriteString(w, "\n"+exitCodesHelp)
}

// version returns the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(unknown version)"
}
