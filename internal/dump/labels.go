package dump

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/leaksentinel/leaksentinel/internal/stack"
)

// parseLabels parses a set of pprof labels in any of the forms the runtime
// prints, appending them to dst:
//
//	{"handler":"/api", "tenant":"a"}   pprof debug=1
//	{"handler": "/api"}                Go 1.26 traceback header (tracebacklabels=1)
//	{handler: /api, "a b": "c"}        Go 1.27 traceback header, quoting only when needed
func parseLabels(t *stack.Table, dst []stack.Label, b []byte) ([]stack.Label, error) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return dst, fmt.Errorf("%q: want {key: value, ...}", clip(b))
	}
	rest := b[1 : len(b)-1]
	for len(rest) > 0 {
		key, r, err := labelToken(rest, ':')
		if err != nil {
			return dst, fmt.Errorf("%q: key: %w", clip(b), err)
		}
		if len(r) == 0 || r[0] != ':' {
			return dst, fmt.Errorf("%q: want ':' after key %q", clip(b), key)
		}
		r = bytes.TrimLeft(r[1:], " ")
		value, r, err := labelToken(r, ',')
		if err != nil {
			return dst, fmt.Errorf("%q: value of %q: %w", clip(b), key, err)
		}
		dst = append(dst, stack.Label{Key: t.ID(key), Value: t.ID(value)})
		if len(r) > 0 {
			if r[0] != ',' {
				return dst, fmt.Errorf("%q: want ',' after value %q", clip(b), value)
			}
			r = bytes.TrimLeft(r[1:], " ")
		}
		rest = r
	}
	return dst, nil
}

// labelToken reads a quoted string, or a bare word that ends at stop.
func labelToken(b []byte, stop byte) (tok string, rest []byte, err error) {
	if len(b) > 0 && b[0] == '"' {
		q, err := strconv.QuotedPrefix(string(b))
		if err != nil {
			return "", b, err
		}
		s, err := strconv.Unquote(q)
		if err != nil {
			return "", b, err
		}
		return s, b[len(q):], nil
	}
	i := bytes.IndexByte(b, stop)
	if i < 0 {
		i = len(b)
	}
	if i == 0 {
		return "", b, errors.New("empty")
	}
	return string(bytes.TrimRight(b[:i], " ")), b[i:], nil
}
