// Command leaksentinel reads goroutine dumps and profiles, grouped by the
// line the goroutines are parked at, compares two of them, and watches a
// live /debug/pprof/goroutine endpoint for sites whose count keeps rising.
//
//	go install github.com/leaksentinel/leaksentinel/cmd/leaksentinel@latest
//
//	leaksentinel group dump.txt             # sites, largest first
//	leaksentinel diff base.pb.gz cur.pb.gz  # what grew, by site
//	leaksentinel watch localhost:6060       # alerts as a service leaks
//
// Run leaksentinel help COMMAND for a command's flags, examples and exit
// codes: 0 ok, 1 a condition asked about (diff --fail-on-growth, watch
// --exit-on-leak), 2 usage errors, 3 unreadable input.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C kills at once, as it would without us.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		tty:    isTerminal(os.Stdout),
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device: a terminal, where a
// status line rewritten in place makes sense.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
