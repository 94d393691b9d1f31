package leaksentinel

import (
	"encoding/json"
	"expvar"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The value is what /debug/vars shows once published with expvar.Func.
func TestExpvar(t *testing.T) {
	s := leakyHandlerSentinel(t, newFake(), Options{})
	v := expvar.Func(s.Expvar)
	assert.JSONEq(t, `{
		"total": 35, "ticks": 22, "captures": 22, "leaks": 1, "leaking": 1,
		"alerts_dropped": 0, "sites_omitted": 0,
		"sites": [
			{"state": "chan send", "function": "main.handle.func1", "file": "/src/main.go", "line": 42, "count": 22, "leaking": true},
			{"state": "select", "function": "main.worker", "file": "/src/main.go", "line": 7, "count": 11, "leaking": false},
			{"state": "chan <b>send</b>", "function": "main.<script>alert(\"x\")</script>", "file": "/src/\"><img src=x>.go", "line": 1, "count": 2, "leaking": false}
		]
	}`, v.String())
}

func TestExpvarBoundsSites(t *testing.T) {
	f := newFake()
	for i := range expvarSites + 5 {
		f.set(Site{State: StateSelect, Function: "main.pool", File: "/src/pool.go", Line: i + 1}, 1+i)
	}
	s := leakyHandlerSentinel(t, f, Options{})
	var got struct {
		Omitted int `json:"sites_omitted"`
		Sites   []struct {
			Leaking bool `json:"leaking"`
		} `json:"sites"`
	}
	require.NoError(t, json.Unmarshal([]byte(expvar.Func(s.Expvar).String()), &got))
	assert.Len(t, got.Sites, expvarSites+1, "the leaking site and the 20 largest others")
	assert.True(t, got.Sites[0].Leaking)
	assert.Equal(t, 7, got.Omitted)
}
