package leaksentinel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// HTTPOptions configures [NewHTTPSource]. The zero value is ready to use.
type HTTPOptions struct {
	// Client makes the requests. Nil means a client of the source's own.
	Client *http.Client
	// Timeout bounds each request, the whole body included. Zero means
	// 10 seconds.
	Timeout time.Duration
	// Debug2 polls ?debug=2 text for every sample instead of the protobuf
	// profile: creators, wait minutes and goroutine ids in every sample,
	// at the price of stopping the service's world for the whole dump
	// (10-17 µs per goroutine) each time.
	Debug2 bool
}

// maxBody bounds what one request reads. pprof's ?debug=2 stops at 64 MiB;
// profiles are a few MiB even at a million goroutines.
const maxBody = 512 << 20

// HTTPSource is a [Source] that polls a live service's net/http/pprof
// endpoints: the service needs only to import net/http/pprof. Each capture
// fetches the goroutine profile (?debug=0: 5-8 µs of the service's CPU per
// goroutine, no stop of its world beyond two short ones), or ?debug=2 text
// with [HTTPOptions].Debug2. Its dump is ?debug=2 (which stops the
// service's world for the whole dump: it is asked only under
// [Options].DumpLimit, for alerts, and every few captures for the turnover
// check's clock), and its proof the service's goroutineleak profile (Go
// 1.27, or Go 1.26 with GOEXPERIMENT=goroutineleakprofile); a service
// without one answers 404 once, and alerts are not confirmed.
//
// Create one with [NewHTTPSource]; it is used by one sentinel's sampling
// goroutine, not concurrently.
type HTTPSource struct {
	goroutine string // the captures: ?debug=0, or ?debug=2 with Debug2
	dump      string // ?debug=2
	leak      string // the goroutineleak profile, ?debug=0
	debug2    bool
	client    *http.Client
	timeout   time.Duration

	last    []byte // the last capture's body
	lastTop int64  // the highest goroutine id of the last capture, when text
	noLeak  bool   // the service answered 404 for the goroutineleak profile
}

// NewHTTPSource returns a source polling the service at raw: its address
// ("localhost:6060"), its /debug/pprof/ page, or the goroutine profile's URL
// (of a handler mounted elsewhere, too); query parameters are kept.
func NewHTTPSource(raw string, o HTTPOptions) (*HTTPSource, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("leaksentinel: URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("leaksentinel: URL %q: scheme %q is not http or https", raw, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("leaksentinel: URL %q has no host", raw)
	}
	dir := strings.TrimSuffix(u.Path, "/")
	switch path.Base(dir) {
	case "goroutine", "goroutineleak":
		dir = path.Dir(dir)
	case "pprof":
	default:
		dir += "/debug/pprof"
	}
	at := func(name string, debug int) string {
		v := *u
		v.Path = dir + "/" + name
		v.RawPath = ""
		q := v.Query()
		q.Del("debug")
		if debug != 0 {
			q.Set("debug", fmt.Sprint(debug))
		}
		v.RawQuery = q.Encode()
		return v.String()
	}
	h := &HTTPSource{
		goroutine: at("goroutine", 0),
		dump:      at("goroutine", 2),
		leak:      at("goroutineleak", 0),
		debug2:    o.Debug2,
		client:    o.Client,
		timeout:   o.Timeout,
	}
	if h.debug2 {
		h.goroutine = h.dump
	}
	if h.client == nil {
		h.client = &http.Client{}
	}
	if h.timeout == 0 {
		h.timeout = 10 * time.Second
	}
	return h, nil
}

// String returns the URL the captures come from.
func (h *HTTPSource) String() string { return h.goroutine }

