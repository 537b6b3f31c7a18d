package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-containers/brisk/hack/internal/procstat"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// result is one mode's figures: one JSON line.
type result struct {
	Kind        string  `json:"kind"` // "batch-cost"
	Mode        string  `json:"mode"`
	Date        string  `json:"date"`
	Nodes       int     `json:"nodes"`
	PerNode     float64 `json:"tasks_per_s_per_node"`
	SeedNodes   int     `json:"seed_nodes"`
	SeedRate    float64 `json:"seed_tasks_per_s"`
	LogBytes    int     `json:"log_bytes"`
	Handoff     bool    `json:"handoff"`
	Interval    string  `json:"batch_interval"`
	MaxBytes    int64   `json:"batch_max_bytes"`
	Standalone  int64   `json:"batch_standalone_over"`
	WarmupS     float64 `json:"warmup_s"`
	WindowS     float64 `json:"window_s"`
	LoadavgFrom float64 `json:"loadavg_start"`
	LoadavgTo   float64 `json:"loadavg_end"`

	// The window. Requests are per task shipped in it: with a backlog
	// that grows or shrinks, the tasks finished are not those shipped.
	Tasks       int     `json:"tasks"`          // shipped in the window
	Finished    int     `json:"tasks_finished"` // finished (written) in the window
	Rate        float64 `json:"tasks_per_s"`    // finished, achieved
	MaxLagMs    float64 `json:"max_write_lag_ms"`
	WriteErrors int     `json:"write_errors"`     // tasks not written
	Handoffs    int     `json:"handoff_failures"` // hand-offs that failed (left to the daemon's look over the spool)
	BenchCPUs   float64 `json:"bench_cpu_s"`      // this process (writing the logs, the exit → findable lookups), in the window
	Backlog     int     `json:"backlog_end"`      // entries in the spools at the window's end
	TasksTotal  int     `json:"tasks_total"`      // over the whole run
	LogdCPUs    float64 `json:"logd_cpu_s"`       // all daemons, in the window
	MinioCPUs   float64 `json:"minio_cpu_s"`      // in the window
	Leader      string  `json:"leader"`           // the compactor's node at the window's end
	LeaderMoved bool    `json:"leader_moved"`     // another node held it at the start

	// Requests in the window, by operation: MinIO's count for the
	// bucket, the bench's own (the exit → findable lookups) taken out;
	// the bench's own; the daemons', by "op purpose".
	MinIO      map[string]float64 `json:"minio_requests"`
	MinIORaw   map[string]float64 `json:"minio_requests_raw"`
	Bench      map[string]float64 `json:"bench_requests"`
	Daemons    map[string]float64 `json:"logd_requests"`
	RollupsWin map[string]float64 `json:"rollups_in_window"` // roll-up requests in the window, from the bucket's index objects

	MinIOPerTask    map[string]float64 `json:"minio_per_task"`
	MinIOTotal      float64            `json:"minio_requests_per_task"`
	DaemonsTotal    float64            `json:"logd_requests_per_task"`
	PurposePerTask  map[string]float64 `json:"logd_per_task_by_purpose"`
	UsdPerDay       float64            `json:"usd_per_day"` // MinIO's requests per task, at the seed's rate
	SeedPerTask     map[string]float64 `json:"seed_per_task"`
	SeedTotal       float64            `json:"seed_requests_per_task"`
	SeedUsdPerDay   float64            `json:"seed_usd_per_day"`
	StoredPerTask   float64            `json:"stored_bytes_per_task"` // logs (batches, large logs, or task objects)
	IndexBytes      int64              `json:"index_bytes"`
	StoredObjects   map[string]int     `json:"stored_objects"`
	StoredBytes     map[string]int64   `json:"stored_bytes"`
	StorageUsdDay   float64            `json:"storage_usd_per_day"`
	TasksStored     int                `json:"tasks_stored"` // tasks the run wrote, all shipped when counted
	IndexedBatches  float64            `json:"indexed_batches"`
	BatchesStored   float64            `json:"batches_stored"`
	CompactorCycles float64            `json:"compactor_cycles"`

	// The minute index objects as stored, and what a lookup would read
	// from the index at the seed's load a day into the bucket's life.
	IndexShape    *shapeResult       `json:"index_shape,omitempty"`
	SeedLookupGz  map[string]float64 `json:"seed_lookup_index_bytes,omitempty"`     // downloaded, by tier
	SeedLookupRaw map[string]float64 `json:"seed_lookup_index_raw_bytes,omitempty"` // parsed, by tier

	// Exit → findable by ID alone, ms.
	Findable        []float64 `json:"findable_ms"`
	FindableMissing int       `json:"findable_missing"`
	FindableErrors  int       `json:"findable_errors"`
	FindableP50     float64   `json:"findable_p50_ms"`
	FindableP99     float64   `json:"findable_p99_ms"`
	FindableMax     float64   `json:"findable_max_ms"`

	// Lookups by ID after the run.
	Lookup        *lookupResult `json:"lookup,omitempty"`         // index.Find + batch.ReadLog
	LookupShipper *lookupResult `json:"lookup_shipper,omitempty"` // ship.Shipper.RecentRuns + ReadRun

	Errors []string `json:"errors,omitempty"`
}

