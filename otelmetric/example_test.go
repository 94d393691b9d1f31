package otelmetric_test

import (
	"context"
	"log"
	"log/slog"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/leaksentinel/leaksentinel"
	"github.com/leaksentinel/leaksentinel/otelmetric"
)

// The sentinel's metrics go to an OpenTelemetry pipeline through the
// OTLP/HTTP exporter, and its alerts through slog's OpenTelemetry bridge:
// the alert is a log record at WARN whose attributes are the Leak's fields
// (site, state, count, created_by, ...), with no code of ours in between.
// The exporters read the standard OTEL_EXPORTER_OTLP_* variables (by
// default they send to a collector on localhost:4318).
func ExampleRegister() {
	ctx := context.Background()
	res := resource.NewSchemaless(semconv.ServiceName("checkout"))

	metricExporter, err := otlpmetrichttp.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	meterProvider := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExporter)))
	defer meterProvider.Shutdown(ctx)

	logExporter, err := otlploghttp.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	loggerProvider := sdklog.NewLoggerProvider(sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(logExporter)))
	defer loggerProvider.Shutdown(ctx)

	sentinel, err := leaksentinel.Start(leaksentinel.Options{
		Logger: slog.New(otelslog.NewHandler("leaksentinel", otelslog.WithLoggerProvider(loggerProvider))),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sentinel.Stop()

	reg, err := otelmetric.Register(sentinel, meterProvider, otelmetric.Options{TopSites: 20})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	// ... the service runs ...
}
