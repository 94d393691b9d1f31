package otelmetric

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/leaksentinel/leaksentinel"
)

// receiver is an OTLP/HTTP receiver: it decodes the protobuf requests the
// exporters post and keeps them.
type receiver struct {
	mu      sync.Mutex
	metrics []*colmetricspb.ExportMetricsServiceRequest
	logs    []*collogspb.ExportLogsServiceRequest
	errs    []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req, resp proto.Message
	switch r.URL.Path {
	case "/v1/metrics":
		req, resp = &colmetricspb.ExportMetricsServiceRequest{}, &colmetricspb.ExportMetricsServiceResponse{}
	case "/v1/logs":
		req, resp = &collogspb.ExportLogsServiceRequest{}, &collogspb.ExportLogsServiceResponse{}
	default:
		http.NotFound(w, r)
		return
	}
	err := rc.decode(r, req)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.errs = append(rc.errs, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch req := req.(type) {
	case *colmetricspb.ExportMetricsServiceRequest:
		rc.metrics = append(rc.metrics, req)
	case *collogspb.ExportLogsServiceRequest:
		rc.logs = append(rc.logs, req)
	}
	body, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(body)
}

func (rc *receiver) decode(r *http.Request, m proto.Message) error {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return err
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	return proto.Unmarshal(data, m)
}

// leakHere leaks a goroutine until release is closed.
func leakHere(release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release
	}()
}

// TestOTLP runs the pipeline an operator runs: a sentinel watching a real
// leak in this process, its metrics through the OTLP/HTTP exporter and its
// alert through slog's OpenTelemetry bridge and the OTLP/HTTP log
// exporter, into a receiver on 127.0.0.1 that decodes what arrives.
func TestOTLP(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ctx := context.Background()

	res := resource.NewSchemaless(semconv.ServiceName("checkout"))
	mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(srv.URL+"/v1/metrics"),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
	require.NoError(t, err)
	// The reader exports when flushed; its own period never comes.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))))
	defer func() { require.NoError(t, mp.Shutdown(ctx)) }()
	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"))
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp)))
	defer func() { require.NoError(t, lp.Shutdown(ctx)) }()

	release := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	alerted := make(chan leaksentinel.Leak, 1)
	s, err := leaksentinel.Start(leaksentinel.Options{
		Interval:  2 * time.Millisecond,
		Logger:    slog.New(otelslog.NewHandler("leaksentinel", otelslog.WithLoggerProvider(lp))),
		NoConfirm: true,
		OnLeak: func(l leaksentinel.Leak) {
			select {
			case alerted <- l:
			default:
			}
		},
	})
	require.NoError(t, err)
	defer s.Stop()
	reg, err := Register(s, mp, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, reg.Unregister()) }()

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				leakHere(release, &wg)
			}
		}
	}()
	var leak leaksentinel.Leak
	select {
	case leak = <-alerted:
	case <-time.After(20 * time.Second):
		t.Fatal("no alert")
	}
	close(stop)
	<-done
	const leaking = "github.com/leaksentinel/leaksentinel/otelmetric.leakHere.func1"
	require.Equal(t, leaking, leak.Function)
	require.NoError(t, mp.ForceFlush(ctx))
	require.NoError(t, lp.ForceFlush(ctx))

	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Empty(t, rc.errs)
	require.NotEmpty(t, rc.metrics, "no metrics arrived")
	require.NotEmpty(t, rc.logs, "no logs arrived")

	// Metrics: the newest export's, by name.
	last := rc.metrics[len(rc.metrics)-1]
	require.Len(t, last.ResourceMetrics, 1)
	rm := last.ResourceMetrics[0]
	assert.Equal(t, "checkout", attrs(rm.Resource.Attributes)["service.name"].GetStringValue())
	byName := make(map[string]*metricspb.Metric)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			byName[m.Name] = m
		}
	}
	for _, name := range []string{"leaksentinel.goroutines", "leaksentinel.site.goroutines", "leaksentinel.leak.goroutines", "leaksentinel.leaks",
		"leaksentinel.leaking_sites", "leaksentinel.captures", "leaksentinel.sample.duration", "leaksentinel.alerts.dropped",
		"leaksentinel.heap.live", "leaksentinel.stack", "leaksentinel.heap.alerts", "leaksentinel.turned_over"} {
		assert.Contains(t, byName, name)
	}
	require.Contains(t, byName, "leaksentinel.leaks")
	leaks := byName["leaksentinel.leaks"].GetSum()
	require.NotNil(t, leaks, "leaks is a sum")
	assert.True(t, leaks.IsMonotonic)
	assert.Equal(t, metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, leaks.AggregationTemporality)
	assert.Equal(t, int64(1), leaks.DataPoints[0].GetAsInt())
	assert.Equal(t, "s", byName["leaksentinel.sample.duration"].Unit)
	assert.Positive(t, byName["leaksentinel.sample.duration"].GetSum().DataPoints[0].GetAsDouble())

	require.Contains(t, byName, "leaksentinel.site.goroutines")
	var found bool
	for _, dp := range byName["leaksentinel.site.goroutines"].GetGauge().DataPoints {
		a := attrs(dp.Attributes)
		if a["code.function.name"].GetStringValue() != leaking || a["leaksentinel.state"].GetStringValue() != "chan receive" {
			continue
		}
		found = true
		assert.Equal(t, leak.File, a["code.file.path"].GetStringValue())
		assert.True(t, strings.HasSuffix(leak.File, "/otelmetric/otlp_test.go"), leak.File)
		assert.Equal(t, int64(leak.Line), a["code.line.number"].GetIntValue(), "an integer attribute")
		assert.GreaterOrEqual(t, dp.GetAsInt(), int64(leaksentinel.DefaultMinGrowth))
	}
	assert.True(t, found, "a series of the leaking site")
	var leakSeries bool
	for _, dp := range byName["leaksentinel.leak.goroutines"].GetGauge().GetDataPoints() {
		a := attrs(dp.Attributes)
		if a["code.function.name"].GetStringValue() == leaking {
			leakSeries = true
			assert.Equal(t, "github.com/leaksentinel/leaksentinel/otelmetric.leakHere", a["leaksentinel.created_by"].GetStringValue())
		}
	}
	assert.True(t, leakSeries, "the leak's own series")

	// Logs: the alert, as slog wrote it, with its fields.
	var alert *logspb.LogRecord
	for _, req := range rc.logs {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, r := range sl.LogRecords {
					if r.Body.GetStringValue() == "leaksentinel: goroutine leak" {
						alert = r
					}
				}
			}
		}
	}
	require.NotNil(t, alert, "the alert's log record")
	assert.Equal(t, logspb.SeverityNumber_SEVERITY_NUMBER_WARN, alert.SeverityNumber)
	a := attrs(alert.Attributes)
	assert.Contains(t, a["site"].GetStringValue(), leaking)
	assert.Equal(t, "chan receive", a["state"].GetStringValue())
	assert.Positive(t, a["count"].GetIntValue())
}

func attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	out := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = kv.Value
	}
	return out
}
