package prom_test

import (
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/prom"
)

func ExampleNewCollector() {
	s, err := leaksentinel.Start(leaksentinel.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(s, prom.Options{TopSites: 20}))
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe("127.0.0.1:9090", nil))
}
