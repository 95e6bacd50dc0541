package httpxtest

import (
	"sync"
	"time"
)

// Clock is a settable clock safe for concurrent use; pass its Now where a
// client or simulator takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts the clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add advances the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
