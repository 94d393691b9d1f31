package leaksentinel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPSourceEndpoints(t *testing.T) {
	tests := []struct {
		give            string
		debug2          bool
		goroutine, leak string
		dump            string
		wantErr         string
	}{
		{give: "localhost:6060", goroutine: "http://localhost:6060/debug/pprof/goroutine", leak: "http://localhost:6060/debug/pprof/goroutineleak", dump: "http://localhost:6060/debug/pprof/goroutine?debug=2"},
		{give: "http://h:1/debug/pprof/", goroutine: "http://h:1/debug/pprof/goroutine", leak: "http://h:1/debug/pprof/goroutineleak", dump: "http://h:1/debug/pprof/goroutine?debug=2"},
		{give: "https://h/debug/pprof/goroutine?debug=1&token=x", debug2: true, goroutine: "https://h/debug/pprof/goroutine?debug=2&token=x", leak: "https://h/debug/pprof/goroutineleak?token=x", dump: "https://h/debug/pprof/goroutine?debug=2&token=x"},
		{give: "http://h/admin/pprof/goroutine", goroutine: "http://h/admin/pprof/goroutine", leak: "http://h/admin/pprof/goroutineleak", dump: "http://h/admin/pprof/goroutine?debug=2"},
		{give: "http://h/svc", goroutine: "http://h/svc/debug/pprof/goroutine", leak: "http://h/svc/debug/pprof/goroutineleak", dump: "http://h/svc/debug/pprof/goroutine?debug=2"},
		{give: "ftp://h/", wantErr: `scheme "ftp"`},
		{give: "http:///x", wantErr: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := NewHTTPSource(tt.give, HTTPOptions{Debug2: tt.debug2})
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.goroutine, got.goroutine)
			assert.Equal(t, tt.dump, got.dump)
			assert.Equal(t, tt.leak, got.leak)
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		interval time.Duration
		n        int
		want     time.Duration
	}{
		{time.Second, 1, 2 * time.Second},
		{time.Second, 3, 8 * time.Second},
		{time.Second, 4, 16 * time.Second},
		{time.Second, 50, 16 * time.Second},
		{10 * time.Second, 5, 160 * time.Second},
		{10 * time.Second, 6, 160 * time.Second},
		{time.Minute, 10, 5 * time.Minute},
		{10 * time.Minute, 3, 10 * time.Minute},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, backoff(tt.interval, tt.n), "interval %v, failure %d", tt.interval, tt.n)
	}
}

// A body that stalls after the headers is reported as the timeout it hit,
// not as the closed connection the transport leaves behind.
func TestHTTPSourceStalledBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		pprof.Lookup("goroutine").WriteTo(w, 0)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	src, err := NewHTTPSource(srv.URL, HTTPOptions{Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	_, err = src.Capture(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no complete answer within 100ms (timeout)")
	assert.NotContains(t, err.Error(), "closed network connection")
}

// A service without the goroutineleak profile answers 404 once; the source
// says it is unsupported from then on without asking again.
func TestHTTPSourceNoProof(t *testing.T) {
	var asked int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/pprof/goroutineleak" {
			asked++
			http.NotFound(w, r)
			return
		}
		pprof.Lookup("goroutine").WriteTo(w, 0)
	}))
	defer srv.Close()
	src, err := NewHTTPSource(srv.URL, HTTPOptions{})
	require.NoError(t, err)
	for range 3 {
		_, err := src.Prove(context.Background())
		assert.ErrorIs(t, err, errors.ErrUnsupported)
		assert.ErrorContains(t, err, "does not serve the goroutineleak profile")
	}
	assert.Equal(t, 1, asked)
	snap, err := src.Capture(context.Background())
	require.NoError(t, err)
	assert.Positive(t, snap.Total)
}
