package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// batchRow is one mode's figures from hack/batchbench (bench.sh part
// batch).
type batchRow struct {
	Kind        string             `json:"kind"`
	Mode        string             `json:"mode"`
	Date        string             `json:"date"`
	Nodes       int                `json:"nodes"`
	PerNode     float64            `json:"tasks_per_s_per_node"`
	SeedNodes   int                `json:"seed_nodes"`
	SeedRate    float64            `json:"seed_tasks_per_s"`
	LogBytes    int                `json:"log_bytes"`
	Interval    string             `json:"batch_interval"`
	MaxBytes    int64              `json:"batch_max_bytes"`
	Standalone  int64              `json:"batch_standalone_over"`
	WarmupS     float64            `json:"warmup_s"`
	WindowS     float64            `json:"window_s"`
	LoadFrom    float64            `json:"loadavg_start"`
	LoadTo      float64            `json:"loadavg_end"`
	Tasks       int                `json:"tasks"` // shipped in the window
	Finished    int                `json:"tasks_finished"`
	Rate        float64            `json:"tasks_per_s"`
	Backlog     int                `json:"backlog_end"`
	MaxLagMs    float64            `json:"max_write_lag_ms"`
	Handoffs    int                `json:"handoff_failures"`
	BenchCPU    float64            `json:"bench_cpu_s"`
	LogdCPU     float64            `json:"logd_cpu_s"`
	MinioCPU    float64            `json:"minio_cpu_s"`
	MinIO       map[string]float64 `json:"minio_requests"`
	Bench       map[string]float64 `json:"bench_requests"`
	Daemons     map[string]float64 `json:"logd_requests"`
	Rollups     map[string]float64 `json:"rollups_in_window"`
	MinIOPer    map[string]float64 `json:"minio_per_task"`
	MinIOTotal  float64            `json:"minio_requests_per_task"`
	LogdTotal   float64            `json:"logd_requests_per_task"`
	UsdPerDay   float64            `json:"usd_per_day"`
	SeedPer     map[string]float64 `json:"seed_per_task"`
	SeedTotal   float64            `json:"seed_requests_per_task"`
	SeedUsd     float64            `json:"seed_usd_per_day"`
	StoredPer   float64            `json:"stored_bytes_per_task"`
	IndexBytes  float64            `json:"index_bytes"`
	TasksTotal  int                `json:"tasks_total"`
	StorageUsd  float64            `json:"storage_usd_per_day"`
	Batches     float64            `json:"batches_stored"`
	Cycles      float64            `json:"compactor_cycles"`
	Findable    []float64          `json:"findable_ms"`
	FindMissing int                `json:"findable_missing"`
	FindP50     float64            `json:"findable_p50_ms"`
	FindP99     float64            `json:"findable_p99_ms"`
	FindMax     float64            `json:"findable_max_ms"`
	Shape       *batchShape        `json:"index_shape"`
	LookupGz    map[string]float64 `json:"seed_lookup_index_bytes"`
	LookupRaw   map[string]float64 `json:"seed_lookup_index_raw_bytes"`
	Lookup      *batchLookup       `json:"lookup"`
	Shipper     *batchLookup       `json:"lookup_shipper"`
}

type batchShape struct {
	Objects  int     `json:"objects"`
	GzBytes  float64 `json:"gzip_bytes"`
	RawBytes float64 `json:"raw_bytes"`
	BLines   float64 `json:"batch_lines"`
	BBytes   float64 `json:"batch_line_bytes"`
	HLines   float64 `json:"hash_lines"`
	HBytes   float64 `json:"hash_line_bytes"`
	Logs     float64 `json:"logs_per_batch"`
}

