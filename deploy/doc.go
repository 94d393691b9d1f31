// Package deploy holds no code: its directory ships the files an operator
// deploys beside a service watched by leaksentinel, and its tests check
// them against Prometheus's own parser, promtool and a real Prometheus
// server.
//
//	leaksentinel.rules.yml       alerting rules: a leak open for ten minutes, alerts dropped, the live heap growing
//	leaksentinel.rules.test.yml  their unit tests: promtool test rules leaksentinel.rules.test.yml
//	grafana-dashboard.json       a Grafana dashboard: sites by count with the leaking ones marked, leaks over time, sample cost
//	leaky/                       a leaking service serving the prom module's metrics, to try them on
//
// The rules and the dashboard read the metrics of the prom module
// (github.com/leaksentinel/leaksentinel/prom); the otelmetric module's,
// through OpenTelemetry's Prometheus exporter, have the same names but for
// the sample histogram and the site labels.
package deploy
