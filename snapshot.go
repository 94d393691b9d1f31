package leaksentinel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leaksentinel/leaksentinel/internal/capture"
	"github.com/leaksentinel/leaksentinel/internal/classify"
	"github.com/leaksentinel/leaksentinel/internal/dump"
	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// ErrTruncated is wrapped by the error [ParseDump] returns when the input
// ends in the middle of a goroutine, as the output of runtime.Stack does
// when its buffer is too small. The snapshot returned with it holds every
// goroutine that was complete.
var ErrTruncated = dump.ErrTruncated

// Snapshot is the goroutines of a process at one point in time, grouped by
// [Site]. A Snapshot is not modified after it is returned and is safe for
// concurrent reads.
//
// A parsed dump keeps a bounded number of sites and stacks in full, so that
// its memory stays small whatever the input: goroutines at further sites
// are counted in one Group with the zero Site, and those with further
// stacks in a [Stack] without frames of their group; [Snapshot.Notes]
// says when that happened.
type Snapshot struct {
	// Time is when the goroutines were captured; zero when the source
	// does not say (text dumps).
	Time time.Time
	// Total is the number of goroutines.
	Total int
	// Groups are the goroutines by site, largest first.
	Groups []Group
	// Memory is the process's memory at the capture; zero when the source
	// does not say (dumps and profiles).
	Memory Memory

	precision classify.Precision
	omitted   int // groups a sentinel did not keep (MaxSites), the smallest
	notes     []string
}

// Notes returns what the parser of a dump doubted, left out or bounded,
// one sentence each: that the input held several dumps one after another
// and this is the last, that goroutines were folded past the memory bound,
// that a header was glued to other text. It returns nil when there is
// nothing to say; the errors of a parse are returned beside the snapshot,
// not here.
func (s *Snapshot) Notes() []string { return s.notes }

// Memory is a process's memory, as runtime/metrics reports it. Reading it
// costs well under a microsecond and stops nothing.
type Memory struct {
	// HeapLive is the heap the last garbage collection found reachable
	// (/gc/heap/live:bytes): the floor of the heap's sawtooth.
	HeapLive uint64
	// Stacks is the memory of goroutine stacks
	// (/memory/classes/heap/stacks:bytes).
	Stacks uint64
	// Total is all memory the runtime has mapped
	// (/memory/classes/total:bytes).
	Total uint64
	// GCCycles is the number of completed garbage collections
	// (/gc/cycles/total:gc-cycles).
	GCCycles uint64
}

// memoryMetrics are the runtime/metrics names behind Memory, in field order.
var memoryMetrics = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
}

// readMemory reads Memory from runtime/metrics.
func readMemory() Memory {
	samples := make([]metrics.Sample, len(memoryMetrics))
	for i, name := range memoryMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return Memory{HeapLive: v(0), Stacks: v(1), Total: v(2), GCCycles: v(3)}
}

// Group is the goroutines parked at one [Site].
type Group struct {
	Site
	Count int
	// Stacks are the distinct full stacks of the group, most common
	// first. The goroutines whose stacks a parse did not keep (see
	// [Snapshot]) are counted in a last Stack without frames.
	Stacks []Stack
	// Creators are the "created by" frames, most common first. Empty
	// when the source has none (pprof profiles, Capture).
	Creators []Creator
	// OldestWait is the longest time any goroutine of the group had been
	// waiting, as the runtime printed it: whole minutes, and only once a
	// garbage collection has run since the goroutine blocked. Zero when
	// unknown or under a minute.
	OldestWait time.Duration
	// Leaked is the number of goroutines the runtime's goroutineleak
	// profile proved can never wake ("(leaked)" in tracebacks, or every
	// goroutine of a goroutineleak profile).
	Leaked int
	// LockedToThread is the number of goroutines locked to their OS
	// thread.
	LockedToThread int
	// Labels are the pprof labels seen on the group's goroutines, each key
	// with its distinct values, sorted; nil when none.
	Labels map[string][]string
}

