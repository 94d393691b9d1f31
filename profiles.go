package leaksentinel

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// profilePrefix starts the name of every file the sentinel writes in
// ProfileDir.
const profilePrefix = "leaksentinel."

// stampFormat is the time in a file's name: UTC, to the millisecond, so
// that names sort by time as text. It always has the same length.
const stampFormat = "20060102T150405.000Z"

// profileOwner is the part of a file's name that says which process wrote
// it, in the dotted order go tool pprof names what it saves (pprof.PROGRAM.
// KIND...): the prefix, the program's name, the host's name and the process
// id, each ending in a dot. A directory or bucket shared by a fleet holds
// every instance's files apart: the host tells apart containers whose
// process ids are all 1, the process id two instances on one host. The
// fields hold no dot of their own, so that one owner's prefix is never the
// start of another's.
var profileOwner = sync.OnceValue(func() string {
	program := "unknown"
	if exe, err := os.Executable(); err == nil {
		program = filepath.Base(exe)
	} else if len(os.Args) > 0 && os.Args[0] != "" {
		program = filepath.Base(os.Args[0])
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".") // the host, not its domain
	if host == "" {
		host = "unknown"
	}
	program = strings.TrimSuffix(program, ".exe")
	return profilePrefix + nameField(program) + "." + nameField(host) + "." + strconv.Itoa(os.Getpid()) + "."
})

// nameField keeps the letters, digits, '-' and '_' of s and turns the rest
// into '_': no dot, no separator, nothing a shell or an object store
// treats specially.
func nameField(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// profileBase is the path, less its kind and extension, of the files
// written for one capture at now, for example
//
//	/var/lib/profiles/leaksentinel.checkout.web-7.4242.20261201T204937.123Z
func (s *Sentinel) profileBase(now time.Time) string {
	return filepath.Join(s.opts.ProfileDir, profileOwner()+now.UTC().Format(stampFormat))
}

// writeProfiles writes, in ProfileDir, the goroutine profile and, when ex
// holds one, the text dump, named by time and kind ("goroutine.baseline",
// "goroutine.alert"), then keeps only this process's newest MaxProfiles
// captures. It returns the paths it wrote. Failures are logged: a full
// disk must not stop the sentinel.
func (s *Sentinel) writeProfiles(now time.Time, kind string, ex *explanation) []string {
	dir := s.opts.ProfileDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.opts.Logger.Error("leaksentinel: profile dir", "err", err)
		return nil
	}
	// Make room first, so that the directory never holds more than
	// MaxProfiles captures, even while this one is written.
	s.pruneProfiles(s.opts.MaxProfiles - 1)
	var pb, text []byte
	if ex != nil {
		pb, text = ex.pb, ex.text
	}
	if pb == nil && s.profiler != nil {
		var err error
		if pb, err = s.profiler.Profile(s.ctx); err != nil {
			s.opts.Logger.Error("leaksentinel: goroutine profile", "err", err)
			return nil
		}
	}
	if pb == nil && text == nil {
		return nil // the source has neither
	}
	base := s.profileBase(now) + ".goroutine." + kind
	var written []string
	for _, f := range []struct {
		name string
		data []byte
	}{{base + ".pb.gz", pb}, {base + ".txt", text}} {
		if f.data == nil {
			continue
		}
		if err := writeFile(f.name, f.data); err != nil {
			s.opts.Logger.Error("leaksentinel: writing profile", "err", err)
			return written
		}
		written = append(written, f.name)
	}
	s.opts.Logger.Info("leaksentinel: profile written", "file", base+".pb.gz")
	return written
}

// writeFile writes data to name, readable by the owner only, so that name
// never holds a partial file: the data goes to a temporary file in the same
// directory (named so that pruning ignores it) and is renamed into place.
// A reader (go tool pprof, a collector tailing the directory) sees the
// whole file or none.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+profilePrefix+"*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// pruneProfiles removes this process's oldest captures beyond keep. A
// capture is the files sharing a time stamp. Files of other processes are
// never touched: in a shared directory they are other instances' to prune,
// and those of a process that is gone (crashed, killed for its memory,
// restarted) are the evidence of what it leaked; an operator's retention
// (a cleanup job, a bucket's lifecycle rule) removes them.
func (s *Sentinel) pruneProfiles(keep int) {
	entries, err := os.ReadDir(s.opts.ProfileDir)
	if err != nil {
		s.opts.Logger.Error("leaksentinel: profile dir", "err", err)
		return
	}
	owner := profileOwner()
	byStamp := make(map[string][]string)
	var stamps []string
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, owner)
		if !ok || e.IsDir() || len(rest) < len(stampFormat) {
			continue
		}
		stamp := rest[:len(stampFormat)]
		if _, seen := byStamp[stamp]; !seen {
			stamps = append(stamps, stamp)
		}
		byStamp[stamp] = append(byStamp[stamp], name)
	}
	slices.Sort(stamps) // the time format sorts as text
	for _, stamp := range stamps[:max(0, len(stamps)-keep)] {
		for _, name := range byStamp[stamp] {
			if err := os.Remove(filepath.Join(s.opts.ProfileDir, name)); err != nil {
				s.opts.Logger.Error("leaksentinel: pruning profiles", "err", err)
			}
		}
	}
}
