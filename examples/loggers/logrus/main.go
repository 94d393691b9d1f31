// Logrus sends the sentinel's alerts to a github.com/sirupsen/logrus logger,
// through the slog.Handler logrus ships since v1.10
// (github.com/sirupsen/logrus/hooks/slog.NewHandler): records become entries,
// attributes fields, slog's WARN logrus's warning.
//
//	go run ./logrus
package main

import (
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/sirupsen/logrus"
	logrusslog "github.com/sirupsen/logrus/hooks/slog"

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
		Logger:   slog.New(logrusslog.NewHandler(logger, nil)),
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	return demo.Leak(s)
}
