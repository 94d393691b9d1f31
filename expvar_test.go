package leaksentinel

import (
	"encoding/json"
	"expvar"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The value is what /debug/vars shows once published with expvar.Func:
// the handler's counters, and its sites in the one JSON shape, without
// their history.
func TestExpvar(t *testing.T) {
	s := leakyHandlerSentinel(t, newFake(), Options{})
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(expvar.Func(s.Expvar).String()), &got))
	w := request(t, s.Handler(), http.MethodGet, "/?format=json")
	var page map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))

	for _, k := range []string{"total", "ticks", "captures", "leaks", "leaking", "alerts_dropped", "sites_omitted", "failed"} {
		assert.Equal(t, page[k], got[k], k)
	}
	sites := page["sites"].([]any)
	for _, site := range sites {
		delete(site.(map[string]any), "history")
	}
	assert.Equal(t, sites, got["sites"])
	assert.Len(t, got["sites"], 3)
	assert.Equal(t, "main.handle.func1", got["sites"].([]any)[0].(map[string]any)["function"])
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
