// Command shimbench measures a runtime shim through a real containerd, the
// way a client sees it: stdout throughput and the shim's CPU and memory,
// shim start and task start-to-exit latency, and, for bursts of short tasks
// on the brisk runtime, how long after exit each log is visible in S3, how
// many S3 requests a task costs and how many bytes it stores. hack/bench.sh
// runs it against io.containerd.runc.v2 and io.containerd.brisk.v2 in one
// run; it prints one JSON object per measurement.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// logScript writes a build log of about 300 KB: 3,400 compiler lines on
// stdout and a warning every 50 lines on stderr, compressible like real logs.
const logScript = `BEGIN{for(i=0;i<3400;i++){printf "%05d [worker-%d] cc -O2 -Wall -c src/pkg%d/file%d.c -o build/pkg%d/file%d.o (%d ms)\n", i, i%8, i%13, i, i%13, i, (i*7919)%1000; if(i%50==0) printf "%05d warning: unused variable tmp%d in src/pkg%d/file%d.c\n", i, i, i%13, i > "/dev/stderr"}}`

// writeScript is a build or test step's footprint on its rootfs: 1,000
// small files (an object file's name and a line each) and one 20 MB file,
// written without fsync, as compilers and test runners write, then the
// same log as logScript (passed as $0). It runs in busybox sh: every echo is
// a builtin, so the files cost system calls, not forks.
const writeScript = `mkdir -p /build/obj && cd /build/obj && i=0 && while [ $i -lt 1000 ]; do echo "object $i: cc -O2 -c src/file$i.c" > file$i.o; i=$((i+1)); done && head -c 20000000 /dev/zero > /build/app.tar && exec awk "$0"`

// taskArgs are the process args of a burst task of kind task.
func taskArgs(task string) ([]string, error) {
	switch task {
	case "print":
		return []string{"awk", logScript}, nil
	case "write":
		return []string{"sh", "-c", writeScript, logScript}, nil
	}
	return nil, fmt.Errorf("-task %q: want print or write", task)
}

// tags are the -tag key=value pairs copied into every result, so that a
// report can group bursts (noise, round) without parsing labels.
type tags map[string]string

func (t tags) String() string { return fmt.Sprint(map[string]string(t)) }

func (t tags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("-tag %q: want key=value", v)
	}
	t[k] = val
	return nil
}

type bench struct {
	client      *containerd.Client
	image       containerd.Image
	runtime     string
	snapshotter string
	fifoDir     string
	label       string
	namespace   string
	// afterCreate, when set, is called with a task's ID once its shim
	// created it, before it starts (mode follow attaches followers then).
	afterCreate func(id string)
	// watchShims follows each task's shim in /proc every 5 ms for its CPU
	// and peak RSS. A burst reads neither, and 50 such pollers would be
	// load the benchmark adds to the machine it measures.
	watchShims bool
}

type result map[string]any

