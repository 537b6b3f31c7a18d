// Command logdbench measures the node log API (brisk-logd) the way a user
// and the cluster see it, through real brisk-logd processes on loopback:
//
//   - api: the first byte of a running task's log, read from the node whose
//     spool holds it and through a peer (client → brisk-logd B → brisk-logd
//     A), beside a bare GET /healthz of the same daemon (the HTTP floor);
//     then how long a printed line takes to reach a follower, local and
//     through a peer. Three daemons stand for three nodes, each with its own
//     config, port, spool and tokens file; a writer process (this command's
//     writer mode) writes the task's spool entry with logs/spool, as the
//     shim does, stamping each line with its write time.
//   - fanout: a lookup by ID on a brisk-logd whose peers are 100 simulated
//     nodes (HTTP servers in this process answering GET /v1/tasks, some
//     slow, some down), for an ID none of them has and for one that one has.
//   - writer: the spool writer used by api, in a process of its own.
//
// It prints one JSON object per measurement, for hack/benchreport, and exits
// non-zero when what it measured was not what it meant to measure (the wrong
// source, a line lost, a peer not asked): a figure is only printed for a
// path that worked.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

// token is the one bearer token of every daemon and client of the run.
const token = "logdbench-0123456789abcdef0123456789"

// namespace is the tasks' containerd namespace.
const namespace = "bench"

type result map[string]any

func main() {
	if len(os.Args) < 2 {
		fatal(fmt.Errorf("usage: logdbench api|fanout|writer [flags]"))
	}
	mode, args := os.Args[1], os.Args[2:]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch mode {
	case "api":
		err = runAPI(ctx, args)
	case "fanout":
		err = runFanout(ctx, args)
	case "writer":
		err = runWriter(ctx, args)
	default:
		err = fmt.Errorf("mode %q: want api, fanout or writer", mode)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "logdbench:", err)
	os.Exit(1)
}

// common are the flags of the modes that start brisk-logd.
type common struct {
	logd       string
	dir        string
	spoolRoot  string
	s3Endpoint string
	bucket     string
	label      string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.logd, "logd", "bin/brisk-logd", "the brisk-logd binary")
	fs.StringVar(&c.dir, "dir", "", "work directory: configs, tokens, daemons' logs (default: a temporary one)")
	fs.StringVar(&c.spoolRoot, "spool-root", "", "where the daemons' spools go; a tmpfs, as /run/brisk is (default: under -dir)")
	fs.StringVar(&c.s3Endpoint, "s3-endpoint", "", "S3 endpoint of the daemons' store (credentials from the environment); empty: a local_dir store")
	fs.StringVar(&c.bucket, "bucket", "", "bucket under -s3-endpoint")
	fs.StringVar(&c.label, "label", "", "copied into every result")
}

func (c *common) setup() (cleanup func(), err error) {
	cleanup = func() {}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "logdbench-"); err != nil {
			return nil, err
		}
		cleanup = func() { os.RemoveAll(c.dir) }
	}
	if c.spoolRoot == "" {
		c.spoolRoot = c.dir
	}
	if (c.s3Endpoint == "") != (c.bucket == "") {
		return nil, fmt.Errorf("-s3-endpoint %q and -bucket %q: give both or neither", c.s3Endpoint, c.bucket)
	}
	return cleanup, nil
}

func (c *common) emit(r result) {
	r["label"] = c.label
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fatal(err)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the p-th percentile (nearest rank) of v, in ms.
func pct(v []time.Duration, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return ms(s[i])
}

// latencies is the summary of one set of samples.
func latencies(kind, path string, v []time.Duration) result {
	return result{"kind": kind, "path": path, "n": len(v),
		"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "max_ms": pct(v, 100), "min_ms": pct(v, 0)}
}
