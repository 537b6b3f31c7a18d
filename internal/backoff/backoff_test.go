package backoff

import (
	"math"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		n    int
		want time.Duration
	}{
		{"first failure waits min", Policy{time.Second, time.Minute}, 1, time.Second},
		{"doubles", Policy{time.Second, time.Minute}, 4, 8 * time.Second},
		{"stops at max", Policy{time.Second, 10 * time.Second}, 5, 10 * time.Second},
		{"stays at max", Policy{time.Second, 10 * time.Second}, 1000, 10 * time.Second},
		{"the shim's upload", Policy{200 * time.Millisecond, 5 * time.Second}, 5, 3200 * time.Millisecond},
		{"the shim's upload at max", Policy{200 * time.Millisecond, 5 * time.Second}, 6, 5 * time.Second},
		{"zero min never waits", Policy{0, 0}, 3, 0},
		{"min above max waits max", Policy{time.Minute, time.Second}, 1, time.Second},
		{"no overflow near the largest duration", Policy{time.Hour, math.MaxInt64}, 100, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Delay(tc.n); got != tc.want {
				t.Errorf("%+v.Delay(%d) = %v, want %v", tc.p, tc.n, got, tc.want)
			}
		})
	}
}