func main() {
	var (
		address     = flag.String("address", "", "containerd socket")
		namespace   = flag.String("namespace", "brisk-bench", "containerd namespace")
		imageName   = flag.String("image", "docker.io/local/busybox:latest", "image with busybox")
		runtime     = flag.String("runtime", "io.containerd.runc.v2", "runtime under test")
		snapshotter = flag.String("snapshotter", "overlayfs", "snapshotter for every task")
		fifoDir     = flag.String("fifo-dir", "", "where client FIFOs are created")
		label       = flag.String("label", "", "label of this runtime in the report")
		mode        = flag.String("mode", "", "throughput | start | burst | ship | shape | metrics | follow")
		rounds      = flag.Int("rounds", 5, "sequential rounds (throughput, start)")
		mb          = flag.Int("mb", 200, "MB written to stdout per throughput round")
		tasks       = flag.Int("tasks", 100, "tasks started at once (burst)")
		task        = flag.String("task", "print", "what each burst task does: print (a 300 KB log) or write (1,000 small files and 20 MB to its rootfs, then the same log)")
		brisk       = flag.String("brisk-config", "", "the shim's config; burst then waits for each task's object in [logs.s3]")
		metrics     = flag.String("minio-metrics", "", "MinIO Prometheus URL, to count S3 requests (burst)")
		minioPid    = flag.Int("minio-pid", 0, "MinIO's pid, to measure the CPU it spends on the burst (it shares the machine)")
		shape       = flag.String("shape", "", "output shape (mode shape): "+strings.Join(shapeNames(), ", "))
		spoolDir    = flag.String("spool-dir", "", "the brisk shim's spool_dir, watched while a shape task runs")
		followers   = flag.Int("followers", 0, "followers of the task on brisk-logd (mode follow)")
		logdURL     = flag.String("logd", "", "brisk-logd's API URL (mode follow)")
		logdToken   = flag.String("logd-token-file", "", "a tokens file of brisk-logd: its first line's token is used (mode follow)")
		logdPid     = flag.Int("logd-pid", 0, "brisk-logd's pid, to measure the CPU the followers cost it (mode follow)")
	)
	tagged := tags{}
	flag.Var(tagged, "tag", "key=value recorded in every result (repeatable)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	client, err := containerd.New(*address, containerd.WithDefaultNamespace(*namespace))
	if err != nil {
		fatal(err)
	}
	defer client.Close()
	img, err := client.GetImage(ctx, *imageName)
	if err != nil {
		fatal(err)
	}
	b := &bench{client: client, image: img, runtime: *runtime, snapshotter: *snapshotter, fifoDir: *fifoDir, label: *label, namespace: *namespace, watchShims: *mode != "burst"}
	enc := json.NewEncoder(os.Stdout)
	emit := func(r result) {
		r["label"] = b.label
		r["runtime"] = b.runtime
		r["snapshotter"] = b.snapshotter
		for k, v := range tagged {
			r[k] = v
		}
		if err := enc.Encode(r); err != nil {
			fatal(err)
		}
	}
	switch *mode {
	case "throughput":
		for i := 0; i < *rounds; i++ {
			r, err := b.throughput(ctx, fmt.Sprintf("%s-tp-%d", b.label, i), *mb)
			if err != nil {
				fatal(err)
			}
			emit(r)
		}
	case "start":
		for i := 0; i < *rounds; i++ {
			r, err := b.start(ctx, fmt.Sprintf("%s-start-%d", b.label, i))
			if err != nil {
				fatal(err)
			}
			emit(r)
		}
	case "burst":
		r, err := b.burst(ctx, *tasks, *task, *brisk, *metrics, *minioPid)
		if err != nil {
			fatal(err)
		}
		emit(r)
	case "ship":
		for i := 0; i < *rounds; i++ {
			r, err := b.ship(ctx, fmt.Sprintf("%s-ship-%d-%d", b.label, i, time.Now().UnixNano()), *mb)
			if err != nil {
				fatal(err)
			}
			emit(r)
		}
	case "metrics":
		r, err := b.metrics(ctx, fmt.Sprintf("%s-metrics-%d", b.label, time.Now().UnixNano()), *rounds)
		if err != nil {
			fatal(err)
		}
		emit(r)
	case "shape":
		r, err := b.shape(ctx, fmt.Sprintf("%s-shape-%s-%d", b.label, *shape, time.Now().UnixNano()), *shape, *spoolDir, *brisk)
		if err != nil {
			fatal(err)
		}
		emit(r)
	case "follow":
		tok, err := readToken(*logdToken)
		if err != nil {
			fatal(err)
		}
		for i := 0; i < *rounds; i++ {
			r, err := b.followed(ctx, fmt.Sprintf("%s-follow%d-%d-%d", b.label, *followers, i, time.Now().UnixNano()), *mb, *followers, *logdURL, tok, *logdPid)
			if err != nil {
				fatal(err)
			}
			emit(r)
		}
	default:
		fatal(fmt.Errorf("-mode %q: want throughput, start, burst, ship, shape, metrics or follow", *mode))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "shimbench:", err)
	os.Exit(1)
}

// run is one task as `ctr run --rm` runs it, with timings and a look at
// its shim taken after the exit, before the task is deleted.
type run struct {
	created   time.Duration // NewContainer+NewTask: shim start and runc create
	exited    time.Duration // from the first call until the client had the exit status and all output
	status    time.Duration // from Start until the client had the exit status
	statusAt  time.Time     // when the client had it
	ioDone    time.Duration // from Start until the last byte reached the client
	exitedAt  time.Time     // the shim's exit timestamp
	bytes     int64         // received by the client
	shimCPU   time.Duration // the shim's own user+system time (not its children's)
	shimHWMkB int64         // the shim's peak resident set
	shimPid   int           // the shim's pid
	shimWatch *watch        // the shim followed until it exits
}

type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

func (b *bench) run(ctx context.Context, id string, args ...string) (run, error) {
	var r run
	t0 := time.Now()
	ctr, err := b.client.NewContainer(ctx, id,
		containerd.WithImage(b.image),
		containerd.WithSnapshotter(b.snapshotter),
		containerd.WithNewSnapshot(id, b.image),
		containerd.WithRuntime(b.runtime, nil),
		containerd.WithNewSpec(oci.WithImageConfig(b.image), oci.WithProcessArgs(args...)))
	if err != nil {
		return r, fmt.Errorf("container %s: %w", id, err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	var out counter
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out), cio.WithFIFODir(b.fifoDir)))
	if err != nil {
		return r, fmt.Errorf("task %s: %w", id, err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	r.created = time.Since(t0)
	if b.afterCreate != nil {
		b.afterCreate(id)
	}
	shimPid := parentPid(int(task.Pid()))
	r.shimPid = shimPid
	if b.watchShims {
		r.shimWatch = follow(shimPid)
	}
	statusC, err := task.Wait(ctx)
	if err != nil {
		return r, err
	}
	started := time.Now()
	if err := task.Start(ctx); err != nil {
		return r, fmt.Errorf("start %s: %w", id, err)
	}
	st := <-statusC
	r.statusAt = time.Now()
	r.status = r.statusAt.Sub(started)
	task.IO().Wait()
	r.ioDone = time.Since(started)
	r.exited = time.Since(t0)
	code, exitedAt, err := st.Result()
	if err != nil || code != 0 {
		return r, fmt.Errorf("task %s: exit %d: %v", id, code, err)
	}
	r.exitedAt = exitedAt
	r.bytes = out.n.Load()
	r.shimCPU, r.shimHWMkB = shimStats(shimPid)
	return r, nil
}

// parentPid is the shim of a container's init: runc's init is reparented
// to the shim, its child subreaper.
func parentPid(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			p, _ := strconv.Atoi(strings.TrimSpace(v))
			return p
		}
	}
	return 0
}