type batchLookup struct {
	N         int     `json:"n"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	TripsMax  int     `json:"round_trips_max"`
	TripsMean float64 `json:"round_trips_mean"`
	Requests  float64 `json:"requests_mean"`
	NotFound  int     `json:"not_found"`
	Wrong     int     `json:"wrong_log"`
}

// Targets of issue 14.
const (
	targetRequestsPerTask = 0.05
	targetFindableP99     = 30 * time.Second
	targetRoundTrips      = 3
)

// writeBatch reports batch mode's cost beside per-task upload's, from the
// same run: the last row of each mode.
func writeBatch(b *strings.Builder, path, indexPath, machine string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rows := map[string]*batchRow{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r batchRow
		if json.Unmarshal([]byte(line), &r) == nil && r.Kind == "batch-cost" {
			rows[r.Mode] = &r
		}
	}
	bt, tk := rows["batch"], rows["task"]
	if bt == nil || tk == nil {
		return
	}
	date := bt.Date
	if t, err := time.Parse(time.RFC3339, bt.Date); err == nil {
		date = t.Format("2006-01-02")
	}
	loads := []float64{bt.LoadFrom, bt.LoadTo, tk.LoadFrom, tk.LoadTo}
	sort.Float64s(loads)

	b.WriteString("## Batch mode: what it costs\n\n")
	fmt.Fprintf(b, "`hack/batchbench` (`./hack/bench.sh batch`, part of `make bench`), measured on %s (%s), 1-minute load average %.1f–%.1f during the run. "+
		"It simulates the seed's load without containers: %d real `brisk-logd` processes stand for %d nodes, each with its own config, `spool_dir` (a tmpfs), `node_name`, unix socket and metrics address, against one MinIO on the same machine. "+
		"Each node is fed finished spool entries at its share of the seed's %.0f tasks/s over %d nodes, %.0f tasks/s (the seed's %d nodes scaled down to %d, what the 2 cores take beside MinIO: %.0f tasks/s in all): "+
		"every task a %.0f kB build log (compiler lines, varied per task; gzip 0.15×) written with `logs/spool` as a shim writes it (Open, Write, Finish, Release) and handed over on the daemon's socket (`POST /v1/handoff`); its exit is when Finish was called. "+
		"The two modes ran one after the other, each with daemons and a bucket of its own: `upload = \"batch\"` with the default `[logs.batch]` (interval %s, max_bytes %s, standalone_over %s), and `upload = \"task\"` (one object per run, `compression = \"gzip\"`, so that both store the same bytes). "+
		"Each ran %.0f s to warm up (the first batches, the compactor's lease), then requests were counted over a window of %.0f s, per task shipped in it.\n\n",
		date, machine, loads[0], loads[3], bt.Nodes, bt.Nodes, bt.SeedRate, bt.SeedNodes, bt.PerNode, bt.SeedNodes, bt.Nodes, bt.PerNode*float64(bt.Nodes),
		float64(bt.LogBytes)/1000, bt.Interval, size(bt.MaxBytes), size(bt.Standalone), bt.WarmupS, bt.WindowS)
	fmt.Fprintf(b, "Requests are counted twice: by MinIO (its metrics v3 per bucket, `minio_bucket_api_total`; this MinIO's v2 cluster metrics have no per-API counter, and v2's node and bucket counters lag by about 10 s), "+
		"less the bench's own requests (its exit → findable lookups, counted by the bench: %s in batch mode), and by the daemons themselves (`brisk_s3_requests_total{op,purpose}`, summed over the nodes). "+
		"Prices: S3 Standard list prices, PUT, COPY, POST and LIST $0.005 per 1,000 requests, GET and all others $0.0004 per 1,000 (DELETE free), storage $0.023 per GB-month; $/day at the seed's %.0f tasks/s (%.1f M tasks a day).\n\n",
		counts(bt.Bench), bt.SeedRate, bt.SeedRate*86400/1e6)

	ratio := func(a, b float64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f×", a/b)
	}
	b.WriteString("| | batch | per-task | per-task / batch |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(b, "| tasks shipped in the window (finished, at the rate achieved) | %d (%d, %.1f/s) | %d (%d, %.1f/s) | |\n", bt.Tasks, bt.Finished, bt.Rate, tk.Tasks, tk.Finished, tk.Rate)
	fmt.Fprintf(b, "| **S3 requests per task** (MinIO's count) | **%.4f** | **%.4f** | %s |\n", bt.MinIOTotal, tk.MinIOTotal, ratio(tk.MinIOTotal, bt.MinIOTotal))
	ops := map[string]bool{}
	for op := range bt.MinIOPer {
		ops[op] = true
	}
	for op := range tk.MinIOPer {
		ops[op] = true
	}
	for _, op := range sortedKeys(ops) {
		fmt.Fprintf(b, "| … %s | %.4f | %.4f | |\n", op, bt.MinIOPer[op], tk.MinIOPer[op])
	}
	fmt.Fprintf(b, "| S3 requests per task (the daemons' count) | %.4f | %.4f | %s |\n", bt.LogdTotal, tk.LogdTotal, ratio(tk.LogdTotal, bt.LogdTotal))
	fmt.Fprintf(b, "| $/day for requests at %.0f tasks/s, at this run's requests per task | $%.2f | $%.2f | %s |\n", bt.SeedRate, bt.UsdPerDay, tk.UsdPerDay, ratio(tk.UsdPerDay, bt.UsdPerDay))
	fmt.Fprintf(b, "| S3 requests per task at the seed's %d nodes (extrapolated, below) | %.4f | %.4f | %s |\n", bt.SeedNodes, bt.SeedTotal, tk.SeedTotal, ratio(tk.SeedTotal, bt.SeedTotal))
	fmt.Fprintf(b, "| $/day for requests at the seed (extrapolated) | $%.2f | $%.2f | %s |\n", bt.SeedUsd, tk.SeedUsd, ratio(tk.SeedUsd, bt.SeedUsd))
	fmt.Fprintf(b, "| bytes stored per task: logs, and the index | %.0f + %.0f | %.0f | |\n", bt.StoredPer, perTask(bt.IndexBytes, bt.TasksTotal), tk.StoredPer)
	fmt.Fprintf(b, "| $/day for storage (a day kept, the bucket's lifecycle rule) | $%.2f | $%.2f | |\n", bt.StorageUsd, tk.StorageUsd)
	fmt.Fprintf(b, "| brisk-logd CPU per task (all nodes; ms) | %.1f | %.1f | |\n", 1000*perTask(bt.LogdCPU, bt.Tasks), 1000*perTask(tk.LogdCPU, tk.Tasks))
	fmt.Fprintf(b, "| CPU over the window: brisk-logd (all nodes) / MinIO / the bench (s) | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | |\n", bt.LogdCPU, bt.MinioCPU, bt.BenchCPU, tk.LogdCPU, tk.MinioCPU, tk.BenchCPU)
	fmt.Fprintf(b, "| the load's lag behind its schedule, max (s); hand-offs not answered in 2 s (left to the daemon's look over the spool) | %.1f; %d | %.1f; %d | |\n", bt.MaxLagMs/1000, bt.Handoffs, tk.MaxLagMs/1000, tk.Handoffs)
	fmt.Fprintf(b, "| exit → findable by ID alone, p50 / p99 / max (s; %d and %d sampled tasks) | %.1f / **%.1f** / %.1f | %.2f / %.2f / %.2f | |\n",
		len(bt.Findable), len(tk.Findable), bt.FindP50/1000, bt.FindP99/1000, bt.FindMax/1000, tk.FindP50/1000, tk.FindP99/1000, tk.FindMax/1000)
	if l, s := bt.Lookup, tk.Shipper; l != nil && s != nil {
		fmt.Fprintf(b, "| lookup by ID, then the log read (%d IDs): sequential round trips, max | **%d** (`index.Find` + `batch.ReadLog`) | %d (a listing, a GET) | |\n", l.N, l.TripsMax, s.TripsMax)
		fmt.Fprintf(b, "| … S3 requests per lookup (GETs issued together count one round trip) | %.1f | %.1f | |\n", l.Requests, s.Requests)
		fmt.Fprintf(b, "| … latency p50 / p99 (ms) | %.1f / %.1f | %.1f / %.1f | |\n", l.P50, l.P99, s.P50, s.P99)
	}
	if s := bt.Shipper; s != nil {
		fmt.Fprintf(b, "| lookup as `briskctl logs ID` and the node log API make it (`ship.Shipper.RecentRuns` + `ReadRun`): requests, p50 / p99 (ms) | %.1f, %.1f / %.1f | (the row above) | |\n", s.Requests, s.P50, s.P99)
	}
	b.WriteString("\n")

	if sh := bt.Shape; sh != nil && len(bt.LookupGz) > 0 && sh.BLines > 0 && sh.HLines > 0 && sh.RawBytes > 0 {
		fmt.Fprintf(b, "**What a lookup by ID reads at the seed, a day into the bucket's life.** This run's bucket is minutes old: its index, %.0f kB in all, is what the lookups above read. "+
			"A lookup reads one shard of each of 16 minute objects, 8 ten-minute and 25 hour objects (`logs/index`), and a shard holds a line per batch with an ID in it, the batch's whole key. "+
			"The %d minute objects this run stored hold a line of %.0f bytes per batch (\"b KEY\": the key carries every ID hash of the batch) and of %.0f bytes per ID hash, %.1f hashes per batch. "+
			"At the seed's %d nodes a minute indexes %.0f batches, so its periods are written dense (128 ten-minute shards, 1,024 hour shards), and a batch of %.0f random IDs has its line in %.0f%% of the ten-minute shards and %.0f%% of the hour shards: "+
			"from these line sizes, a lookup a day in parses %.0f MB of index (%.0f MB of it hour shards), and downloads %.0f MB at the minute objects' gzip ratio (%.2f).\n\n",
			bt.IndexBytes/1000, sh.Objects, sh.BBytes/sh.BLines, sh.HBytes/sh.HLines, sh.Logs,
			bt.SeedNodes, float64(bt.SeedNodes)*60/10, sh.Logs, 100*(1-pow(127.0/128, sh.Logs)), 100*(1-pow(1023.0/1024, sh.Logs)),
			sum(bt.LookupRaw)/1e6, bt.LookupRaw["1h"]/1e6, sum(bt.LookupGz)/1e6, sh.GzBytes/sh.RawBytes)
	}
	if m := benchMetrics(indexPath, "FindAtSeedScale"); len(m) > 0 {
		fmt.Fprintf(b, "Measured with the compactor itself (`BenchmarkFindAtSeedScale` in `logs/index`: an hour of the seed's 100 nodes, 36,000 batches of 30 logs, indexed on a test clock and rolled up, in-process against the test S3):\n\n")
		b.WriteString("| index object (gzip, as stored) | size | read by a lookup a day in |\n|---|---:|---:|\n")
		fmt.Fprintf(b, "| minute object | %.2f MB | 16 |\n| ten-minute shard (dense: of 128) | %.2f MB | 8 |\n| hour shard (dense: of 1,024) | %.2f MB | 25 |\n", m["MB/1m-object"], m["MB/10m-shard"], m["MB/1h-shard"])
		fmt.Fprintf(b, "| **a lookup by ID, a day in** | **%.0f MB** | |\n\n", m["MB-read/find-a-day-in"])
		fmt.Fprintf(b, "An hour in, a lookup reads %.1f MB and takes %.0f ms of this machine, in-process (no network). A day in it reads some %.1f× as much. (Before busy periods were written dense, in 8 and 64 shards, a batch's key stood in most shards: an hour shard was 2.9 MB and a lookup a day in read 89 MB.)\n\n",
			m["MB-read/find"], m["ns/op"]/1e6, m["MB-read/find-a-day-in"]/m["MB-read/find"])
	}

	// Batch mode's requests by purpose.
	w := bt.WindowS
	fmt.Fprintf(b, "**Batch mode's requests by purpose** (the daemons' counters over the window of %.0f s, %d tasks; MinIO's total beside them):\n\n", w, bt.Tasks)
	b.WriteString("| operation | purpose | requests | per second | per task |\n|---|---|---:|---:|---:|\n")
	for _, k := range sortedKeys(bt.Daemons) {
		op, purpose, _ := strings.Cut(k, " ")
		n := bt.Daemons[k]
		fmt.Fprintf(b, "| %s | %s | %.0f | %.3f | %.4f |\n", op, purpose, n, n/w, perTask(n, bt.Tasks))
	}
	fmt.Fprintf(b, "| all | (MinIO's count) | %.0f | %.3f | %.4f |\n\n", sum(bt.MinIO), sum(bt.MinIO)/w, bt.MinIOTotal)
	fmt.Fprintf(b, "Batches stored in the window: %.0f (%.1f logs each); compactor cycles: %.0f.", bt.Batches, perTask(float64(bt.Tasks), int(bt.Batches)), bt.Cycles)
	if len(bt.Rollups) > 0 {
		fmt.Fprintf(b, " A 10-minute roll-up fell in the window (%s, from the index objects' times).", counts(bt.Rollups))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(b, "**Fixed costs** do not grow with the tasks: the compactor holder's listing of new batches (one `ListObjectsV2` per 10 s cycle, a page per 1,000 batches in its 3-minute look-back: one page here, two at the seed's %d nodes), "+
		"its minute index object (one PUT per cycle that found batches), its lease renewals (a PUT every 15–20 s), and the other nodes' reads of the lease (only once it may have lapsed). "+
		"The holder's share is the same at any number of nodes, so it weighs %.0f times more per task in this %d-node simulation than at the seed; the other nodes' lease reads grow with the nodes. "+
		"The roll-ups rarely fall in a window of a few minutes and the hourly one never does; by design (`logs/index`) they cost, per hour, six 10-minute roll-ups (10 GETs of minute objects, 8 shard PUTs each) and one hourly (48 GETs of 10-minute shards, 64 shard PUTs), and a lease PUT after each: "+
		"108 GETs and 119 PUTs an hour, %.5f requests per task at %.0f tasks/s.\n\n",
		bt.SeedNodes, float64(bt.SeedNodes)/float64(bt.Nodes), bt.Nodes, (108.0+119)/(3600*bt.SeedRate), bt.SeedRate)
	b.WriteString("**At the seed's load, extrapolated** from the daemons' counts by what each part of batch mode grows with: the nodes' batch PUTs with the nodes (the same 3 tasks/s each), the lease reads with the nodes not holding it, the listing with its pages, the compactor's writes not at all; the roll-ups by design (above) in place of any in the window.\n\n")
	b.WriteString("| operation | per task at the seed |\n|---|---:|\n")
	for _, op := range sortedKeys(bt.SeedPer) {
		fmt.Fprintf(b, "| %s | %.5f |\n", op, bt.SeedPer[op])
	}
	fmt.Fprintf(b, "| all | **%.4f** ($%.2f/day) |\n\n", bt.SeedTotal, bt.SeedUsd)

	var met, missed []string
	verdict := func(what string, ok bool) string {
		if ok {
			met = append(met, what)
			return "met"
		}
		missed = append(missed, what)
		return "**not met**"
	}
	b.WriteString("| target (issue 14) | measured | |\n|---|---:|---|\n")
	fmt.Fprintf(b, "| ≤ %.2f S3 requests per task at the seed's load per node, in this simulation (MinIO's count) | %.4f | %s |\n", targetRequestsPerTask, bt.MinIOTotal, verdict("requests per task", bt.MinIOTotal <= targetRequestsPerTask))
	fmt.Fprintf(b, "| exit → findable by ID alone ≤ %.0f s, p99 | %.1f s | %s |\n", targetFindableP99.Seconds(), bt.FindP99/1000, verdict("exit → findable", bt.FindMissing == 0 && bt.FindP99 <= float64(targetFindableP99.Milliseconds())))
	if l := bt.Lookup; l != nil {
		fmt.Fprintf(b, "| lookup by ID alone in ≤ %d round trips | %d | %s |\n", targetRoundTrips, l.TripsMax, verdict("lookup round trips", l.TripsMax <= targetRoundTrips && l.NotFound == 0 && l.Wrong == 0))
	}
	fmt.Fprintf(b, "\nTargets met: %d of %d", len(met), len(met)+len(missed))
	if len(missed) > 0 {
		fmt.Fprintf(b, "; not met: %s", strings.Join(missed, "; "))
	}
	b.WriteString(".\n\nRaw figures: docs/bench-raw/batch/ (batchbench.jsonl: every sample; index-seed-scale.txt: the benchmark's line).\n\n")
}

func pow(x, y float64) float64 { return math.Pow(x, y) }

// benchMetrics reads the metrics of Benchmark<name> from go test -bench
// output: unit → value ("ns/op", "MB/1h-shard"); nil when absent.
func benchMetrics(path, name string) map[string]float64 {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark"+name) {
			continue
		}
		out := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			var v float64
			if _, err := fmt.Sscan(f[i], &v); err == nil {
				out[f[i+1]] = v
			}
		}
		return out
	}
	return nil
}

func perTask(n float64, tasks int) float64 {
	if tasks == 0 {
		return 0
	}
	return n / float64(tasks)
}

func sum(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// counts is "GetObject 8, PutObject 3".
func counts(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// size is bytes as config writes them: 16Mi, 4Mi.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMi", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKi", n>>10)
	}
	return fmt.Sprint(n)
}
