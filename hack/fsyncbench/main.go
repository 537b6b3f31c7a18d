// Command fsyncbench measures the write path a filesystem gives a container:
// 4 KiB write+fsync latency (p50/p99, and each half apart) and the rate of
// small-file creation. It prints one JSON object per target. With -noisy it
// instead hammers the filesystem with write+fsync until killed, to play the
// noisy neighbour.
//
// Several targets (-dir a -dir b, labelled with -label x -label y) are
// measured interleaved, one operation on each in turn, so that on a shared
// machine every target sees the same interference: a p99 over a few
// milliseconds of samples is otherwise decided by whatever else ran then.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

type result struct {
	Label        string  `json:"label"`
	FsyncP50us   float64 `json:"fsync_p50_us"`
	FsyncP99us   float64 `json:"fsync_p99_us"`
	FsyncP999us  float64 `json:"fsync_p999_us"`
	FsyncMaxus   float64 `json:"fsync_max_us"`
	WriteP99us   float64 `json:"write_p99_us"`
	SyncP99us    float64 `json:"sync_p99_us"`
	Fsyncs       int     `json:"fsyncs"`
	FilesPerSec  float64 `json:"files_per_sec"`
	FilesCreated int     `json:"files_created"`
	// For the whole process during the write+fsync loop (all targets):
	// involuntary context switches say how often it was preempted, major
	// faults whether its own pages had to come back from disk.
	Preempted   int64 `json:"preempted"`
	MajorFaults int64 `json:"major_faults"`
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var dirs, labels list
	flag.Var(&dirs, "dir", "directory to write in; repeat to measure several interleaved (default /bench)")
	flag.Var(&labels, "label", "label copied into the output, one per -dir")
	var (
		n      = flag.Int("fsyncs", 2000, "number of 4 KiB write+fsync operations per target")
		files  = flag.Int("files", 5000, "number of small files to create per target")
		noisy  = flag.Bool("noisy", false, "write+fsync 64 KiB in a loop until killed")
		settle = flag.Duration("settle", 0, "wait this long before measuring (lets the container's start-up work finish)")
		maxDur = flag.Duration("max", 10*time.Minute, "stop the noisy loop after this long")
	)
	flag.Parse()
	if len(dirs) == 0 {
		dirs = list{"/bench"}
	}
	if len(labels) > len(dirs) {
		fail(fmt.Errorf("%d labels for %d dirs", len(labels), len(dirs)))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fail(err)
		}
	}
	if *noisy {
		runNoisy(dirs[0], *maxDur)
		return
	}
	time.Sleep(*settle)
	before := rusage()
	lat, err := fsyncLatency(dirs, *n)
	if err != nil {
		fail(err)
	}
	after := rusage()
	created, err := createFiles(dirs, *files)
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	for i := range dirs {
		r := result{
			Fsyncs:       len(lat[i].total),
			FsyncP50us:   us(quantile(lat[i].total, 0.5)),
			FsyncP99us:   us(quantile(lat[i].total, 0.99)),
			FsyncP999us:  us(quantile(lat[i].total, 0.999)),
			FsyncMaxus:   us(quantile(lat[i].total, 1)),
			WriteP99us:   us(quantile(lat[i].write, 0.99)),
			SyncP99us:    us(quantile(lat[i].sync, 0.99)),
			FilesCreated: *files,
			Preempted:    after.Nivcsw - before.Nivcsw,
			MajorFaults:  after.Majflt - before.Majflt,
		}
		if *files > 0 {
			r.FilesPerSec = float64(*files) / created[i].Seconds()
		}
		if i < len(labels) {
			r.Label = labels[i]
		}
		if err := enc.Encode(r); err != nil {
			fail(err)
		}
	}
}

// latencies of each write+fsync, and of its two halves, to tell which
// system call a tail comes from.
type latencies struct{ total, write, sync []time.Duration }

func fsyncLatency(dirs []string, n int) ([]latencies, error) {
	fs := make([]*os.File, len(dirs))
	lat := make([]latencies, len(dirs))
	for i, dir := range dirs {
		f, err := os.OpenFile(filepath.Join(dir, "fsync.dat"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		fs[i] = f
		lat[i] = latencies{make([]time.Duration, 0, n), make([]time.Duration, 0, n), make([]time.Duration, 0, n)}
	}
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i)
	}
	for j := 0; j < n; j++ {
		for i, f := range fs {
			t0 := time.Now()
			if _, err := f.Write(buf); err != nil {
				return nil, err
			}
			t1 := time.Now()
			if err := f.Sync(); err != nil {
				return nil, err
			}
			t2 := time.Now()
			lat[i].total = append(lat[i].total, t2.Sub(t0))
			lat[i].write = append(lat[i].write, t1.Sub(t0))
			lat[i].sync = append(lat[i].sync, t2.Sub(t1))
		}
	}
	return lat, nil
}

// quantile sorts d and returns its q-quantile (q=1: the maximum).
func quantile(d []time.Duration, q float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(float64(len(d)) * q)
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}

// createFiles creates n files of 512 bytes in each dir, in turn, and returns
// the time spent on each dir's files.
func createFiles(dirs []string, n int) ([]time.Duration, error) {
	spent := make([]time.Duration, len(dirs))
	for _, dir := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
			return nil, err
		}
	}
	data := make([]byte, 512)
	for j := 0; j < n; j++ {
		for i, dir := range dirs {
			t := time.Now()
			if err := os.WriteFile(filepath.Join(dir, "files", fmt.Sprint(j)), data, 0o644); err != nil {
				return nil, err
			}
			spent[i] += time.Since(t)
		}
	}
	return spent, nil
}

func runNoisy(dir string, max time.Duration) {
	f, err := os.OpenFile(filepath.Join(dir, "noise.dat"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		fail(err)
	}
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(max)
	for i := 0; time.Now().Before(deadline); i++ {
		if _, err := f.WriteAt(buf, int64(i%256)*int64(len(buf))); err != nil {
			fail(err)
		}
		if err := f.Sync(); err != nil {
			fail(err)
		}
	}
}

func rusage() syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return ru
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fsyncbench:", err)
	os.Exit(1)
}
