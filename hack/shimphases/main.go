// Command shimphases times, each in a fresh process as a new shim would run
// it, the steps the brisk shim adds to runc's on a task's way: loading the
// brisk config, building the shipper, a task's capture (the spool entry, its
// FIFO directory and the two capture FIFOs, made and opened as
// shim.newCapture does them), and at exit the S3 client (aws-sdk-go-v2's
// default configuration, built at the first upload) and the first PutObject
// of a 300 KB log over a new connection. It calls the project's packages and
// changes nothing in them.
//
//	go run ./hack/shimphases -config $BRISK_CONFIG -n 21 [-put]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/containerd/fifo"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

var steps = []string{"config_load", "shipper_new", "spool_entry", "fifos", "capture_total", "s3_client", "first_put", "second_put"}

func main() {
	cfgPath := flag.String("config", os.Getenv(config.EnvPath), "brisk config ([logs] spool_dir and [logs.s3])")
	n := flag.Int("n", 21, "fresh processes")
	put := flag.Bool("put", false, "also time two PutObjects of 300 KB (needs the bucket)")
	once := flag.Bool("once", false, "one measurement in this process (internal)")
	flag.Parse()
	if *once {
		r, err := measure(*cfgPath, *put)
		if err != nil {
			fatal(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			fatal(err)
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	all := map[string][]float64{}
	for i := 0; i < *n; i++ {
		args := []string{"-once", "-config", *cfgPath}
		if *put {
			args = append(args, "-put")
		}
		out, err := exec.Command(self, args...).Output()
		if err != nil {
			fatal(fmt.Errorf("run %d: %w", i, err))
		}
		var r map[string]float64
		if err := json.Unmarshal(out, &r); err != nil {
			fatal(err)
		}
		for k, v := range r {
			all[k] = append(all[k], v)
		}
	}
	fmt.Printf("| step (fresh process, %d runs) | median (ms) | min–max (ms) |\n|---|---:|---:|\n", *n)
	for _, s := range steps {
		v := all[s]
		if len(v) == 0 {
			continue
		}
		sort.Float64s(v)
		fmt.Printf("| %s | %.3f | %.3f–%.3f |\n", s, v[len(v)/2], v[0], v[len(v)-1])
	}
}

func measure(cfgPath string, put bool) (map[string]float64, error) {
	ctx := context.Background()
	r := map[string]float64{}
	lap := func(name string, t0 time.Time) { r[name] = float64(time.Since(t0).Microseconds()) / 1000 }

	t0 := time.Now()
	cfg, err := config.Load(cfgPath, false)
	if err != nil {
		return nil, err
	}
	lap("config_load", t0)

	t0 = time.Now()
	shipper, err := ship.New(ctx, cfg.Logs)
	if err != nil {
		return nil, err
	}
	lap("shipper_new", t0)

	// As newCapture: the entry, then the FIFO directory and two FIFOs
	// opened for reading, non-blocking.
	id := fmt.Sprintf("shimphases-%d", time.Now().UnixNano())
	meta := spool.Meta{ID: id, Namespace: "shimphases", ContainerID: id, Node: "bench", Started: time.Now()}
	tc := time.Now()
	entry, err := spool.Open(cfg.Logs.SpoolDir, meta, spool.WithMaxBytes(int64(cfg.Logs.MaxBytes)))
	if err != nil {
		return nil, err
	}
	lap("spool_entry", tc)
	t0 = time.Now()
	dir := spool.FifoDir(entry.Dir())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for _, name := range []string{"stdout", "stderr"} {
		f, err := fifo.OpenFifo(ctx, filepath.Join(dir, name), syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return nil, err
		}
		defer f.Close()
	}
	lap("fifos", t0)
	lap("capture_total", tc)
	_ = os.RemoveAll(dir)
	if err := entry.Discard(); err != nil {
		return nil, err
	}

	if cfg.Logs.S3.Bucket == "" {
		return r, nil
	}
	t0 = time.Now()
	store, err := store.ConnectS3(ctx, cfg.Logs.S3)
	if err != nil {
		return nil, err
	}
	lap("s3_client", t0)
	_ = shipper
	if put {
		body := bytes.Repeat([]byte("00042 [worker-2] cc -O2 -Wall -c src/pkg3/file42.c -o build/pkg3/file42.o (17 ms)\n"), 3500)
		for _, step := range []string{"first_put", "second_put"} {
			t0 = time.Now()
			key := ship.Key(cfg.Logs.S3.Key, cfg.Logs.S3.Prefix, "shimphases", id+"-"+step)
			if err := store.Put(ctx, key, bytes.NewReader(body), map[string]string{"brisk-bench": "shimphases"}, ""); err != nil {
				return nil, err
			}
			lap(step, t0)
		}
	}
	return r, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "shimphases:", err)
	os.Exit(1)
}
