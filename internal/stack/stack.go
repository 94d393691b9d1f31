// Package stack is the common form every source of goroutines is read into
// (text dumps, pprof protos, raw PCs), and the grouping of goroutines by
// blocking site that the public Snapshot is built from.
//
// Strings are interned in a Table and frames refer to them by index, so that
// grouping a goroutine costs a map lookup on a short key and no allocation
// unless its stack was never seen before.
package stack

// Table interns strings: equal strings get the same index.
// The zero value is ready to use; index 0 is the empty string.
type Table struct {
	index   map[string]uint32
	strings []string

	// limit bounds size, the bytes the table holds (each string counted
	// with entryCost more for its slot); 0 means no bound. Past it, new
	// strings all get the index of Overflow.
	limit, size int
	overflow    uint32
	full        bool
}

// Overflow is the string a bounded Table hands out, under one index, for
// every new string once its bound is reached.
const Overflow = "?"

// entryCost is roughly what a table entry costs besides its bytes: a
// string header in strings, and a map slot with its key header and index.
const entryCost = 48

// SetLimit bounds the memory the table holds to about n bytes: once they
// are used, each string not yet in the table gets the index of Overflow,
// and Full reports true. Zero means no bound.
func (t *Table) SetLimit(n int) {
	t.limit = n
	if n > 0 && t.overflow == 0 {
		t.overflow = t.ID(Overflow)
	}
}

// Full reports whether a bounded table has refused a string.
func (t *Table) Full() bool { return t.full }

// ID returns the index of s, adding it if needed. Looking up a []byte
// converted in the call (t.ID(string(b))) does not allocate when b is known.
func (t *Table) ID(s string) uint32 {
	if s == "" {
		return 0
	}
	if id, ok := t.index[s]; ok {
		return id
	}
	return t.add(s)
}

// IDBytes is ID for a byte slice; it copies b only the first time.
func (t *Table) IDBytes(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	if id, ok := t.index[string(b)]; ok {
		return id
	}
	return t.add(string(b))
}

func (t *Table) add(s string) uint32 {
	if t.limit > 0 && t.overflow != 0 {
		if t.size+len(s)+entryCost > t.limit {
			t.full = true
			return t.overflow
		}
		t.size += len(s) + entryCost
	}
	if t.index == nil {
		t.index = make(map[string]uint32)
		t.strings = append(t.strings, "")
	}
	id := uint32(len(t.strings))
	t.strings = append(t.strings, s)
	t.index[s] = id
	return id
}

// String returns the string with index id.
func (t *Table) String(id uint32) string {
	if id == 0 {
		return ""
	}
	return t.strings[id]
}

// Frame is one frame: interned function and file, and a line.
type Frame struct {
	Func, File uint32
	Line       int32
}

// Label is one pprof label: interned key and value.
type Label struct {
	Key, Value uint32
}

// Goroutine is one goroutine, or, for grouped sources (pprof profiles,
// debug=1 text), Count identical ones.
type Goroutine struct {
	ID       int64 // 0 when the source has none
	ParentID int64 // the goroutine that created it; 0 when unknown
	Count    int
	State    uint32 // interned normalised state
	// WaitMinutes is the wait the header printed; 0 when none.
	WaitMinutes int
	Leaked      bool
	Locked      bool
	Elided      bool    // the traceback elided frames in the middle
	Frames      []Frame // innermost first, as the source has them
	CreatedBy   Frame   // zero when unknown
	Labels      []Label
	Ancestors   []Ancestor // GODEBUG=tracebackancestors blocks
	Line        int        // the input line of its header, for errors
	// Dump is the index of the dump the goroutine was read from, for an
	// input that holds several one after another; 0 for the first.
	Dump int
	// Grouped says it is a ?debug=1 record, whose runtime frames above
	// the first other frame are missing (classify.UserFrames).
	Grouped bool
}

// Ancestor is one "[originating from goroutine N]:" block.
type Ancestor struct {
	ID        int64
	Frames    []Frame
	CreatedBy Frame
}

// Reset empties g, keeping its slices' memory.
func (g *Goroutine) Reset() {
	frames, labels, anc := g.Frames[:0], g.Labels[:0], g.Ancestors[:0]
	*g = Goroutine{Frames: frames, Labels: labels, Ancestors: anc}
}
