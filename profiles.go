package leaksentinel

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// profilePrefix starts the name of every file the sentinel writes in
// ProfileDir; pruning never touches other files.
const profilePrefix = "leaksentinel-"

// writeProfiles writes, in ProfileDir, the goroutine profile and, when ex
// holds one, the text dump, named by time and kind ("baseline", "alert"),
// then keeps only the newest MaxProfiles captures. Failures are logged: a
// full disk must not stop the sentinel.
func (s *Sentinel) writeProfiles(now time.Time, kind string, ex *explanation) {
	dir := s.opts.ProfileDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.opts.Logger.Error("leaksentinel: profile dir", "err", err)
		return
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
			return
		}
	}
	if pb == nil && text == nil {
		return // the source has neither
	}
	base := filepath.Join(dir, fmt.Sprintf("%s%s-%s", profilePrefix, now.UTC().Format("20060102T150405.000Z"), kind))
	files := []struct {
		name string
		data []byte
	}{{base + ".pb.gz", pb}, {base + ".txt", text}}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := writeFile(f.name, f.data); err != nil {
			s.opts.Logger.Error("leaksentinel: writing profile", "err", err)
			return
		}
	}
	s.opts.Logger.Info("leaksentinel: profile written", "file", base+".pb.gz")
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

// pruneProfiles removes the oldest captures beyond keep. A capture is the
// files sharing a time stamp.
func (s *Sentinel) pruneProfiles(keep int) {
	entries, err := os.ReadDir(s.opts.ProfileDir)
	if err != nil {
		s.opts.Logger.Error("leaksentinel: profile dir", "err", err)
		return
	}
	byStamp := make(map[string][]string)
	var stamps []string
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, profilePrefix)
		if !ok || e.IsDir() {
			continue
		}
		stamp, _, _ := strings.Cut(rest, "-")
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
