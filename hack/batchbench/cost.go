package main

import (
	"math"
	"sort"
	"strings"
	"time"
)

// List prices of S3 Standard (us-east-1), per 1,000 requests: PUT, COPY,
// POST and LIST in one class, GET and every other request in the other;
// DELETE and the abort of a multipart upload are free.
const (
	pricePutPer1000 = 0.005
	priceGetPer1000 = 0.0004
	// priceGBMonth is S3 Standard storage, per GB-month.
	priceGBMonth = 0.023
)

// Price classes of S3 requests.
const (
	classPut  = "put"  // PUT, COPY, POST, LIST
	classGet  = "get"  // GET, HEAD and all others
	classFree = "free" // DELETE, abort
)

// classOf is the price class of an S3 operation, named as MinIO's
// counters name it (PutObject, ListObjectsV2, NewMultipartUpload,
// PutObjectPart) or as the SDK does (CreateMultipartUpload, UploadPart).
func classOf(op string) string {
	o := strings.ToLower(op)
	switch {
	case strings.HasPrefix(o, "delete"), strings.HasPrefix(o, "abort"):
		return classFree
	case strings.HasPrefix(o, "put"), strings.HasPrefix(o, "copy"), strings.HasPrefix(o, "post"),
		strings.HasPrefix(o, "list"), strings.HasPrefix(o, "create"), strings.HasPrefix(o, "new"),
		strings.HasPrefix(o, "upload"), strings.HasPrefix(o, "complete"):
		return classPut
	}
	return classGet
}

// perClass sums counts by operation into price classes.
func perClass(byOp map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for op, n := range byOp {
		out[classOf(op)] += n
	}
	return out
}

// total is the sum of counts, free requests included.
func total(byOp map[string]float64) float64 {
	t := 0.0
	for _, n := range byOp {
		t += n
	}
	return t
}

// scale is counts times f.
func scale(byOp map[string]float64, f float64) map[string]float64 {
	out := make(map[string]float64, len(byOp))
	for op, n := range byOp {
		out[op] = n * f
	}
	return out
}

// sub is a − b, per key, for counters read at the end (a) and start (b)
// of a window; keys absent from a count as zero.
func sub(a, b map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok && v != 0 {
			out[k] = -v
		}
	}
	return out
}

// add is a + b, per key.
func add(a, b map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(a)+len(b))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// dollarsPerDay is what requests per task cost a day at tasksPerSec, at
// list prices.
func dollarsPerDay(perTask map[string]float64, tasksPerSec float64) float64 {
	perDay := tasksPerSec * 86400
	c := perClass(perTask)
	return perDay * (c[classPut]*pricePutPer1000 + c[classGet]*priceGetPer1000) / 1000
}

// storageDollarsPerDay is what a day of logs of bytesPerTask costs to keep
// for a day (the bucket's lifecycle rule), at tasksPerSec.
func storageDollarsPerDay(bytesPerTask, tasksPerSec float64) float64 {
	gb := bytesPerTask * tasksPerSec * 86400 / 1e9
	return gb * priceGBMonth / (365.0 / 12)
}

// seedModel extrapolates the requests of a simulated run, by the part of
// batch mode that sends them, to the seed's load: seedNodes nodes at the
// same load per node as the simulated ones.
type seedModel struct {
	simNodes  int
	seedNodes int
	seedRate  float64 // tasks/s over all nodes
	window    time.Duration
	// lag is how far back the compactor lists batches every cycle, and
	// interval how often a node stores one: the listing's keys.
	lag, interval time.Duration
	// compactor: batch mode, whose compactor also rolls the index up.
	compactor bool
}

// requestsBy is a window's requests, by operation, of each part of batch
// mode, as the daemons counted them (brisk_s3_requests_total{op,purpose}).
type requestsBy struct {
	// perNode: each node's own, proportional to its tasks (purpose
	// batch).
	perNode map[string]float64
	// candidates: the reads of the lease by the nodes that do not hold
	// it (purpose lease, GetObject), simNodes−1 of them.
	candidates map[string]float64
	// listing: the compactor's listings of new batches (purpose list),
	// one page per 1,000 keys.
	listing map[string]float64
	// compactor: the rest of the compactor's (purpose index, and lease
	// writes), the same at any number of nodes; roll-ups excluded.
	compactor map[string]float64
}

