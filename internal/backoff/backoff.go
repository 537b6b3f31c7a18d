// Package backoff is Brisk's one policy for spacing attempts: the node
// retrier's attempts at a pending entry, and the waits between looks (a
// follower's at the spool, the retrier's at its lease). It imports nothing
// of Brisk, so that every layer may use it.
package backoff

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends; false when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Policy waits Min after the first failed attempt and twice as long after
// each further one, never more than Max. There is no jitter: the retrier
// keeps each entry's schedule with the entry, and a shim's attempts are
// spread by its task's own exit time.
type Policy struct {
	Min, Max time.Duration
}

// Delay is the wait after the nth failed attempt, counting from 1:
// Min·2^(n-1), at most Max. A zero Min never waits.
func (p Policy) Delay(n int) time.Duration {
	d := p.Min
	for i := 1; i < n && d < p.Max; i++ {
		if d > p.Max/2 { // doubling would pass Max (or overflow)
			d = p.Max
			break
		}
		d *= 2
	}
	return min(d, p.Max)
}
