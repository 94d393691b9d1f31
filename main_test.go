package leaksentinel

import (
	"testing"

	"go.uber.org/goleak"
)

// A leak detector must not leak.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