// snapshot converts builder groups into a Snapshot.
func snapshot(b *stack.Builder, t time.Time) *Snapshot {
	st := b.Strings
	frame := func(f stack.Frame) Frame {
		if f == (stack.Frame{}) {
			return Frame{}
		}
		return Frame{Function: st.String(f.Func), File: st.String(f.File), Line: int(f.Line)}
	}
	groups := b.Finish()
	s := &Snapshot{Time: t, Total: b.Total, Groups: make([]Group, 0, len(groups)), precision: b.Precision}
	for _, g := range groups {
		site := frame(g.Site.Frame)
		out := Group{
			Site: Site{
				State:    State(st.String(g.Site.State)),
				Function: site.Function,
				File:     site.File,
				Line:     site.Line,
			},
			Count:          g.Count,
			Stacks:         make([]Stack, 0, len(g.Stacks)),
			OldestWait:     time.Duration(g.WaitMinutes) * time.Minute,
			Leaked:         g.Leaked,
			LockedToThread: g.Locked,
		}
		for _, stk := range g.Stacks {
			out.Stacks = appendStack(out.Stacks, stk, st, frame)
		}
		if g.Other > 0 {
			out.Stacks = append(out.Stacks, Stack{Count: g.Other})
		}
		for _, c := range g.Creators {
			out.Creators = append(out.Creators, Creator{Frame: frame(c.Frame), Count: c.Count})
		}
		if len(g.Labels) > 0 {
			out.Labels = make(map[string][]string)
			for _, l := range g.Labels {
				k := st.String(l.Key)
				out.Labels[k] = append(out.Labels[k], st.String(l.Value))
			}
			for _, v := range out.Labels {
				slices.Sort(v)
			}
		}
		s.Groups = append(s.Groups, out)
	}
	return s
}

// appendStack converts stk, leaving out the frames a default traceback
// hides, and merges it into a stack already in dst with the same frames
// (two PC arrays can differ only where the frames agree).
func appendStack(dst []Stack, stk *stack.Stack, st *stack.Table, frame func(stack.Frame) Frame) []Stack {
	frames := make([]Frame, 0, len(stk.Frames))
	for _, f := range stk.Frames {
		if !classify.Hidden(st.String(f.Func)) {
			frames = append(frames, frame(f))
		}
	}
	if len(frames) == 0 {
		// A traceback prints all frames when it would otherwise
		// print none.
		for _, f := range stk.Frames {
			frames = append(frames, frame(f))
		}
	}
	out := Stack{Frames: frames, CreatedBy: frame(stk.CreatedBy), Count: stk.Count}
	for i := range dst {
		if dst[i].CreatedBy == out.CreatedBy && slices.Equal(dst[i].Frames, out.Frames) {
			dst[i].Count += out.Count
			return dst
		}
	}
	return append(dst, out)
}

// ParseDump reads a text goroutine dump: the output of runtime.Stack(buf,
// true), /debug/pprof/goroutine?debug=2, a panic or SIGQUIT traceback with
// unrelated lines around it, GODEBUG=tracebackancestors output, or the
// grouped /debug/pprof/goroutine?debug=1 form. Gzipped input is accepted,
// and so are the shapes a dump takes once a person has copied it: lines
// indented with spaces or a common margin, CRLF line ends, a header glued
// to the log text before it, no final newline.
//
// An input holding several dumps one after another (a log with a
// runtime.Stack dump and a later SIGQUIT one, a panic printed twice)
// yields the last, and [Snapshot.Notes] says how many there were and where
// each began. A new dump begins where a goroutine id repeats, where a new
// "SIGQUIT: quit", "panic: " or "fatal error: " line follows goroutines
// (but not the "-----" sections of one GOTRACEBACK=crash dump), at a second
// running goroutine with its stack, at a header glued to a log message, or
// where the format changes. Two dumps with no goroutine in common and
// nothing between them read as one.
//
// The error says where each problem is ("line 412: ..."). If the input held
// goroutines, ParseDump returns them even with an error: a dump cut short
// yields every complete goroutine and an error wrapping [ErrTruncated].
func ParseDump(r io.Reader) (*Snapshot, error) {
	return parseDump(r, nil)
}

// parseDump is ParseDump that also hands each goroutine, as it is read, to
// each when not nil: one pass over a dump serves what the snapshot drops
// (goroutine ids, see births). On input holding several dumps, each sees
// the goroutines of all of them (g.Dump says which), the snapshot is the
// last's.
func parseDump(r io.Reader, each func(*stack.Table, *stack.Goroutine)) (*Snapshot, error) {
	var fn func(int, *stack.Table, *stack.Goroutine)
	if each != nil {
		fn = func(_ int, t *stack.Table, g *stack.Goroutine) { each(t, g) }
	}
	snaps, err := readDumps(r, false, dumpLimits, fn)
	if len(snaps) == 0 {
		return nil, err
	}
	return snaps[len(snaps)-1], err
}

