package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// watch follows a shim from its task's create until it exits (the brisk
// shim stays for its upload; runc's is gone as soon as its task is deleted).
type watch struct {
	done   chan struct{}
	cpu    time.Duration
	hwmKiB int64
}

func follow(pid int) *watch {
	w := &watch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for deadline := time.Now().Add(10 * time.Minute); pid > 1 && time.Now().Before(deadline); {
			c, h := shimStats(pid)
			if h == 0 { // gone, or a zombie
				return
			}
			w.cpu, w.hwmKiB = c, h
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return w
}

// untilExit returns the shim's CPU time and peak RSS as last seen before it
// exited.
func (w *watch) untilExit() (cpu time.Duration, hwmKiB int64) {
	<-w.done
	return w.cpu, w.hwmKiB
}

// ship: one task writing mb MiB of log lines, followed until its shim
// exits, which for brisk is after the upload: the shim's peak RSS shipping
// a log of that size, and its CPU per MiB.
func (b *bench) ship(ctx context.Context, id string, mb int) (result, error) {
	script := fmt.Sprintf("yes '%s' | head -c %d", strings.Repeat("a line of a build log ", 4), mb<<20)
	r, err := b.run(ctx, id, "sh", "-c", script)
	if err != nil {
		return nil, err
	}
	cpu, hwm := r.shimWatch.untilExit()
	// A loaded machine may leave the client reading slower than the task
	// writes: brisk then drops what its consumer queue cannot hold (the
	// spool keeps it), where runc would block the task. Reported, not fatal.
	return result{"kind": "ship", "mib": mb, "client_bytes": r.bytes, "shim_cpu_exit_s": cpu.Seconds(), "shim_hwm_exit_kib": hwm,
		"shim_cpu_ms_per_mib": float64(cpu.Milliseconds()) / float64(mb)}, nil
}

// shapes are the outputs that cost the spool most per byte of content:
// record prefixes of a timestamp, stream and tag on every line or read.
var shapes = map[string]string{
	"empty-lines": "yes '' | head -c 64000000",
	"one-line":    "head -c 100000000 /dev/zero | tr '\\0' x",
	"binary":      "head -c 64000000 /dev/urandom",
	"tiny-writes": `awk 'BEGIN{for(i=0;i<1000000;i++){printf "x"; fflush()}}'`,
}

func shapeNames() []string {
	var n []string
	for k := range shapes {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// shape: one task writing a shape of output; with spoolDir (brisk), the
// spool is watched while it runs and until the shim exits, and its peak is
// compared with max_bytes from the brisk config.
func (b *bench) shape(ctx context.Context, id, shape, spoolDir, briskConfig string) (result, error) {
	script, ok := shapes[shape]
	if !ok {
		return nil, fmt.Errorf("-shape %q: want one of %s", shape, strings.Join(shapeNames(), ", "))
	}
	var peak atomic.Int64
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for spoolDir != "" {
			if n := spool.DiskBytes(spoolDir); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	r, err := b.run(ctx, id, "sh", "-c", script)
	if err != nil {
		close(stop)
		return nil, err
	}
	cpu, hwm := r.shimWatch.untilExit()
	close(stop)
	<-watched
	res := result{"kind": "shape", "shape": shape, "bytes_written": r.bytes, "shim_cpu_exit_s": cpu.Seconds(), "shim_hwm_exit_kib": hwm}
	if spoolDir != "" && briskConfig != "" {
		cfg, err := config.Load(briskConfig, false)
		if err != nil {
			return nil, err
		}
		res["spool_peak_bytes"], res["max_bytes"] = peak.Load(), int64(cfg.Logs.MaxBytes)
		res["spool_per_max_bytes"] = float64(peak.Load()) / float64(cfg.Logs.MaxBytes)
	}
	return res, nil
}
