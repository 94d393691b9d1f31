// Leak: select {}. runExporter was lifted from a standalone metrics
// exporter whose main ended in select {} to keep the process alive. The
// service starts it in a goroutine on every configuration reload, so each
// reload parks one more goroutine forever. Reloads come every 2 ticks from
// tick 6.
package main

import (
	"context"
	"sync/atomic"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.runExporter",
		CreatedBy: "main.(*server).reload",
		LeakStart: 6,
		Run:       run,
	})
}

type config struct {
	version int
	labels  map[string]string
}

type server struct {
	cfg      config
	exported map[string]int
}

func run(ctx context.Context, tick <-chan int) {
	s := &server{exported: make(map[string]int)}
	for i := range tick {
		s.exported["requests"] += 10
		if i >= 6 && i%2 == 0 {
			s.reload(config{version: i, labels: map[string]string{"zone": "a"}})
		}
	}
}

func (s *server) reload(cfg config) {
	s.cfg = cfg
	go runExporter(cfg)
}

// runExporter registers the exporter's collectors, then blocks "forever"
// as the standalone program's main did.
func runExporter(cfg config) {
	register(cfg)
	select {}
}

var registered atomic.Int64

func register(cfg config) { registered.Add(int64(len(cfg.labels))) }
