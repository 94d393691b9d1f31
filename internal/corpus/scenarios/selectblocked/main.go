// Leak: a select with every case blocked. An export job reports progress
// from a goroutine that selects between sending the next update and the
// job's quit channel. The handler reads updates until the export is done
// and then calls Close, which closes quit; when the export fails half-way,
// the handler returns early without Close, so the reporter's send has no
// receiver and quit is never closed. Exports start 2 a tick; from tick 6
// one in two fails, so one goroutine leaks a tick.
package main

import (
	"context"
	"errors"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*export).report",
		CreatedBy: "main.startExport",
		LeakStart: 6,
		Run:       run,
	})
}

type export struct {
	updates chan int
	quit    chan struct{}
}

var errDisk = errors.New("export: disk full")

func run(ctx context.Context, tick <-chan int) {
	for i := range tick {
		for j := range 2 {
			_ = handle(i >= 6 && j == 1)
		}
	}
}

func startExport() *export {
	e := &export{updates: make(chan int), quit: make(chan struct{})}
	go e.report()
	return e
}

// report sends progress percentages until the job is closed.
func (e *export) report() {
	for pct := 0; ; pct = min(pct+25, 100) {
		select {
		case e.updates <- pct:
		case <-e.quit:
			return
		}
	}
}

func (e *export) Close() { close(e.quit) }

func handle(fails bool) error {
	e := startExport()
	for {
		pct := <-e.updates
		if fails && pct >= 50 {
			return errDisk // the bug: no e.Close()
		}
		if pct == 100 {
			break
		}
	}
	e.Close()
	return nil
}
