package main

import (
	"fmt"
	"os"
	"time"

	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/index"
)

// testHooks reads what end-to-end tests set in the environment to make
// this daemon's batch mode misbehave on purpose; none is for production,
// and none is set by the installer:
//
//	BRISK_TEST_CLOCK_OFFSET   a duration added to the clock of batch keys and of the compactor (nodes' clocks apart)
//	BRISK_TEST_LEASE_TTL      the compactor lease's time to live (takeovers in seconds, not a minute)
//	BRISK_TEST_COMPACT_CYCLE  how often the compactor indexes
func testHooks() ([]logd.ShippingOpt, error) {
	var b []batch.Opt
	var c []index.CompactorOpt
	dur := func(name string, set func(time.Duration)) error {
		v := os.Getenv(name)
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %v", name, v, err)
		}
		set(d)
		return nil
	}
	err := dur("BRISK_TEST_CLOCK_OFFSET", func(d time.Duration) {
		now := func() time.Time { return time.Now().Add(d) }
		b = append(b, batch.WithClock(now))
		c = append(c, index.WithClock(now))
	})
	if err == nil {
		err = dur("BRISK_TEST_LEASE_TTL", func(d time.Duration) { c = append(c, index.WithLeaseTTL(d), index.WithSkew(d/6)) })
	}
	if err == nil {
		err = dur("BRISK_TEST_COMPACT_CYCLE", func(d time.Duration) { c = append(c, index.WithCycle(d)) })
	}
	if err != nil || (b == nil && c == nil) {
		return nil, err
	}
	return []logd.ShippingOpt{logd.WithBatchOptions(b, c)}, nil
}
