// Package browsertest drives the sentinel's HTML page (Sentinel.Handler) in
// a real headless Chromium. It is a module of its own so that the library's
// go.mod does not list chromedp and its protocol bindings; .ci/run runs it,
// after installing Debian's chromium package where it can. Without a
// Chromium binary the test skips.
package browsertest
