package leaksentinel_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/leaksentinel/leaksentinel"
)

// A test that defers VerifyNone fails if it leaves goroutines running.
func ExampleVerifyNone() {
	_ = func(t *testing.T) { // func TestHandler(t *testing.T)
		defer leaksentinel.VerifyNone(t)

		done := make(chan struct{})
		go func() { close(done) }()
		<-done
	}
}

// VerifyTestMain checks for leaks once all the tests of a package passed.
func ExampleVerifyTestMain() {
	_ = func(m *testing.M) { // func TestMain(m *testing.M)
		leaksentinel.VerifyTestMain(m,
			leaksentinel.IgnoreCreatedBy("go.opencensus.io/stats/view.init.0"),
		)
	}
}

// With RunOnFailure, VerifyTestMain reports what failed tests left running
// too, after their failures.
func ExampleRunOnFailure() {
	_ = func(m *testing.M) { // func TestMain(m *testing.M)
		leaksentinel.VerifyTestMain(m, leaksentinel.RunOnFailure())
	}
}

// VerifyTest checks only the goroutines the test started, so it works with
// t.Parallel.
func ExampleVerifyTest() {
	_ = func(t *testing.T) { // func TestHandler(t *testing.T)
		leaksentinel.VerifyTest(t)
		t.Parallel()

		results := make(chan int)
		go func() { results <- 42 }()
		<-results
	}
}

func ExampleFind() {
	// Ignore the goroutine that captures the example's output.
	ignore := leaksentinel.IgnoreCurrent()

	stop := make(chan struct{})
	for range 3 {
		go func() { <-stop }()
	}

	err := leaksentinel.Find(ignore)
	first, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Println(first)

	close(stop)
	// Output: leaksentinel: found 3 leaked goroutines at 1 site
}

// startPool stands for a library that keeps goroutines around.
func startPool(stop chan struct{}) {
	for range 4 {
		go func() { <-stop }()
	}
}

// IgnoreCreatedBy names the function whose go statement started the
// goroutines, as the "created by" line of a report does.
func ExampleIgnoreCreatedBy() {
	ignore := leaksentinel.IgnoreCurrent()

	stop := make(chan struct{})
	defer close(stop)
	startPool(stop)

	err := leaksentinel.Find(ignore, leaksentinel.IgnoreCreatedBy("github.com/leaksentinel/leaksentinel_test.startPool"))
	fmt.Println(err)
	// Output: <nil>
}