// parseDumpSeries reads an input holding one dump or several one after
// another, and returns one snapshot per dump in input order, as the replay
// of a saved log uses them. A new dump begins (see dump.Parse for the
// rules) at a goroutine or ?debug=1 profile header when the dump read so
// far has a goroutine and
//
//   - the header's goroutine id was already seen in it (id 0 aside);
//   - a "SIGQUIT: quit" (any "SIGxxx: " line), "panic: " or "fatal error: "
//     line came since its last goroutine, unless right after a "-----"
//     line, which is how the runtime separates the threads of one
//     GOTRACEBACK=crash dump;
//   - the header is glued to other text on its line;
//   - the header is of a second goroutine in state "running" with its
//     stack printed (the one that took a dump is the only one); or
//   - the format changes between tracebacks and ?debug=1 records, or a new
//     "goroutine profile: total N" line begins.
//
// A dump none of whose goroutines could be read yields no snapshot. each,
// when not nil, sees every goroutine as it is read with the index of the
// snapshot it goes into. The error joins the problems of the whole input,
// each naming its line. Every snapshot's Notes carry the notes of the whole
// input besides its own. Each snapshot is bounded as ParseDump's is; the
// memory of all of them grows with the number of dumps.
func parseDumpSeries(r io.Reader, each func(dump int, t *stack.Table, g *stack.Goroutine)) ([]*Snapshot, error) {
	return readDumps(r, true, dumpLimits, each)
}

// limits bound what one parsed dump keeps in full (see stack.Builder and
// stack.Table).
type limits struct {
	sites, stacks, frames int
	names                 int // bytes
}

// dumpLimits are the limits of ParseDump: a dump of a real process stays
// far below each (100,000 goroutines have a few hundred distinct stacks);
// hostile input is held to about 200 MiB however long it is.
var dumpLimits = limits{
	sites:  10_000,
	stacks: 20_000,
	frames: 1 << 20, // in the stacks kept, 12 bytes each
	names:  32 << 20,
}

// readDumps parses r into one snapshot per dump, or, unless all, only the
// last.
func readDumps(r io.Reader, all bool, lim limits, each func(int, *stack.Table, *stack.Goroutine)) ([]*Snapshot, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, fmt.Errorf("leaksentinel: dump: %w", err)
	}
	var t stack.Table
	t.SetLimit(lim.names)
	// One builder per dump with goroutines, with the scanner's index of
	// its dump and the line of its first goroutine.
	type part struct {
		b          *stack.Builder
		dump, line int
	}
	var parts []part
	info, err := dump.Parse(r, &t, func(g *stack.Goroutine) {
		if len(parts) == 0 || parts[len(parts)-1].dump != g.Dump {
			b := stack.NewBuilder(&t, classify.Text)
			b.MaxSites, b.MaxStacks, b.MaxFrames = lim.sites, lim.stacks, lim.frames
			if !all {
				parts = parts[:0]
			}
			parts = append(parts, part{b: b, dump: g.Dump, line: g.Line})
		}
		p := &parts[len(parts)-1]
		if g.Grouped {
			p.b.Precision = classify.UserFrames
		}
		p.b.Add(g)
		if each != nil {
			each(len(parts)-1, &t, g)
		}
	})
	if err != nil {
		err = fmt.Errorf("leaksentinel: dump: %w", err)
	}
	var notes []string
	if !all && info.DumpCount > 1 && len(parts) > 0 {
		notes = append(notes, seriesNote(info, parts[0].dump, parts[0].line))
	}
	notes = append(notes, info.Notes...)
	if t.Full() {
		notes = append(notes, fmt.Sprintf("the names read passed the parser's bound of %d KiB: the names after it show as %q", lim.names>>10, stack.Overflow))
	}
	out := make([]*Snapshot, len(parts))
	for i, p := range parts {
		s := snapshot(p.b, time.Time{})
		s.notes = append(slices.Clip(notes), boundNotes(p.b)...)
		if len(s.notes) == 0 {
			s.notes = nil
		}
		out[i] = s
	}
	return out, err
}

// seriesNote says that the input held several dumps and which one, the
// i-th from line, the snapshot is.
func seriesNote(info dump.Info, i, line int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the input holds %d dumps one after another; this is dump %d, from line %d", info.DumpCount, i+1, line)
	if i != info.DumpCount-1 {
		b.WriteString(" (the last with goroutines read)")
	}
	b.WriteString("; new dumps begin at ")
	const show = 3
	for j, d := range info.Dumps[1:] {
		if j == show {
			break
		}
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "line %d (%s)", d.Line, d.Reason)
	}
	if more := info.DumpCount - 1 - min(show, len(info.Dumps)-1); more > 0 {
		fmt.Fprintf(&b, ", and %d more", more)
	}
	return b.String()
}

