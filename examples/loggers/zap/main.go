// Zap sends the sentinel's alerts to a go.uber.org/zap logger, through
// zap's slog handler (go.uber.org/zap/exp/zapslog).
//
//	go run ./zap
package main

import (
	"io"
	"log"
	"log/slog"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo"
)

func main() {
	if err := run(os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer) error {
	// A service has its logger already, zap.NewProduction() or its own
	// core; this one is zap's production JSON on w.
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w), zapcore.InfoLevel)
	logger := zap.New(core)
	defer logger.Sync()

	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval: demo.Interval,
		Logger:   slog.New(zapslog.NewHandler(logger.Core(), zapslog.WithName("leaksentinel"))),
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	return demo.Leak(s)
}
