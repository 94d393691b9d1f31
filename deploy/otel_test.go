package deploy

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/otelmetric"
)

// TestOpenTelemetryNames checks what the otelmetric package promises: sent
// through OpenTelemetry's Prometheus exporter, its metrics take the prom
// module's names, so the rules and the dashboard read them too (all but
// the sample histogram, which OpenTelemetry exports as a total and a
// count), and a site's attributes become code_function_name,
// code_file_path, code_line_number and leaksentinel_state.
func TestOpenTelemetryNames(t *testing.T) {
	runtime.GC() // the heap gauges need one garbage collection before the capture
	s, err := leaksentinel.Start(leaksentinel.Options{Interval: time.Millisecond, Logger: slog.New(slog.DiscardHandler), NoConfirm: true})
	require.NoError(t, err)
	defer s.Stop()
	for deadline := time.Now().Add(20 * time.Second); s.Snapshot() == nil; time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no capture")
	}

	reg := promclient.NewPedanticRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	r, err := otelmetric.Register(s, mp, otelmetric.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Unregister()) }()

	families, err := reg.Gather()
	require.NoError(t, err)
	got := make(map[string]bool)
	var siteLabels []string
	for _, mf := range families {
		got[mf.GetName()] = true
		if mf.GetName() == "leaksentinel_site_goroutines" {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				siteLabels = append(siteLabels, l.GetName())
			}
		}
	}
	for name := range exported(t) {
		if strings.HasPrefix(name, "leaksentinel_sample_duration_seconds") || name == "leaksentinel_leak_goroutines" {
			continue // a histogram; a series only while a site leaks
		}
		assert.True(t, got[name], "%s from OpenTelemetry; got %v", name, keys(got))
	}
	assert.True(t, got["leaksentinel_sample_duration_seconds_total"], "the sample cost's total")
	assert.True(t, got["leaksentinel_captures_total"], "and its count")
	assert.Subset(t, siteLabels, []string{"code_function_name", "code_file_path", "code_line_number", "leaksentinel_state"})
}
