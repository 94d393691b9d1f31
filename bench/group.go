package bench

import (
	"encoding/binary"
	"slices"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/internal/classify"
)

// grouping is goroutines grouped by site, each group with its distinct
// stacks: what [leaksentinel.ParseDump] returns, and what every parser under
// comparison must produce for the comparison to be fair.
type grouping map[leaksentinel.Site]*group

// group is the goroutines of one site.
type group struct {
	count  int
	stacks []leaksentinel.Stack // distinct frames and creator, unsorted
}

// counts returns the number of goroutines at each site.
func (g grouping) counts() map[leaksentinel.Site]int {
	out := make(map[leaksentinel.Site]int, len(g))
	for site, grp := range g {
		out[site] = grp.count
	}
	return out
}

// total returns the number of goroutines.
func (g grouping) total() int {
	n := 0
	for _, grp := range g {
		n += grp.count
	}
	return n
}

// fromSnapshot returns the grouping of a snapshot.
func fromSnapshot(s *leaksentinel.Snapshot) grouping {
	out := make(grouping, len(s.Groups))
	for _, g := range s.Groups {
		out[g.Site] = &group{count: g.Count, stacks: g.Stacks}
	}
	return out
}

// grouper applies leaksentinel's grouping rules to the goroutines a peer
// parsed, with the same shortcut its builder takes: a goroutine whose stack
// was seen before costs a key and a map lookup; only a new stack is
// classified and copied.
//
// The rules are the library's own (internal/classify), not a copy: the state
// is the header's wait reason normalised by ParseStatus, the site frame the
// one SiteIndex picks, and stacks leave out the frames a default traceback
// hides.
type grouper struct {
	out    grouping
	seen   map[string]seenStack // by key: state, creator and frames
	states map[string]string    // header status -> normalised state
	key    []byte
	funcs  []string
	frames []leaksentinel.Frame
}

// seenStack is where goroutines with one stack key are counted.
type seenStack struct {
	group *group
	stack int // index into group.stacks
}

func newGrouper() *grouper {
	return &grouper{
		out:    make(grouping),
		seen:   make(map[string]seenStack),
		states: make(map[string]string),
	}
}

// add records one goroutine: its header status (the text between the
// brackets, or the part of it a peer kept), its frames innermost first, and
// its creator (zero when none). It returns false for an empty status.
func (b *grouper) add(status string, frames []leaksentinel.Frame, createdBy leaksentinel.Frame) bool {
	state, ok := b.states[status]
	if !ok {
		h, ok := classify.ParseStatus(status)
		if !ok {
			return false
		}
		state = h.State
		b.states[status] = state
	}
	b.key = appendString(b.key[:0], state)
	b.key = appendFrame(b.key, createdBy)
	for _, f := range frames {
		b.key = appendFrame(b.key, f)
	}
	if s, ok := b.seen[string(b.key)]; ok {
		s.group.count++
		s.group.stacks[s.stack].Count++
		return true
	}
	b.seen[string(b.key)] = b.newStack(state, frames, createdBy)
	return true
}

// newStack classifies a stack not seen before and merges it into its
// group.
func (b *grouper) newStack(state string, frames []leaksentinel.Frame, createdBy leaksentinel.Frame) seenStack {
	b.funcs = b.funcs[:0]
	for _, f := range frames {
		b.funcs = append(b.funcs, f.Function)
	}
	site := leaksentinel.Site{State: leaksentinel.State(state)}
	if i := classify.SiteIndex(len(b.funcs), func(i int) string { return b.funcs[i] }); i >= 0 {
		site.Function, site.File, site.Line = frames[i].Function, frames[i].File, frames[i].Line
	}
	grp, ok := b.out[site]
	if !ok {
		grp = new(group)
		b.out[site] = grp
	}
	grp.count++

	// Two keys can differ only in hidden frames: they share a stack.
	b.frames = b.frames[:0]
	for _, f := range frames {
		if !classify.Hidden(f.Function) {
			b.frames = append(b.frames, f)
		}
	}
	visible := b.frames
	if len(visible) == 0 {
		visible = frames // a traceback prints all frames rather than none
	}
	for i, s := range grp.stacks {
		if s.CreatedBy == createdBy && slices.Equal(s.Frames, visible) {
			grp.stacks[i].Count++
			return seenStack{group: grp, stack: i}
		}
	}
	grp.stacks = append(grp.stacks, leaksentinel.Stack{Frames: slices.Clone(visible), CreatedBy: createdBy, Count: 1})
	return seenStack{group: grp, stack: len(grp.stacks) - 1}
}

func appendString(key []byte, s string) []byte {
	key = binary.AppendUvarint(key, uint64(len(s)))
	return append(key, s...)
}

func appendFrame(key []byte, f leaksentinel.Frame) []byte {
	key = appendString(key, f.Function)
	key = appendString(key, f.File)
	return binary.AppendVarint(key, int64(f.Line))
}
