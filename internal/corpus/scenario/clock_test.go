package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestClock(t *testing.T) {
	c := NewClock()
	a, b := c.After(1), c.After(2)
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) is not ready")
	}
	c.Advance(1)
	assert.True(t, closed(a))
	assert.False(t, closed(b))
	c.Advance(2)
	assert.True(t, closed(b))
	assert.Equal(t, 2, c.Now())
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
