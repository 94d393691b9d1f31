package stack

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/leaksentinel/leaksentinel/internal/classify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A bounded table hands out Overflow's index once full, and keeps what it
// holds.
func TestTableLimit(t *testing.T) {
	var tab Table
	tab.SetLimit(10 * (entryCost + 8))
	first := tab.ID("main.f00")
	ids := map[uint32]bool{}
	for i := range 100 {
		ids[tab.ID(fmt.Sprintf("main.f%02d", i))] = true
	}
	assert.True(t, tab.Full())
	assert.Equal(t, first, tab.ID("main.f00"), "strings held keep their index")
	assert.Equal(t, Overflow, tab.String(tab.ID("main.new")))
	assert.Less(t, len(ids), 12)

	var unbounded Table
	for i := range 100 {
		unbounded.ID(fmt.Sprintf("main.f%02d", i))
	}
	assert.False(t, unbounded.Full())
}

// Past MaxSites, goroutines go to the group of the zero Site; past
// MaxStacks, to their group's Other; every one is counted.
func TestBuilderBounds(t *testing.T) {
	var tab Table
	b := NewBuilder(&tab, classify.Text)
	b.MaxSites, b.MaxStacks = 3, 5
	state := tab.ID("chan receive")
	add := func(fn string, line int32) {
		g := Goroutine{Count: 2, State: state, Frames: []Frame{{Func: tab.ID(fn), File: tab.ID("/x/main.go"), Line: line}}}
		b.Add(&g)
	}
	for site := range 5 {
		add(fmt.Sprintf("main.site%d", site), 1)
	}
	for line := range 6 {
		add("main.site0", int32(10+line)) // the same function, other lines: other sites
	}
	groups := b.Finish()
	require.NotEmpty(t, groups)
	total, rest := 0, 0
	for _, g := range groups {
		total += g.Count
		if g.Site == (Site{}) {
			rest = g.Count
			assert.Equal(t, g.Count, g.Other)
		}
	}
	assert.Equal(t, 22, b.Total)
	assert.Equal(t, 22, total)
	assert.Equal(t, 16, rest, "8 goroutines' sites past the first 3")
	assert.Equal(t, 16, b.Folded)
	assert.Len(t, groups, 4)

	b = NewBuilder(&tab, classify.Text)
	b.MaxStacks = 2
	for line := range 4 {
		g := Goroutine{Count: 1, State: state, Frames: []Frame{
			{Func: tab.ID("main.site"), File: tab.ID("/x/main.go"), Line: 1},
			{Func: tab.ID("main.caller"), File: tab.ID("/x/main.go"), Line: int32(20 + line)},
		}}
		b.Add(&g)
	}
	groups = b.Finish()
	require.Len(t, groups, 1)
	assert.Equal(t, 4, groups[0].Count)
	assert.Len(t, groups[0].Stacks, 2)
	assert.Equal(t, 2, groups[0].Other)
	assert.Equal(t, 2, b.Unkept)
}
