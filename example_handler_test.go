package leaksentinel_test

import (
	"crypto/subtle"
	"expvar"
	"log"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/leaksentinel/leaksentinel"
)

// The page goes next to net/http/pprof, on a mux of its own, behind the
// service's own authentication: it shows function names, file paths and
// stacks.
func ExampleSentinel_Handler() {
	s, err := leaksentinel.Start(leaksentinel.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop()

	debug := http.NewServeMux()
	debug.HandleFunc("/debug/pprof/", pprof.Index)
	debug.Handle("/debug/leaksentinel", s.Handler()) // ?format=json for the same data as JSON
	log.Fatal(http.ListenAndServe("127.0.0.1:6060", operatorsOnly(debug)))
}

// operatorsOnly stands for the service's own authentication.
func operatorsOnly(h http.Handler) http.Handler {
	token := os.Getenv("DEBUG_TOKEN")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// The sentinel's state at /debug/vars, for services that only have expvar.
func ExampleSentinel_Expvar() {
	s, err := leaksentinel.Start(leaksentinel.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop()

	expvar.Publish("leaksentinel", expvar.Func(s.Expvar))
	// ... serve http.DefaultServeMux, or mount expvar.Handler() ...
}
