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
}

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