// shapeResult is what the minute index objects hold.
type shapeResult struct {
	Objects  int     `json:"objects"`
	GzBytes  int     `json:"gzip_bytes"`
	RawBytes int     `json:"raw_bytes"`
	BLines   int     `json:"batch_lines"`
	BBytes   int     `json:"batch_line_bytes"`
	HLines   int     `json:"hash_lines"`
	HBytes   int     `json:"hash_line_bytes"`
	Logs     float64 `json:"logs_per_batch"`
}

// snapshot is every counter of the run at one time.
type snapshot struct {
	at       time.Time
	tasks    int
	minio    map[string]float64
	bench    map[string]float64
	nodes    []map[string]float64 // brisk_s3_requests_total by "op purpose"
	leader   []float64
	indexed  float64
	shipped  float64
	batches  float64
	cycles   float64
	cpu      time.Duration
	minioCPU time.Duration
	benchCPU time.Duration
	backlog  int
}

func (b *bench) snap(ctx context.Context, bucket string, nodes []*node, reg *prometheus.Registry, l *load, f *findable) (snapshot, error) {
	// None of the bench's own requests in flight while MinIO's and its
	// own counters are read: MinIO counts a request once it answered it.
	f.busy.Lock()
	defer f.busy.Unlock()
	if err := sleep(ctx, 50*time.Millisecond); err != nil {
		return snapshot{}, err
	}
	s := snapshot{at: time.Now(), tasks: l.count()}
	var err error
	if s.minio, err = minioRequests(ctx, b.endpoint, bucket); err != nil {
		return s, fmt.Errorf("MinIO's counters: %w", err)
	}
	s.bench = ownRequests(reg)
	for _, n := range nodes {
		mfs, err := scrape(ctx, n.metrics)
		if err != nil {
			return s, fmt.Errorf("%s's metrics: %w", n.name, err)
		}
		s.nodes = append(s.nodes, byLabels(mfs, "brisk_s3_requests_total", nil, "op", "purpose"))
		s.leader = append(s.leader, byLabels(mfs, "brisk_logd_compactor_leader", nil)[""])
		s.indexed += byLabels(mfs, "brisk_logd_indexed_batches_total", nil)[""]
		s.shipped += byLabels(mfs, "brisk_logd_ships_total", func(l map[string]string) bool { return l["result"] == "shipped" })[""]
		s.batches += byLabels(mfs, "brisk_logd_batches_total", func(l map[string]string) bool { return l["result"] == "stored" })[""]
		s.cycles += byLabels(mfs, "brisk_logd_compactor_cycles_total", func(l map[string]string) bool { return l["result"] == "ok" })[""]
		s.cpu += procstat.CPU(n.cmd.Process.Pid)
		dirs, _ := spool.Pending(n.spool)
		s.backlog += len(dirs)
	}
	if b.minioPid > 0 {
		s.minioCPU = procstat.CPU(b.minioPid)
	}
	s.benchCPU = procstat.CPU(os.Getpid())
	return s, nil
}

// ownRequests are the bench's own S3 requests so far, by operation.
func ownRequests(reg *prometheus.Registry) map[string]float64 {
	mfs, _ := reg.Gather()
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byLabels(byName, "brisk_s3_requests_total", nil, "op")
}

