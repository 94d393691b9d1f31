package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestCorpus runs the whole corpus at the defaults and checks the targets
// of issue 3: every leak found at its site with its creator within two
// windows of its start, and no false alarm.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario of the corpus (about a minute)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := config{Tick: 25 * time.Millisecond, Parallel: 2, LeakProfile: true}
	c, err := build(ctx, cfg)
	require.NoError(t, err)
	defer c.Close()
	rep, err := evaluate(ctx, c, cfg)
	require.NoError(t, err)

	var table strings.Builder
	printReport(&table, rep)
	t.Log("\n" + table.String())

	for _, r := range rep.Results {
		v := r.Verdicts[sentinel]
		if !assert.Empty(t, r.Err, "%s: the scenario failed", r.Name) {
			continue
		}
		if !r.Leak {
			assert.False(t, v.alerted(), "%s: false alarm at %v", r.Name, v.Wrong)
			continue
		}
		if assert.True(t, v.RightSite, "%s: leak not found at %s", r.Name, r.Function) {
			assert.True(t, v.RightCreator, "%s: creator %q, want %s", r.Name, v.CreatedBy, r.CreatedBy)
			assert.LessOrEqual(t, v.Detect, 2*rep.Window, "%s: found later than two windows", r.Name)
		}
		assert.Empty(t, v.Wrong, "%s: alerts at wrong sites", r.Name)
	}
	assert.GreaterOrEqual(t, rep.sentinel().Leaks, 22, "leak scenarios")
	assert.GreaterOrEqual(t, rep.sentinel().Benign, 14, "benign scenarios")
}

func TestJudge(t *testing.T) {
	cfg := config{Tick: 100 * time.Millisecond, Window: 12}
	start := scenario.Event{Event: "start", Leak: true, LeakStart: 5,
		Function: "main.a|main.b", CreatedBy: "main.run"}
	alert := func(detector string, tick float64, fn, creator string) scenario.Event {
		return scenario.Event{Event: "alert", Detector: detector, Tick: tick, Function: fn,
			File: "/x/scenarios/s/main.go", Line: 7, CreatedBy: creator}
	}
	end := scenario.Event{Event: "end", Tick: 96, Samples: 97}
	tests := []struct {
		name   string
		give   []scenario.Event
		want   verdict
		detect string // detector judged
	}{
		{
			name: "found",
			give: []scenario.Event{start, alert(sentinel, 17.3, "main.b", "main.run"), end},
			want: verdict{Alerts: 1, Site: "main.b s/main.go:7", CreatedBy: "main.run", RightSite: true,
				RightCreator: true, Sample: 17, Detect: 12, DetectTicks: 12, Seconds: 1.23},
			detect: sentinel,
		},
		{
			name: "wrong creator",
			give: []scenario.Event{start, alert(sentinel, 17.3, "main.a", "main.pool"), end},
			want: verdict{Alerts: 1, Site: "main.a s/main.go:7", CreatedBy: "main.pool", RightSite: true,
				Sample: 17, Detect: 12, DetectTicks: 12, Seconds: 1.23},
			detect: sentinel,
		},
		{
			name: "wrong site, then right",
			give: []scenario.Event{start, alert(sentinel, 14.1, "main.c", "main.run"),
				alert(sentinel, 20.5, "main.a", "main.run"), end},
			want: verdict{Alerts: 2, Site: "main.a s/main.go:7", CreatedBy: "main.run", RightSite: true,
				RightCreator: true, Wrong: []string{"main.c s/main.go:7"}, Sample: 20, Detect: 15, DetectTicks: 15, Seconds: 1.55},
			detect: sentinel,
		},
		{
			name: "naive before the leak",
			give: []scenario.Event{start, {Event: "alert", Detector: naive, Tick: 3.2}, end},
			want: verdict{Alerts: 1, Wrong: []string{"(total count) (sample 3, before the leak)"},
				Sample: 3, Detect: -2, DetectTicks: -2, Seconds: -0.18},
			detect: naive,
		},
		{
			name: "benign",
			give: []scenario.Event{{Event: "start"}, alert(sentinel, 30, "main.a", "main.run"), end},
			want: verdict{Alerts: 1, Site: "main.a s/main.go:7", CreatedBy: "main.run",
				Wrong: []string{"main.a s/main.go:7"}, Sample: 30, Detect: 30, DetectTicks: 30, Seconds: 3},
			detect: sentinel,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := judge(tt.give, cfg)
			got := *r.Verdicts[tt.detect]
			assert.InDelta(t, tt.want.Seconds, got.Seconds, 0.001)
			got.Seconds = tt.want.Seconds
			assert.Equal(t, tt.want, got)
			assert.Equal(t, 97, r.Samples)
		})
	}
}

func TestTotals(t *testing.T) {
	found := &verdict{Alerts: 1, RightSite: true, RightCreator: true, Detect: 10, Seconds: 0.25}
	late := &verdict{Alerts: 1, RightSite: true, Detect: 30, Seconds: 0.75}
	quiet := &verdict{}
	falseAlarm := &verdict{Alerts: 1, Wrong: []string{"main.x"}}
	res := func(name string, leak bool, v *verdict) *result {
		return &result{Name: name, Leak: leak, Verdicts: map[string]*verdict{sentinel: v, naive: quiet, goroutineLeak: quiet}}
	}
	rep := &report{Window: 12, Results: []*result{
		res("a", true, found), res("b", true, late), res("c", true, quiet),
		res("d", false, quiet), res("e", false, falseAlarm),
	}}
	rep.total()
	got := rep.sentinel()
	assert.Equal(t, 3, got.Leaks)
	assert.Equal(t, 2, got.Benign)
	assert.Equal(t, 2, got.Found)
	assert.Equal(t, 1, got.FoundCreator)
	assert.Equal(t, 1, got.FalseBenign)
	assert.Equal(t, 1, got.InTime)
	assert.InDelta(t, 20.0, got.MedianSamples, 0)
	assert.Equal(t, 30, got.WorstSamples)
	assert.Equal(t, []string{"c"}, got.Missed)
	assert.Equal(t, []string{"b"}, got.Late)
	assert.False(t, rep.Met())
	var kinds []string
	for _, m := range rep.misses() {
		kinds = append(kinds, m.Scenario+" "+m.Kind)
	}
	assert.Equal(t, []string{"b creator", "b late", "c missed", "e false alarm"}, kinds)
	assert.Equal(t, "creator: b; late: b; missed: c; false alarm: e", summarizeMisses(rep.misses(), 3))
}
