// Logrus sends the sentinel's alerts to a github.com/sirupsen/logrus logger,
// through a small slog.Handler that turns records into logrus entries (see
// handler.go; copy it into your service).
//
//	go run ./logrus
package main

import (
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo"
)

func main() {
	if err := run(os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer) error {
	logger := logrus.New()
	logger.SetOutput(w)
	logger.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})

	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval: demo.Interval,
		Logger:   slog.New(newLogrusHandler(logger)),
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	return demo.Leak(s)
}