// runMode runs one upload mode: its own daemons and bucket.
func (b *bench) runMode(ctx context.Context, mode string) (*result, error) {
	tag := mode + "-" + strconv.FormatInt(time.Now().Unix(), 36)
	bucket := "batchbench-" + tag
	dir := filepath.Join(b.dir, mode)
	defaults := config.DefaultLogs()
	r := &result{Kind: "batch-cost", Mode: mode, Date: time.Now().UTC().Format(time.RFC3339), Nodes: b.nodes, PerNode: b.perNode(),
		SeedNodes: b.seedNodes, SeedRate: b.seedRate, LogBytes: b.logBytes, Handoff: b.handoff,
		Interval: time.Duration(defaults.Batch.Interval).String(), MaxBytes: int64(defaults.Batch.MaxBytes), Standalone: int64(defaults.Batch.StandaloneOver),
		WarmupS: b.warmup.Seconds(), WindowS: b.window.Seconds(), LoadavgFrom: procstat.LoadAvg()}

	// The bench's own view of the bucket, counting its requests.
	logs := defaults
	logs.Upload = mode
	logs.SpoolDir = filepath.Join(dir, "reader-spool") // empty: lookups find stored runs only
	logs.S3.Bucket, logs.S3.Endpoint, logs.S3.PathStyle, logs.S3.Compression = bucket, b.endpoint, true, config.CompressionGzip
	if region := os.Getenv("AWS_REGION"); region != "" {
		logs.S3.Region = region
	}
	if err := os.MkdirAll(logs.SpoolDir, 0o700); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	counter := store.NewRequestCounter()
	reg.MustRegister(counter)
	st, err := store.ConnectS3(ctx, logs.S3, store.WithRequests(counter))
	if err != nil {
		return nil, err
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	shipper, err := ship.New(ctx, logs, ship.WithStore(st))
	if err != nil {
		return nil, err
	}

	var nodes []*node
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := 1; i <= b.nodes; i++ {
		n, err := startNode(ctx, b, dir, bucket, mode, i)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}

	f := newFindable(mode, st, logs, shipper, nodes)
	fctx, stopFind := context.WithCancel(ctx)
	defer stopFind()
	var finding sync.WaitGroup
	finding.Add(1)
	go func() { defer finding.Done(); f.run(fctx) }()

	var sampling atomic.Bool
	var sampled atomic.Int64
	l := &load{nodes: nodes, perNode: b.perNode(), size: b.logBytes, handoff: b.handoff, tag: tag}
	l.onFinish = func(t task, _ int) {
		if sampling.Load() && sampled.Add(1)%int64(b.findEvery) == 0 {
			f.add(t)
		}
	}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var loading sync.WaitGroup
	loading.Add(1)
	go func() { defer loading.Done(); l.run(lctx) }()

	if err := sleep(ctx, b.warmup); err != nil {
		return nil, err
	}
	s0, err := b.snap(ctx, bucket, nodes, reg, l, f)
	if err != nil {
		return nil, err
	}
	sampling.Store(true)
	if err := sleep(ctx, b.window); err != nil {
		return nil, err
	}
	s1, err := b.snap(ctx, bucket, nodes, reg, l, f)
	if err != nil {
		return nil, err
	}
	sampling.Store(false)
	r.LoadavgTo = procstat.LoadAvg()
	stopLoad()
	loading.Wait()
	for _, n := range nodes {
		if !n.alive() {
			return r, fmt.Errorf("brisk-logd %s died during the run (its log: %s)", n.name, filepath.Join(n.dir, "logd.log"))
		}
	}

	// Everything shipped and indexed, and every sample found, or drain
	// passed.
	deadline := time.Now().Add(b.drain)
	for time.Now().Before(deadline) {
		backlog := 0
		for _, n := range nodes {
			dirs, _ := spool.Pending(n.spool)
			backlog += len(dirs)
		}
		if backlog == 0 && f.left() == 0 {
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	if mode == config.UploadBatch {
		// The last batches stored: a compactor cycle (10 s) more and
		// they are indexed.
		if err := sleep(ctx, 12*time.Second); err != nil {
			return nil, err
		}
	}
	stopFind()
	finding.Wait()

	b.fill(r, mode, s0, s1, nodes, l)
	lat, missing, ferrs, flast := f.result()
	r.Findable, r.FindableMissing, r.FindableErrors = lat, missing, ferrs
	r.FindableP50, r.FindableP99 = percentile(lat, 50), percentile(lat, 99)
	r.FindableMax = percentile(lat, 100)
	if flast != nil {
		r.Errors = append(r.Errors, "exit → findable: "+flast.Error())
	}

	tasks := l.tasks()
	r.TasksTotal = len(tasks)
	inWindow := make([]task, 0, len(tasks))
	for _, t := range tasks {
		if !t.exited.Before(s0.at) && t.exited.Before(s1.at) {
			inWindow = append(inWindow, t)
		}
	}
	sample := pick(inWindow, b.lookups)
	if mode == config.UploadBatch {
		if r.Lookup, err = lookupBatch(ctx, st, logs.S3.Prefix, sample); err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
	}
	if r.LookupShipper, err = lookupShipper(ctx, shipper, reg, mode, sample); err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	if err := b.stored(ctx, r, st, bucket, s0.at, s1.at); err != nil {
		r.Errors = append(r.Errors, "list the bucket: "+err.Error())
	}
	b.model(r, mode, s0, s1)

	if l.errors > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%d tasks not written, the last: %v", l.errors, l.lastErr))
	}
	if l.handoffs > 0 {
		fmt.Fprintf(os.Stderr, "batchbench: %s mode: %d hand-offs failed (their entries waited for the daemon's look over the spool), the last: %v\n", mode, l.handoffs, l.lastHand)
	}
	if missing > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%d sampled tasks never findable by ID within the drain", missing))
	}
	if len(r.Errors) > 0 {
		return r, fmt.Errorf("%s", strings.Join(r.Errors, "; "))
	}
	return r, nil
}

// fill sets the window's figures from its two snapshots.
func (b *bench) fill(r *result, mode string, s0, s1 snapshot, nodes []*node, l *load) {
	w := s1.at.Sub(s0.at)
	r.WindowS = w.Seconds()
	r.Finished = s1.tasks - s0.tasks
	r.Rate = float64(r.Finished) / w.Seconds()
	r.Tasks = int(s1.shipped - s0.shipped)
	l.mu.Lock()
	r.MaxLagMs, r.WriteErrors, r.Handoffs = ms(l.maxLag), l.errors, l.handoffs
	l.mu.Unlock()
	r.Backlog = s1.backlog
	r.LogdCPUs = (s1.cpu - s0.cpu).Seconds()
	r.MinioCPUs = (s1.minioCPU - s0.minioCPU).Seconds()
	r.BenchCPUs = (s1.benchCPU - s0.benchCPU).Seconds()
	r.MinIORaw = sub(s1.minio, s0.minio)
	r.Bench = sub(s1.bench, s0.bench)
	r.MinIO = sub(r.MinIORaw, r.Bench)
	r.Daemons = map[string]float64{}
	for i := range nodes {
		r.Daemons = add(r.Daemons, sub(s1.nodes[i], s0.nodes[i]))
		if s1.leader[i] == 1 {
			r.Leader = nodes[i].name
			r.LeaderMoved = s0.leader[i] != 1
		}
	}
	r.IndexedBatches = s1.indexed - s0.indexed
	r.BatchesStored = s1.batches - s0.batches
	r.CompactorCycles = s1.cycles - s0.cycles
	if r.Tasks == 0 {
		return
	}
	perTask := 1 / float64(r.Tasks)
	r.MinIOPerTask = scale(r.MinIO, perTask)
	r.MinIOTotal = total(r.MinIO) * perTask
	r.DaemonsTotal = total(r.Daemons) * perTask
	r.PurposePerTask = map[string]float64{}
	for k, v := range r.Daemons {
		_, purpose, _ := strings.Cut(k, " ")
		r.PurposePerTask[purpose] += v * perTask
	}
	r.UsdPerDay = dollarsPerDay(r.MinIOPerTask, b.seedRate)
}

// model extrapolates the window's requests to the seed's load.
func (b *bench) model(r *result, mode string, s0, s1 snapshot) {
	if r.Tasks == 0 {
		return
	}
	parts := requestsBy{perNode: map[string]float64{}, candidates: map[string]float64{}, listing: map[string]float64{}, compactor: map[string]float64{}}
	for k, v := range r.Daemons {
		op, purpose, _ := strings.Cut(k, " ")
		switch {
		case mode == config.UploadTask:
			parts.perNode[op] += v
		case purpose == store.PurposeLease && op == "GetObject":
			parts.candidates[op] += v
		case purpose == store.PurposeLease, purpose == store.PurposeIndex:
			parts.compactor[op] += v
		case purpose == store.PurposeList:
			parts.listing[op] += v
		default:
			parts.perNode[op] += v
		}
	}
	// Roll-ups that fell in the window are counted by design instead.
	parts.compactor = sub(parts.compactor, r.RollupsWin)
	m := seedModel{simNodes: r.Nodes, seedNodes: b.seedNodes, seedRate: b.seedRate, window: s1.at.Sub(s0.at),
		lag: b.lag, interval: time.Duration(config.DefaultBatch().Interval), compactor: mode == config.UploadBatch}
	r.SeedPerTask = m.perTask(parts)
	if sh := r.IndexShape; sh != nil && sh.BLines > 0 && sh.HLines > 0 && sh.RawBytes > 0 {
		r.SeedLookupGz, r.SeedLookupRaw = m.lookupBytes(indexShape{
			bLine: float64(sh.BBytes) / float64(sh.BLines),
			hLine: float64(sh.HBytes) / float64(sh.HLines),
			gzip:  float64(sh.GzBytes) / float64(sh.RawBytes),
		}, sh.Logs)
	}
	r.SeedTotal = total(r.SeedPerTask)
	r.SeedUsdPerDay = dollarsPerDay(r.SeedPerTask, b.seedRate)
}

// stored lists the bucket: what each kind of object holds, and the
// roll-ups the compactor wrote between from and to.
func (b *bench) stored(ctx context.Context, r *result, st *store.S3, bucket string, from, to time.Time) error {
	r.StoredObjects, r.StoredBytes = map[string]int{}, map[string]int64{}
	periods := map[string]bool{}
	puts := 0.0
	var minutes []string
	p := s3.NewListObjectsV2Paginator(st.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			kind, _, _ := strings.Cut(key, "/")
			switch kind {
			case "batch", "batch-large", "index":
			default:
				kind = "task"
			}
			r.StoredObjects[kind]++
			r.StoredBytes[kind] += aws.ToInt64(o.Size)
			// index/10m/PERIOD/SS and index/1h/PERIOD/SS written in the
			// window are roll-ups.
			parts := strings.Split(key, "/")
			if kind == "index" && len(parts) == 4 && parts[1] == "1m" {
				minutes = append(minutes, key)
			}
			if kind == "index" && len(parts) == 4 && (parts[1] == "10m" || parts[1] == "1h") {
				if t := aws.ToTime(o.LastModified); !t.Before(from) && t.Before(to) {
					puts++
					periods[parts[1]+"/"+parts[2]] = true
				}
			}
		}
	}
	gets := 0.0
	for p := range periods {
		if strings.HasPrefix(p, "10m/") {
			gets += 10
		} else {
			gets += 48
		}
	}
	r.RollupsWin = map[string]float64{}
	if puts > 0 {
		r.RollupsWin = map[string]float64{"GetObject": gets, "PutObject": puts}
	}
	if err := b.shape(ctx, r, st, minutes); err != nil {
		return err
	}
	r.TasksStored = r.TasksTotal
	logBytes := r.StoredBytes["batch"] + r.StoredBytes["batch-large"] + r.StoredBytes["task"]
	r.IndexBytes = r.StoredBytes["index"]
	if r.TasksTotal > 0 {
		r.StoredPerTask = float64(logBytes) / float64(r.TasksTotal)
		r.StorageUsdDay = storageDollarsPerDay(float64(logBytes+r.IndexBytes)/float64(r.TasksTotal), b.seedRate)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// shape reads the minute index objects and measures their lines.
func (b *bench) shape(ctx context.Context, r *result, st *store.S3, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	sh := &shapeResult{Objects: len(keys)}
	for _, k := range keys {
		o, err := st.Read(ctx, k)
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(o.Body))
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		sh.GzBytes += len(o.Body)
		sh.RawBytes += len(raw)
		for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
			switch {
			case bytes.HasPrefix(line, []byte("b ")):
				sh.BLines++
				sh.BBytes += len(line)
			case bytes.HasPrefix(line, []byte("h ")):
				sh.HLines++
				sh.HBytes += len(line)
			}
		}
	}
	if sh.BLines > 0 {
		sh.Logs = float64(sh.HLines) / float64(sh.BLines)
	}
	r.IndexShape = sh
	return nil
}