// Roll-ups per hour, by design (logs/index): six 10-minute roll-ups, each
// reading the ten 1-minute objects and writing 8 shards, and one hourly,
// reading the six periods' 8 shards (48) and writing 64; each roll-up then
// renews the lease (a PUT).
func rollupsPerHour() map[string]float64 {
	return map[string]float64{"GetObject": 6*10 + 48, "PutObject": 6*8 + 64 + 7}
}

// listPages is how many pages a listing of keys keys takes.
func listPages(keys float64) float64 { return math.Max(1, math.Ceil(keys/1000)) }

// perSecond is the requests per second, by operation, batch mode would
// send at the seed's load.
func (m seedModel) perSecond(r requestsBy) map[string]float64 {
	w := m.window.Seconds()
	out := scale(r.perNode, float64(m.seedNodes)/float64(m.simNodes)/w)
	if m.simNodes > 1 {
		out = add(out, scale(r.candidates, float64(m.seedNodes-1)/float64(m.simNodes-1)/w))
	}
	out = add(out, scale(r.compactor, 1/w))
	if !m.compactor {
		return out
	}
	batchesListed := func(nodes int) float64 { return float64(nodes) * m.lag.Seconds() / m.interval.Seconds() }
	pages := listPages(batchesListed(m.seedNodes)) / listPages(batchesListed(m.simNodes))
	out = add(out, scale(r.listing, pages/w))
	return add(out, scale(rollupsPerHour(), 1.0/3600))
}

// perTask is perSecond over the seed's tasks per second.
func (m seedModel) perTask(r requestsBy) map[string]float64 {
	return scale(m.perSecond(r), 1/m.seedRate)
}

// percentile is the p-th percentile of v (nearest rank); 0 for none.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// indexShape is what the compactor's minute objects measured: the bytes,
// uncompressed, of a batch's line ("b KEY", the key holding every ID hash
// of the batch) and of an ID hash's ("h HASH N"), and the share of them
// gzip keeps (docs/batch-format.md).
type indexShape struct {
	bLine, hLine, gzip float64
}

// indexTier is a tier of logs/index as a reader sees it a day into a
// bucket's life: how many of its periods' objects it reads (one shard of
// each), each period's length and its shards (logs/index/tiers.go).
type indexTier struct {
	name    string
	period  time.Duration
	shards  int
	objects int
}

// readTiers: the minute objects of the last 16 minutes, the 10-minute
// shards of the last 80 (the current period not rolled up yet), the hour
// shards of the last 25 hours (the current hour not rolled up yet).
var readTiers = []indexTier{
	{"1m", time.Minute, 1, 16},
	{"10m", 10 * time.Minute, 8, 8},
	{"1h", time.Hour, 64, 25},
}

// lookupBytes estimates what one lookup by ID reads from the index at the
// seed's load once the bucket holds a day of logs, per tier, compressed
// (what it downloads) and not (what it parses). A shard of a period holds
// the hashes that fall in it, and the line of every batch with one of
// them: a batch of logsPerBatch random IDs is in nearly every shard.
func (m seedModel) lookupBytes(s indexShape, logsPerBatch float64) (gz, raw map[string]float64) {
	gz, raw = map[string]float64{}, map[string]float64{}
	for _, t := range readTiers {
		batches := float64(m.seedNodes) * t.period.Seconds() / m.interval.Seconds()
		n := float64(t.shards)
		refs := batches * (1 - math.Pow(1-1/n, logsPerBatch))
		hashes := batches * logsPerBatch / n
		one := refs*s.bLine + hashes*s.hLine
		raw[t.name] = one * float64(t.objects)
		gz[t.name] = raw[t.name] * s.gzip
	}
	return gz, raw
}