// shimStats reads a process's own CPU time (utime+stime, clock ticks of
// 10 ms) and peak RSS.
func shimStats(pid int) (time.Duration, int64) {
	if pid <= 1 {
		return 0, 0
	}
	var cpu time.Duration
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the parenthesised command name; utime and stime are
		// the 14th and 15th fields of the line.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			cpu = time.Duration(ut+st) * 10 * time.Millisecond
		}
	}
	var hwm int64
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				hwm, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			}
		}
	}
	return cpu, hwm
}

// throughput: one task writing mb MB of log lines as fast as it can.
func (b *bench) throughput(ctx context.Context, id string, mb int) (result, error) {
	r, err := b.run(ctx, id, "sh", "-c", fmt.Sprintf("yes '%s' | head -c %d", strings.Repeat("throughput test line ", 4), mb*1000*1000))
	if err != nil {
		return nil, err
	}
	secs := r.ioDone.Seconds()
	cpu, hwm := r.shimWatch.untilExit()
	return result{
		// A client slower than the task (a loaded machine) loses output
		// under brisk, whose consumer queue drops rather than block the
		// task as runc does; the spool keeps it. Recorded, not fatal.
		"client_dropped": int64(mb)*1000*1000 - r.bytes,
		"kind":           "throughput", "mb": mb, "seconds": secs, "mb_per_s": float64(mb) / secs,
		"shim_cpu_s": r.shimCPU.Seconds(), "shim_hwm_kib": r.shimHWMkB,
		// Through the shim's exit: for brisk, the upload included.
		"shim_cpu_exit_s": cpu.Seconds(), "shim_hwm_exit_kib": hwm,
	}, nil
}

