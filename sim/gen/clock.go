package gen

import (
	"sync"
	"time"
)

// VN is the portals' time zone (Asia/Ho_Chi_Minh, +07:00, no DST). A fixed zone
// avoids depending on tzdata being installed.
var VN = time.FixedZone("ICT", 7*3600)

// Clock is a simulator's clock: whole seconds in +07:00, never going backwards,
// so that "updated" times are monotonic even if the wall clock steps back.
type Clock struct {
	mu   sync.Mutex
	now  func() time.Time
	last time.Time
}

// NewClock returns a clock reading now (time.Now when nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns the current time truncated to the second, not before any time it
// returned earlier.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().In(VN).Truncate(time.Second)
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}

// Raw returns the underlying time without truncation or monotonic clamping, for
// expiry checks (tokens, sessions).
func (c *Clock) Raw() time.Time { return c.now() }

// NotBefore makes the clock never return a time before t (truncated to the
// second), as if it had already returned t. A restored simulator calls it with
// the latest time in its state, so that update times keep increasing across a
// restart even if the wall clock is behind.
func (c *Clock) NotBefore(t time.Time) {
	t = t.In(VN).Truncate(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.last) {
		c.last = t
	}
}
