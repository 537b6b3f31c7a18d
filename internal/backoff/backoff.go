// Package backoff is Brisk's one policy for spacing attempts that failed:
// the shim's upload of a task's log at exit and the node retrier's attempts
// at a pending entry wait the same way, with their own bounds. It imports
// nothing of Brisk, so that every layer may use it.
package backoff

import "time"

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
