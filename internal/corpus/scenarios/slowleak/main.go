// Leak: a very slow leak, one goroutine every 4 ticks. A scheduler runs a
// report job every 4 ticks from tick 5; each job starts a heartbeat
// goroutine that sends a beat on the job's unbuffered channel every tick,
// and reads beats while it works (2 ticks). When the job is done it
// returns without stopping the heartbeat, whose next send blocks forever:
// the first at tick 8, then one every 4 ticks.
package main

import (
	"context"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*job).heartbeat",
		CreatedBy: "main.(*scheduler).runJob",
		LeakStart: 8,
		Run:       run,
	})
}

type scheduler struct {
	clk *scenario.Clock
}

type job struct {
	clk   *scenario.Clock
	beats chan int
}

func run(ctx context.Context, tick <-chan int) {
	s := &scheduler{clk: scenario.NewClock()}
	for i := range tick {
		s.clk.Advance(i)
		if i >= 5 && (i-5)%4 == 0 {
			go s.runJob()
		}
	}
}

func (s *scheduler) runJob() {
	j := &job{clk: s.clk, beats: make(chan int)}
	go j.heartbeat()
	for range 2 {
		<-j.beats // one tick of work per beat
	}
	// The bug: nothing tells the heartbeat the job is over.
}

// heartbeat marks the job alive every tick.
func (j *job) heartbeat() {
	for {
		<-j.clk.After(1)
		j.beats <- j.clk.Now()
	}
}
