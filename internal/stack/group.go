package stack

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/leaksentinel/leaksentinel/internal/classify"
)

// maxLabelsPerGroup bounds the distinct label pairs a group keeps: labels
// say which handler or job started the goroutines, and a few dozen pairs do
// that; a label carrying a request id would otherwise grow without bound.
const maxLabelsPerGroup = 64

// Site is the grouping key: the state and the frame a person must read.
type Site struct {
	State uint32
	Frame Frame
}

// Group is the goroutines parked at one site.
type Group struct {
	Site        Site
	Count       int
	Stacks      []*Stack // distinct (state, frames, creator); sorted by Builder.Finish
	Creators    []Creator
	WaitMinutes int // the longest wait any header printed
	Leaked      int
	Locked      int
	Labels      []Label // distinct pairs, at most maxLabelsPerGroup
	// Other counts the goroutines whose stacks the Builder did not keep
	// (its MaxStacks or MaxFrames bound): they are in Count but in none
	// of Stacks.
	Other int

	creators map[Frame]int // index into Creators
	labels   map[Label]struct{}
}

// Stack is one distinct stack within a group.
type Stack struct {
	Frames    []Frame
	CreatedBy Frame
	Count     int
	group     *Group
	creator   int // index into group.Creators until Finish sorts them
}

// Creator counts the goroutines of a group created at one "created by"
// frame.
type Creator struct {
	Frame Frame
	Count int
}

// Builder groups goroutines by site. The zero value is not usable; call
// NewBuilder. A Builder is not safe for concurrent use.
//
// MaxSites, MaxStacks and MaxFrames bound what it keeps in full, so that
// its memory does not grow with hostile input: the sites, the distinct
// stacks, and the frames of those stacks. Zero means no bound. Goroutines
// past a bound are still counted in Total: those at a site not kept in the
// one group with the zero Site (Finish returns it with the others), those
// whose stack was not kept in their group's Other.
type Builder struct {
	Strings   *Table
	Precision classify.Precision
	Total     int

	MaxSites, MaxStacks, MaxFrames int
	// Folded counts the goroutines at sites past MaxSites; Unkept those
	// at kept sites whose stacks were past MaxStacks or MaxFrames.
	Folded, Unkept int

	stacks map[string]*Stack
	groups map[Site]*Group
	rest   *Group // the goroutines at sites past MaxSites
	frames int    // frames held by the stacks
	key    []byte
	funcs  []string
}

// NewBuilder returns a Builder that interns into t.
func NewBuilder(t *Table, p classify.Precision) *Builder {
	return &Builder{
		Strings:   t,
		Precision: p,
		stacks:    make(map[string]*Stack),
		groups:    make(map[Site]*Group),
	}
}

// Add records g. It does not keep g or its slices.
func (b *Builder) Add(g *Goroutine) {
	count := g.Count
	if count <= 0 {
		count = 1
	}
	b.Total += count
	b.key = b.appendKey(b.key[:0], g)
	st, ok := b.stacks[string(b.key)]
	if !ok {
		st = b.newStack(g, count)
		if st == nil {
			return
		}
		b.stacks[string(b.key)] = st
	}
	st.Count += count
	grp := st.group
	grp.Creators[st.creator].Count += count
	grp.tally(g, count)
}

// tally counts g, with count goroutines, in grp.
func (grp *Group) tally(g *Goroutine, count int) {
	grp.Count += count
	if g.WaitMinutes > grp.WaitMinutes {
		grp.WaitMinutes = g.WaitMinutes
	}
	if g.Leaked {
		grp.Leaked += count
	}
	if g.Locked {
		grp.Locked += count
	}
	for _, l := range g.Labels {
		if _, ok := grp.labels[l]; ok || len(grp.Labels) >= maxLabelsPerGroup {
			continue
		}
		if grp.labels == nil {
			grp.labels = make(map[Label]struct{})
		}
		grp.labels[l] = struct{}{}
		grp.Labels = append(grp.Labels, l)
	}
}

func (b *Builder) appendKey(key []byte, g *Goroutine) []byte {
	key = binary.LittleEndian.AppendUint32(key, g.State)
	key = appendFrame(key, g.CreatedBy)
	for _, f := range g.Frames {
		key = appendFrame(key, f)
	}
	return key
}

