// Stdlog sends the sentinel's alerts to a *log.Logger of the standard log
// package, with that logger's prefix and flags.
//
//	go run ./stdlog
//
// A program that logs through the log package's default logger needs none
// of this: with Options.Logger nil the sentinel logs to slog.Default(),
// which writes through log.Default() until slog.SetDefault is called.
package main

import (
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo"
)

func main() {
	if err := run(os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer) error {
	logger := log.New(w, "myservice: ", log.LstdFlags|log.Lmsgprefix)

	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval: demo.Interval,
		// slog's text format, one record a line, through the
		// *log.Logger; the logger prints its own time.
		Logger: slog.New(slog.NewTextHandler(logWriter{logger}, &slog.HandlerOptions{
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})),
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	return demo.Leak(s)
}

// logWriter writes what a slog handler writes, one record per call, as one
// entry of a *log.Logger.
type logWriter struct{ logger *log.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	n := len(p)
	if n > 0 && p[n-1] == '\n' {
		p = p[:n-1]
	}
	return n, w.logger.Output(2, string(p))
}
