// Package index finds a batched log by its task ID alone (logs.upload =
// "batch"). One brisk-logd per bucket, the compactor, elected by a lease
// object, lists the batches the nodes store and publishes which batch
// holds which ID hash in index objects, in three time tiers:
//
//	index/1m/YYYYMMDDTHHMM/00    every batch indexed in that minute, rewritten each cycle
//	index/10m/YYYYMMDDTHHM0/SS   the ten minutes' objects merged, 8 shards by hash
//	index/1h/YYYYMMDDTHH/SS      the hour's, 64 shards by hash
//
// A period that indexed many logs is written in many more shards
// (index/10m/.../dNNNN of 128, index/1h/.../dNNNN of 1024): a shard names
// the whole key of every batch with an ID in it, and a batch of 30 logs
// has one in most of 64 shards, so at the seed's load (300 tasks/s) an
// hour's 64 shards would be 3 MB each and a lookup a day in would read 89
// MB. Dense, a lookup reads about 7 MB there; sparse, a quiet bucket is
// not billed a thousand PUTs an hour. A reader fetches both forms of each
// period (the one not written answers 404); the compactor records which
// periods it wrote dense in its lease.
//
// A reader (Find) fetches, in parallel, the one shard of each object that
// can hold its ID over the last 25 hours, about 50 small objects; then the
// trailers of the batches they name; then the log: three round trips.
// The compactor reads no batch: a batch's key carries its IDs' hashes.
package index

import (
	"fmt"
	"time"
)

// tier is one level of the index.
type tier struct {
	name   string
	period time.Duration
	shards int
	// dense is the shard count of a period with more than denseOver
	// (ID hash, batch) entries; 0: never dense.
	dense, denseOver int
	// layout formats a period's start in its key.
	layout string
	// readBack: readers fetch this tier's objects of periods that start
	// within readBack of now.
	readBack time.Duration
	// settle: a period is rolled up into the next tier this long after
	// it ends, once the finer objects are final.
	settle time.Duration
}

// The tiers, finest first. A reader stops reading a tier's period about
// five minutes after the next tier should have taken it over.
var tiers = []tier{
	{name: "1m", period: time.Minute, shards: 1, layout: "20060102T1504", readBack: 16 * time.Minute},
	{name: "10m", period: 10 * time.Minute, shards: 8, dense: 128, denseOver: 16000, layout: "20060102T1504", readBack: 80 * time.Minute, settle: time.Minute},
	{name: "1h", period: time.Hour, shards: 64, dense: 1024, denseOver: 128000, layout: "20060102T15", readBack: 25 * time.Hour, settle: 2 * time.Minute},
}

// Retention is how far back the index is kept and read: the bucket's
// lifecycle rule expires logs after a day.
const Retention = 25 * time.Hour

// Dir is the index's place under logs.s3.prefix.
const Dir = "index/"

func (t tier) start(at time.Time) time.Time { return at.UTC().Truncate(t.period) }

// key is the key of shard of period among shards (t.shards, or t.dense).
func (t tier) key(prefix string, period time.Time, shards, shard int) string {
	if shards != t.shards {
		return fmt.Sprintf("%s%s%s/%s/d%04d", prefix, Dir, t.name, period.UTC().Format(t.layout), shard)
	}
	return fmt.Sprintf("%s%s%s/%s/%02d", prefix, Dir, t.name, period.UTC().Format(t.layout), shard)
}

// shardOf is the shard of an ID hash among n: its first characters, as a
// number.
func shardOf(hash string, n int) int {
	if n <= 1 {
		return 0
	}
	v := 0
	for i := 0; i < 4 && i < len(hash); i++ {
		v = v*32 + int(b32value(hash[i]))
	}
	return v % n
}

func b32value(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a'
	}
	if c >= '2' && c <= '7' {
		return c - '2' + 26
	}
	return 0
}

// readKeys are the index objects a reader of hash fetches at now.
func readKeys(prefix, hash string, now time.Time) []string {
	var keys []string
	for _, t := range tiers {
		for p := t.start(now); !p.Before(now.Add(-t.readBack)); p = p.Add(-t.period) {
			keys = append(keys, t.key(prefix, p, t.shards, shardOf(hash, t.shards)))
			if t.dense > 0 {
				keys = append(keys, t.key(prefix, p, t.dense, shardOf(hash, t.dense)))
			}
		}
	}
	return keys
}
