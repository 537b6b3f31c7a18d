// Command batchbench shows what batch mode (logs.upload = "batch") costs,
// beside per-task upload, by simulating the seed's load without
// containers: N real brisk-logd processes on this machine, each a node
// with its own spool_dir, node_name, unix socket and metrics address,
// against one MinIO, each fed finished spool entries (a ~300 KB build log
// written with logs/spool, as a shim writes it, then handed over on the
// daemon's socket) at its share of the seed's 300 tasks/s over 100 nodes.
//
// Each mode runs in turn with daemons and a bucket of its own: a warm-up,
// then a window over which it counts the S3 requests, from MinIO's own
// counters and from the daemons' brisk_s3_requests_total{op,purpose}, and
// times exit → findable by ID alone for sampled tasks; then, once the
// nodes have shipped everything, it looks a sample of IDs up (index.Find
// and batch.ReadLog; ship.Shipper.RecentRuns and ReadRun, the path of
// briskctl logs and the node log API) and lists what the bucket holds.
//
// It prints one JSON object per mode, for hack/benchreport, and exits
// non-zero when what it measured is not what it meant to measure (a
// daemon died, a task not written, an ID not found, a log read back that
// is not the task's).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-containers/brisk/config"
)

// bench is the run's settings.
type bench struct {
	logd      string
	endpoint  string
	minioPid  int
	spoolRoot string
	dir       string

	nodes     int
	seedNodes int
	seedRate  float64
	logBytes  int
	handoff   bool
	warmup    time.Duration
	window    time.Duration
	drain     time.Duration
	findEvery int
	lookups   int
	lag       time.Duration
}

func main() {
	var b bench
	flag.StringVar(&b.logd, "logd", "bin/brisk-logd", "the brisk-logd binary")
	flag.StringVar(&b.endpoint, "s3-endpoint", "", "MinIO's URL (credentials from the AWS_* environment); its Prometheus metrics must be public (MINIO_PROMETHEUS_AUTH_TYPE=public)")
	flag.IntVar(&b.minioPid, "minio-pid", 0, "MinIO's pid, to measure the CPU it spends (it shares the machine)")
	flag.StringVar(&b.spoolRoot, "spool-root", "", "where the nodes' spools go (a tmpfs, as /run/brisk/spool is)")
	flag.StringVar(&b.dir, "dir", "", "where the nodes' configs, sockets and logs go")
	modes := flag.String("modes", "batch,task", "upload modes to run, in turn")
	flag.IntVar(&b.nodes, "nodes", 10, "brisk-logd processes (nodes) on this machine")
	flag.IntVar(&b.seedNodes, "seed-nodes", 100, "the seed's nodes: each simulated node takes seed-rate/seed-nodes tasks/s")
	flag.Float64Var(&b.seedRate, "seed-rate", 300, "the seed's tasks/s over all its nodes")
	flag.IntVar(&b.logBytes, "log-bytes", 300_000, "bytes of output per task")
	flag.BoolVar(&b.handoff, "handoff", true, "hand each entry over on the daemon's socket (POST /v1/handoff) as a shim does; false leaves it to the daemon's look over the spool")
	flag.DurationVar(&b.warmup, "warmup", 30*time.Second, "load before the window (the first batches, the compactor's lease)")
	flag.DurationVar(&b.window, "duration", 150*time.Second, "the window over which requests are counted")
	flag.DurationVar(&b.drain, "drain", 2*time.Minute, "at most this long, after the load stops, for the nodes to ship and index everything")
	flag.IntVar(&b.findEvery, "findable-every", 20, "time exit → findable for one task in this many (in the window)")
	flag.IntVar(&b.lookups, "lookups", 200, "IDs looked up after the run")
	flag.DurationVar(&b.lag, "compactor-lag", 3*time.Minute, "how far back brisk-logd's compactor lists batches (logd: max(3m, request_timeout+2m)), for the seed's listing pages")
	flag.Parse()
	if b.endpoint == "" || b.spoolRoot == "" || b.dir == "" {
		fmt.Fprintln(os.Stderr, "batchbench: -s3-endpoint, -spool-root and -dir are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(os.Stdout)
	for _, mode := range strings.Split(*modes, ",") {
		if mode != config.UploadBatch && mode != config.UploadTask {
			fatal(fmt.Errorf("-modes: %q is no upload mode (batch, task)", mode))
		}
		fmt.Fprintf(os.Stderr, "batchbench: %s mode, %d nodes at %.1f tasks/s each, %v warm-up, %v window\n", mode, b.nodes, b.perNode(), b.warmup, b.window)
		r, err := b.runMode(ctx, mode)
		if r != nil {
			_ = enc.Encode(r)
		}
		if err != nil {
			fatal(fmt.Errorf("%s mode: %w", mode, err))
		}
	}
}

// perNode is each node's tasks/s: the seed's per node.
func (b *bench) perNode() float64 { return b.seedRate / float64(b.seedNodes) }

func fatal(err error) {
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted")
	}
	fmt.Fprintln(os.Stderr, "batchbench:", err)
	os.Exit(1)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
