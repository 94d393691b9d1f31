package scenario

import "sync"

// Clock turns the workload's ticks into waits any goroutine can park on:
// a request that waits "2 ticks" for its backend receives from After(2).
// The workload advances it once per tick it reads; a wait never ends
// between ticks, so a scenario means the same at any -tick, and waits left
// pending when the run ends simply stay parked.
//
// A Clock is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now int
	due map[int]chan struct{}
}

// NewClock returns a Clock at tick 0.
func NewClock() *Clock {
	return &Clock{due: make(map[int]chan struct{})}
}

// Advance moves the clock to tick i and releases the waits due by then.
func (c *Clock) Advance(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ch := range c.due {
		if t <= i {
			close(ch)
			delete(c.due, t)
		}
	}
	c.now = max(c.now, i)
}

// Now returns the last tick the clock was advanced to.
func (c *Clock) Now() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel closed n ticks from now: at the n-th call of
// Advance from here. Waits that end on the same tick share one channel.
// For n <= 0 the channel is already closed.
func (c *Clock) After(n int) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	t := c.now + n
	ch, ok := c.due[t]
	if !ok {
		ch = make(chan struct{})
		c.due[t] = ch
	}
	return ch
}
