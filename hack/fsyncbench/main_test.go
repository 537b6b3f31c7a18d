package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInterleavedTargets(t *testing.T) {
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lat, err := fsyncLatency(dirs, 5)
	if err != nil {
		t.Fatal(err)
	}
	spent, err := createFiles(dirs, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		if n := len(lat[i].total); n != 5 || len(lat[i].write) != 5 || len(lat[i].sync) != 5 {
			t.Errorf("%s: %d samples, want 5 of each", d, n)
		}
		for j := range lat[i].total {
			if lat[i].write[j]+lat[i].sync[j] > lat[i].total[j] {
				t.Errorf("%s: write %v + fsync %v exceed their total %v", d, lat[i].write[j], lat[i].sync[j], lat[i].total[j])
			}
		}
		st, err := os.Stat(filepath.Join(d, "fsync.dat"))
		if err != nil || st.Size() != 5*4096 {
			t.Errorf("%s/fsync.dat: %v, err %v; want 5 writes of 4 KiB", d, st, err)
		}
		if ents, err := os.ReadDir(filepath.Join(d, "files")); err != nil || len(ents) != 3 {
			t.Errorf("%s/files: %d entries, err %v; want 3", d, len(ents), err)
		}
		if spent[i] <= 0 {
			t.Errorf("%s: no time spent creating files", d)
		}
	}
}

func TestQuantile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 6}, {0.99, 10}, {1, 10}, {0, 1}} {
		if got := quantile(d, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}
