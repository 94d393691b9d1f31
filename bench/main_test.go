package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// The parked goroutines must all be released.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