// metrics: the round trip of task.Metrics, rounds times, on one running
// task. The shim answers it with runc's task service's Stats, the same
// cgroup read the brisk shim makes at every exit before it shows the exit.
func (b *bench) metrics(ctx context.Context, id string, rounds int) (result, error) {
	ctr, err := b.client.NewContainer(ctx, id,
		containerd.WithImage(b.image),
		containerd.WithSnapshotter(b.snapshotter),
		containerd.WithNewSnapshot(id, b.image),
		containerd.WithRuntime(b.runtime, nil),
		containerd.WithNewSpec(oci.WithImageConfig(b.image), oci.WithProcessArgs("sleep", "600")))
	if err != nil {
		return nil, err
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &counter{}, &counter{}), cio.WithFIFODir(b.fifoDir)))
	if err != nil {
		return nil, err
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	if err := task.Start(ctx); err != nil {
		return nil, err
	}
	// Each Metrics beside a Status (the shim's State: no cgroup read), so
	// that the difference is the cgroup read alone.
	var took, state []float64
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		if _, err := task.Metrics(ctx); err != nil {
			return nil, err
		}
		took = append(took, ms(time.Since(t0)))
		t0 = time.Now()
		if _, err := task.Status(ctx); err != nil {
			return nil, err
		}
		state = append(state, ms(time.Since(t0)))
	}
	return result{"kind": "metrics", "rounds": rounds,
		// The first is the shim's first Stats, as the one at exit is.
		"metrics_first_ms": took[0], "metrics_p50_ms": pct(took, 50), "metrics_min_ms": pct(took, 0), "metrics_max_ms": pct(took, 100),
		"status_call_p50_ms": pct(state, 50), "status_call_min_ms": pct(state, 0), "status_call_max_ms": pct(state, 100)}, nil
}

// start: one short task with a 300 KB log, alone.
func (b *bench) start(ctx context.Context, id string) (result, error) {
	r, err := b.run(ctx, id, "awk", logScript)
	if err != nil {
		return nil, err
	}
	return result{
		"kind": "start", "create_ms": ms(r.created), "start_to_exit_ms": ms(r.exited),
		"shim_hwm_kib": r.shimHWMkB, "shim_cpu_s": r.shimCPU.Seconds(), "bytes": r.bytes,
	}, nil
}

// burst: tasks short tasks of kind task (taskArgs), each with a 300 KB log,
// started at once; with a brisk config, each task's object is waited for
// and measured.
func (b *bench) burst(ctx context.Context, tasks int, task, briskConfig, metricsURL string, minioPid int) (result, error) {
	args, err := taskArgs(task)
	if err != nil {
		return nil, err
	}
	var (
		st   *store.S3
		logs config.Logs
	)
	if briskConfig != "" {
		cfg, err := config.Load(briskConfig, false)
		if err != nil {
			return nil, err
		}
		logs = cfg.Logs
		if st, err = store.ConnectS3(ctx, logs.S3); err != nil {
			return nil, err
		}
	}
	before := s3Requests(metricsURL)
	minioBefore, _ := shimStats(minioPid)
	// IDs unique to this burst: an earlier burst's objects must not count.
	stem := fmt.Sprintf("%s-burst-%d-", b.label, time.Now().UnixNano())
	ids := make([]string, tasks)
	keys := map[string]string{} // key -> id
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", stem, i)
		if st != nil {
			keys[ship.Key(logs.S3.Key, logs.S3.Prefix, b.namespace, ids[i])] = ids[i]
		}
	}
	runs := make([]run, tasks)
	errs := make([]error, tasks)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], errs[i] = b.run(ctx, ids[i], args...)
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	res := result{"kind": "burst", "tasks": tasks, "task": task, "wall_s": wall.Seconds()}
	var startToExit, created, status, ioDone, shown []float64
	var raw int64
	for _, r := range runs {
		startToExit = append(startToExit, ms(r.exited))
		created = append(created, ms(r.created))
		status = append(status, ms(r.status))
		ioDone = append(ioDone, ms(r.ioDone))
		shown = append(shown, ms(r.statusAt.Sub(r.exitedAt)))
		raw += r.bytes
	}
	// Where the time after create goes: to the exit status, then to the
	// last byte of output.
	res["status_p50_ms"], res["status_p99_ms"] = pct(status, 50), pct(status, 99)
	res["io_done_p50_ms"], res["io_done_p99_ms"] = pct(ioDone, 50), pct(ioDone, 99)
	// From the process's exit to the client having its status: the
	// shim's part of the run.
	res["exit_shown_p50_ms"], res["exit_shown_p99_ms"] = pct(shown, 50), pct(shown, 99)
	res["start_to_exit_p50_ms"], res["start_to_exit_p99_ms"] = pct(startToExit, 50), pct(startToExit, 99)
	res["create_p50_ms"], res["create_p99_ms"] = pct(created, 50), pct(created, 99)
	res["raw_bytes_per_task"] = raw / int64(tasks)
	if st == nil {
		return res, nil
	}
	seen, err := listVisible(ctx, st, logs.S3.Prefix+b.namespace+"/"+stem, keys, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	var visible []float64
	var stored int64
	for k, o := range seen {
		id := keys[k]
		for i := range ids {
			if ids[i] == id {
				visible = append(visible, ms(o.at.Sub(runs[i].exitedAt)))
			}
		}
		stored += o.size
	}
	res["exit_to_visible_p50_ms"], res["exit_to_visible_p99_ms"], res["exit_to_visible_max_ms"] = pct(visible, 50), pct(visible, 99), pct(visible, 100)
	res["stored_bytes_per_task"] = stored / int64(tasks)
	if minioPid > 0 {
		after, _ := shimStats(minioPid)
		res["minio_cpu_s"] = (after - minioBefore).Seconds()
	}
	res["compression"] = logs.S3.Compression
	if after := s3Requests(metricsURL); before != nil && after != nil {
		perTask := map[string]float64{}
		for api, n := range after {
			// The benchmark's own listing is not the shim's cost.
			if d := n - before[api]; d > 0 && !strings.HasPrefix(api, "ListObjects") {
				perTask[api] = d / float64(tasks)
			}
		}
		res["s3_requests_per_task"] = perTask
	}
	return res, nil
}