// Capture fetches and parses the goroutine profile, or ?debug=2 text.
func (h *HTTPSource) Capture(ctx context.Context) (*Snapshot, error) {
	body, err := h.get(ctx, h.goroutine)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return nil, fmt.Errorf("%w (does the service import net/http/pprof, and serve it at this path?)", err)
	}
	if err != nil {
		return nil, err
	}
	h.last, h.lastTop = body, 0
	if isProfile(body) {
		snap, err := ParseProfile(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("GET %s: %s", h.goroutine, strings.TrimPrefix(err.Error(), "leaksentinel: "))
		}
		return snap, nil
	}
	// Text: ?debug=2, or a handler that serves a dump where the profile
	// was expected.
	snap, err := parseDump(bytes.NewReader(body), func(_ *stack.Table, g *stack.Goroutine) {
		h.lastTop = max(h.lastTop, g.ID)
	})
	if snap == nil {
		return nil, fmt.Errorf("GET %s: %s", h.goroutine, strings.TrimPrefix(err.Error(), "leaksentinel: "))
	}
	snap.Time = time.Now()
	if err != nil {
		// pprof's ?debug=2 stops at 64 MiB: the counts are partial,
		// but the largest sites are still there.
		err = fmt.Errorf("GET %s: %w (pprof cuts ?debug=2 at 64 MiB; the protobuf profile, without Debug2, is complete)", h.goroutine, err)
	}
	return snap, err
}

// Dump returns ?debug=2 text: the last capture's with Debug2, else fetched.
func (h *HTTPSource) Dump(ctx context.Context) ([]byte, error) {
	if h.lastTop > 0 {
		return h.last, nil
	}
	return h.get(ctx, h.dump)
}

// Clock returns the highest goroutine id of the last capture with Debug2;
// 0 otherwise (the sentinel then reads one from a dump now and then).
func (h *HTTPSource) Clock(context.Context) (int64, error) { return h.lastTop, nil }

// Profile returns the last capture, if it was the goroutine profile.
func (h *HTTPSource) Profile(context.Context) ([]byte, error) {
	if !isProfile(h.last) {
		return nil, unsupported("the samples are text, not a pprof profile")
	}
	return h.last, nil
}

// Prove fetches the service's goroutineleak profile.
func (h *HTTPSource) Prove(ctx context.Context) (*Snapshot, error) {
	if h.noLeak {
		return nil, unsupported("the service does not serve the goroutineleak profile")
	}
	body, err := h.get(ctx, h.leak)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		h.noLeak = true
		return nil, unsupported("the service does not serve the goroutineleak profile (Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile)")
	}
	if err != nil {
		return nil, err
	}
	snap, err := ParseProfile(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %s", h.leak, strings.TrimPrefix(err.Error(), "leaksentinel: "))
	}
	return snap, nil
}

// get fetches u within the timeout and returns its body, at most maxBody.
func (h *HTTPSource) get(parent context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, h.timeout)
	defer cancel()
	timedOut := func() bool { return ctx.Err() != nil && parent.Err() == nil }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "leaksentinel")
	resp, err := h.client.Do(req)
	if err != nil {
		if timedOut() {
			return nil, fmt.Errorf("GET %s: no answer within %v (timeout)", u, h.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // dial tcp 127.0.0.1:1: connect: connection refused
		}
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, status: resp.Status, code: resp.StatusCode, body: snippet(resp.Body)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil && timedOut():
		// The transport closes the connection when the deadline
		// passes, so the read fails with "use of closed network
		// connection": the timeout is what happened.
		return nil, fmt.Errorf("GET %s: no complete answer within %v (timeout), after %d bytes", u, h.timeout, len(body))
	case err != nil:
		return nil, fmt.Errorf("GET %s: read: after %d bytes: %w", u, len(body), err)
	case len(body) > maxBody:
		return nil, fmt.Errorf("GET %s: the answer is over %d MiB", u, maxBody>>20)
	}
	return body, nil
}

// statusError is a non-200 answer.
type statusError struct {
	url, status, body string
	code              int
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("GET %s: %s", e.url, e.status)
	if e.body != "" {
		s += ": " + e.body
	}
	return s
}

// snippet returns the first line of an error page, short.
func snippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 256))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(line) > 120 {
		line = line[:120] + "..."
	}
	return line
}