// boundNotes says what a builder folded past its bounds.
func boundNotes(b *stack.Builder) []string {
	var notes []string
	if b.Folded > 0 {
		notes = append(notes, fmt.Sprintf("more than %d sites: the %d goroutines at the sites past them are counted in one group with no site (the parser's memory bound)", b.MaxSites, b.Folded))
	}
	if b.Unkept > 0 {
		notes = append(notes, fmt.Sprintf("more than %d distinct stacks (or %d frames in them): %d goroutines are counted at their site without their stack (the parser's memory bound)", b.MaxStacks, b.MaxFrames, b.Unkept))
	}
	return notes
}

// maybeGunzip returns a reader of r's content, decompressed if it starts
// with the gzip magic number.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// maxProfile bounds the size of a decompressed profile. Goroutine profiles
// group equal stacks, so even a million goroutines make a few megabytes.
const maxProfile = 256 << 20

// ParseProfile reads a pprof goroutine profile, as
// /debug/pprof/goroutine?debug=0 serves it and pprof.Lookup("goroutine")
// writes it, gzipped or not. A goroutineleak profile is read the same way,
// with every goroutine counted as [Group.Leaked].
//
// Profiles carry no wait reasons, so states are inferred from the runtime
// frames on top (see [State]); nor creators or wait times.
func ParseProfile(r io.Reader) (*Snapshot, error) {
	data, err := readProfile(r)
	if err != nil {
		return nil, fmt.Errorf("leaksentinel: profile: %w", err)
	}
	if what := binaryKind(data); what != "" {
		return nil, fmt.Errorf("leaksentinel: profile: the input looks like %s, not a protobuf goroutine profile", what)
	}
	if err := checkWire(data); err != nil {
		return nil, fmt.Errorf("leaksentinel: profile: %w", err)
	}
	p, err := profile.ParseUncompressed(data)
	if err != nil {
		return nil, fmt.Errorf("leaksentinel: profile: %w", err)
	}
	return fromProfile(p)
}