func appendFrame(key []byte, f Frame) []byte {
	key = binary.LittleEndian.AppendUint32(key, f.Func)
	key = binary.LittleEndian.AppendUint32(key, f.File)
	return binary.LittleEndian.AppendUint32(key, uint32(f.Line))
}

// newStack returns a new stack for g in its group, or nil when a bound
// keeps it from being stored, in which case it has counted g itself.
func (b *Builder) newStack(g *Goroutine, count int) *Stack {
	site := Site{State: g.State}
	b.funcs = b.funcs[:0]
	for _, f := range g.Frames {
		b.funcs = append(b.funcs, b.Strings.String(f.Func))
	}
	if i := classify.SiteIndex(len(b.funcs), func(i int) string { return b.funcs[i] }); i >= 0 {
		site.Frame = g.Frames[i]
	}
	grp, ok := b.groups[site]
	if !ok {
		if b.MaxSites > 0 && len(b.groups) >= b.MaxSites {
			if b.rest == nil {
				b.rest = &Group{}
			}
			b.rest.Other += count
			b.rest.tally(g, count)
			b.Folded += count
			return nil
		}
		grp = &Group{Site: site, creators: make(map[Frame]int)}
		b.groups[site] = grp
	}
	if (b.MaxStacks > 0 && len(b.stacks) >= b.MaxStacks) || (b.MaxFrames > 0 && b.frames+len(g.Frames) > b.MaxFrames) {
		if i, ok := grp.creators[g.CreatedBy]; ok {
			grp.Creators[i].Count += count
		}
		grp.Other += count
		grp.tally(g, count)
		b.Unkept += count
		return nil
	}
	if _, ok := grp.creators[g.CreatedBy]; !ok {
		grp.creators[g.CreatedBy] = len(grp.Creators)
		grp.Creators = append(grp.Creators, Creator{Frame: g.CreatedBy})
	}
	b.frames += len(g.Frames)
	st := &Stack{Frames: slices.Clone(g.Frames), CreatedBy: g.CreatedBy, group: grp, creator: grp.creators[g.CreatedBy]}
	grp.Stacks = append(grp.Stacks, st)
	return st
}

// Finish returns the groups, largest first, each with its stacks and
// creators most frequent first; the group of the zero Site, if any, holds
// the goroutines at sites past MaxSites. Ties are broken by the site's names so the
// order does not depend on map iteration.
func (b *Builder) Finish() []*Group {
	groups := make([]*Group, 0, len(b.groups)+1)
	for _, g := range b.groups {
		groups = append(groups, g)
	}
	if b.rest != nil {
		groups = append(groups, b.rest)
	}
	for _, g := range groups {
		slices.SortFunc(g.Stacks, func(x, y *Stack) int {
			if x.Count != y.Count {
				return y.Count - x.Count
			}
			return b.compareFrames(x.Frames, y.Frames)
		})
		slices.SortFunc(g.Creators, func(x, y Creator) int {
			if x.Count != y.Count {
				return y.Count - x.Count
			}
			return b.compareFrame(x.Frame, y.Frame)
		})
		g.creators = nil
		g.labels = nil
		if len(g.Creators) == 1 && g.Creators[0].Frame == (Frame{}) {
			g.Creators = nil
		} else {
			g.Creators = slices.DeleteFunc(g.Creators, func(c Creator) bool { return c.Frame == Frame{} })
		}
	}
	slices.SortFunc(groups, func(x, y *Group) int {
		if x.Count != y.Count {
			return y.Count - x.Count
		}
		if c := strings.Compare(b.Strings.String(x.Site.State), b.Strings.String(y.Site.State)); c != 0 {
			return c
		}
		return b.compareFrame(x.Site.Frame, y.Site.Frame)
	})
	return groups
}

func (b *Builder) compareFrame(x, y Frame) int {
	if c := strings.Compare(b.Strings.String(x.Func), b.Strings.String(y.Func)); c != 0 {
		return c
	}
	if c := strings.Compare(b.Strings.String(x.File), b.Strings.String(y.File)); c != 0 {
		return c
	}
	return int(x.Line) - int(y.Line)
}

func (b *Builder) compareFrames(x, y []Frame) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		if c := b.compareFrame(x[i], y[i]); c != 0 {
			return c
		}
	}
	return len(x) - len(y)
}
