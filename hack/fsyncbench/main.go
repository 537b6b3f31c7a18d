// Command fsyncbench runs inside a container and measures the write path the
// container's rootfs gives it: 4 KiB write+fsync latency (p50/p99) and the
// rate of small-file creation. It prints one JSON object. With -noisy it
// instead hammers the filesystem with write+fsync until killed, to play the
// noisy neighbour.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

type result struct {
	Label        string  `json:"label"`
	FsyncP50us   float64 `json:"fsync_p50_us"`
	FsyncP99us   float64 `json:"fsync_p99_us"`
	FsyncMaxus   float64 `json:"fsync_max_us"`
	Fsyncs       int     `json:"fsyncs"`
	FilesPerSec  float64 `json:"files_per_sec"`
	FilesCreated int     `json:"files_created"`
}

func main() {
	var (
		dir    = flag.String("dir", "/bench", "directory to write in (on the container's rootfs)")
		n      = flag.Int("fsyncs", 2000, "number of 4 KiB write+fsync operations")
		files  = flag.Int("files", 5000, "number of small files to create")
		noisy  = flag.Bool("noisy", false, "write+fsync 64 KiB in a loop until killed")
		label  = flag.String("label", "", "label copied into the output")
		maxDur = flag.Duration("max", 10*time.Minute, "stop the noisy loop after this long")
	)
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fail(err)
	}
	if *noisy {
		runNoisy(*dir, *maxDur)
		return
	}
	r := result{Label: *label}
	lat, err := fsyncLatency(*dir, *n)
	if err != nil {
		fail(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.Fsyncs = len(lat)
	r.FsyncP50us = us(lat[len(lat)/2])
	r.FsyncP99us = us(lat[len(lat)*99/100])
	r.FsyncMaxus = us(lat[len(lat)-1])
	start := time.Now()
	if err := createFiles(filepath.Join(*dir, "files"), *files); err != nil {
		fail(err)
	}
	r.FilesCreated = *files
	r.FilesPerSec = float64(*files) / time.Since(start).Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fail(err)
	}
}

func fsyncLatency(dir string, n int) ([]time.Duration, error) {
	f, err := os.OpenFile(filepath.Join(dir, "fsync.dat"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i)
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
	}
	return lat, nil
}

func createFiles(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := make([]byte, 512)
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
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

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fsyncbench:", err)
	os.Exit(1)
}