func readProfile(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		cr := &countingReader{r: zr}
		data, err := io.ReadAll(io.LimitReader(cr, maxProfile+1))
		if err != nil {
			return nil, fmt.Errorf("gzip: after %d decompressed bytes: %w", cr.n, err)
		}
		if len(data) > maxProfile {
			return nil, fmt.Errorf("gzip: more than %d bytes decompressed", maxProfile)
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(br, maxProfile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxProfile {
		return nil, fmt.Errorf("more than %d bytes", maxProfile)
	}
	if len(data) == 0 {
		return nil, errors.New("empty input")
	}
	if looksLikeText(data) {
		return nil, errors.New("input is text, not a protobuf profile (is it a ?debug=1 or ?debug=2 dump? use ParseDump)")
	}
	return data, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// looksLikeText reports whether data starts like a text dump.
func looksLikeText(data []byte) bool {
	head := data[:min(len(data), 64)]
	return bytes.HasPrefix(head, []byte("goroutine ")) || bytes.Contains(head, []byte(" profile: total "))
}

// binaryKind names the binary formats that are not protobuf profiles but
// are mistaken for them, from their first bytes, or returns "".
func binaryKind(data []byte) string {
	switch {
	case legacyCPU(data):
		return "a legacy CPU profile (the binary format of gperftools and pprof before protobuf)"
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return "an ELF executable"
	}
	return ""
}

// legacyCPU reports whether data starts with the header of a legacy CPU
// profile: the words 0 (header count), 3 (header words), 0 (version), in
// 32 or 64 bits, either byte order.
func legacyCPU(data []byte) bool {
	for _, w := range []int{4, 8} {
		if len(data) < 3*w {
			continue
		}
		word := func(i int) []byte { return data[i*w : (i+1)*w] }
		zero := func(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }
		three := func(b []byte) bool {
			return (b[0] == 3 && zero(b[1:])) || (b[len(b)-1] == 3 && zero(b[:len(b)-1]))
		}
		if zero(word(0)) && three(word(1)) && zero(word(2)) {
			return true
		}
	}
	return false
}

// checkWire walks the top-level fields of a protobuf message and reports the
// byte offset of the first one that cannot be framed, which the profile
// decoder's own errors do not say.
func checkWire(b []byte) error {
	for off := 0; off < len(b); {
		start := off
		key, n := uvarint(b[off:])
		if n <= 0 {
			return fmt.Errorf("offset %d: bad field key", start)
		}
		off += n
		field, wire := key>>3, key&7
		if field == 0 {
			return fmt.Errorf("offset %d: field number 0", start)
		}
		switch wire {
		case 0:
			_, n := uvarint(b[off:])
			if n <= 0 {
				return fmt.Errorf("offset %d: field %d: bad varint", start, field)
			}
			off += n
		case 1:
			off += 8
		case 5:
			off += 4
		case 2:
			l, n := uvarint(b[off:])
			if n <= 0 {
				return fmt.Errorf("offset %d: field %d: bad length", start, field)
			}
			off += n
			if l > uint64(len(b)-off) {
				return fmt.Errorf("offset %d: field %d: length %d runs past the end (%d bytes left)", start, field, l, len(b)-off)
			}
			off += int(l)
		default:
			return fmt.Errorf("offset %d: field %d: unknown wire type %d", start, field, wire)
		}
		if off > len(b) {
			return fmt.Errorf("offset %d: field %d runs past the end", start, field)
		}
	}
	return nil
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}

// fromProfile groups the samples of a goroutine profile.
func fromProfile(p *profile.Profile) (*Snapshot, error) {
	idx, leak := -1, false
	for i, st := range p.SampleType {
		if st != nil && st.Unit == "count" && (st.Type == "goroutine" || st.Type == "goroutineleak") {
			idx, leak = i, st.Type == "goroutineleak"
			break
		}
	}
	if idx < 0 {
		types := make([]string, len(p.SampleType))
		for i, st := range p.SampleType {
			if st != nil {
				types[i] = st.Type + "/" + st.Unit
			}
		}
		return nil, fmt.Errorf("leaksentinel: profile: not a goroutine profile (sample types %v)", types)
	}
	var t stack.Table
	b := stack.NewBuilder(&t, classify.Frames)
	var g stack.Goroutine
	var funcs []string
	for i, s := range p.Sample {
		if s == nil {
			continue
		}
		if idx >= len(s.Value) {
			return nil, fmt.Errorf("leaksentinel: profile: sample %d: %d values, want at least %d", i, len(s.Value), idx+1)
		}
		count := s.Value[idx]
		if count <= 0 {
			continue
		}
		if count > 1<<31-1 {
			return nil, fmt.Errorf("leaksentinel: profile: sample %d: count %d", i, count)
		}
		g.Reset()
		g.Count = int(count)
		g.Leaked = leak
		funcs = funcs[:0]
		for _, loc := range s.Location {
			if loc == nil {
				continue // a sample naming a location the profile lacks
			}
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := classify.PrintName(line.Function.Name)
				g.Frames = append(g.Frames, stack.Frame{
					Func: t.ID(name),
					File: t.ID(line.Function.Filename),
					Line: int32(line.Line),
				})
				funcs = append(funcs, name)
			}
		}
		g.State = t.ID(classify.InferState(funcs, classify.Frames))
		for _, k := range sortedKeys(s.Label) {
			for _, v := range s.Label[k] {
				g.Labels = append(g.Labels, stack.Label{Key: t.ID(k), Value: t.ID(v)})
			}
		}
		b.Add(&g)
	}
	var when time.Time
	if p.TimeNanos > 0 {
		when = time.Unix(0, p.TimeNanos)
	}
	return snapshot(b, when), nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// capturers reuses the goroutine record buffers of Capture between calls
// without pinning them: the pool lets them go when the heap is collected.
var capturers = sync.Pool{New: func() any { return new(capture.Capturer) }}

// Capture returns the current process's goroutines grouped by site.
//
// It reads runtime.GoroutineProfile: the world stops twice for well under a
// millisecond whatever the goroutine count, and the rest of the work runs
// concurrently with the program. That source has no wait reasons, creators
// or wait times: states are inferred from the runtime frames (see [State]),
// and Creators and OldestWait stay empty. To get them, parse the output of
// runtime.Stack with [ParseDump], at the price of stopping the world for the
// whole dump.
func Capture() (*Snapshot, error) {
	c := capturers.Get().(*capture.Capturer)
	defer capturers.Put(c)
	capture.Symbols.Lock()
	defer capture.Symbols.Unlock()
	now := time.Now()
	b := stack.NewBuilder(capture.Symbols.Table(), classify.Frames)
	if err := c.Capture(b); err != nil {
		return nil, fmt.Errorf("leaksentinel: capture: %w", err)
	}
	s := snapshot(b, now)
	s.Memory = readMemory()
	return s, nil
}

// prec returns the precision of s's source; a nil snapshot has the finest.
func (s *Snapshot) prec() classify.Precision {
	if s == nil {
		return classify.Text
	}
	return s.precision
}