// listed is an object of a burst: when the store stamped it, and its size.
type listed struct {
	at   time.Time
	size int64
}

// listVisible waits until every key of keys is listed under prefix, at most
// timeout, and returns each with its LastModified: the time the store
// stamped it (MinIO: to the millisecond, by this machine's clock).
//
// The bucket is listed only once the burst is over. Listing it from the
// side all through the burst, every 20 ms, as this benchmark once did, put
// MinIO's and this process's CPU for 50 listings a second on the two cores
// the brisk stack's tasks ran on, and on no runc burst: it made brisk's
// start → exit 1.19× runc's where the same stack measured without it was
// 1.05× (2026-12-07, docs/benchmarks.md).
func listVisible(ctx context.Context, st *store.S3, prefix string, keys map[string]string, timeout time.Duration) (map[string]listed, error) {
	seen := map[string]listed{}
	deadline := time.Now().Add(timeout)
	for {
		p := s3.NewListObjectsV2Paginator(st.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket()), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				break
			}
			for _, o := range out.Contents {
				if k := runless(aws.ToString(o.Key)); keys[k] != "" {
					seen[k] = listed{at: aws.ToTime(o.LastModified), size: aws.ToInt64(o.Size)}
				}
			}
		}
		if len(seen) == len(keys) {
			return seen, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d objects visible after %v", len(seen), len(keys), timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// s3Requests reads MinIO's per-API request counters (metrics v3,
// /minio/metrics/v3/api/requests), or nil.
func s3Requests(url string) map[string]float64 {
	if url == "" {
		return nil
	}
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	counts := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "minio_api_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `name="`)
		api, _, _ := strings.Cut(rest, `"`)
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil && api != "" {
			counts[api] += n
		}
	}
	return counts
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the p-th percentile (nearest rank).
func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// runless is a stored key without its run ("ID@RUN.log" -> "ID.log"): every
// run has its own key, and a burst's IDs each run once.
func runless(k string) string {
	i := strings.LastIndex(k, "@")
	if i < 0 {
		return k
	}
	rest := k[i+1:]
	for n := len(rest); n > 0; n-- {
		if spool.IsRun(rest[:n]) {
			return k[:i] + rest[n:]
		}
	}
	return k
}
