package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteContainersRows(t *testing.T) {
	lines := []string{
		`{"label":"brisk-alone","fsync_p50_us":3.6,"fsync_p99_us":30,"write_p99_us":28,"sync_p99_us":0.6,"files_per_sec":20000}`,
		`{"label":"brisk-alone","fsync_p50_us":3.8,"fsync_p99_us":40,"write_p99_us":38,"sync_p99_us":0.8,"files_per_sec":22000}`,
		`{"label":"ctmpfs-alone","fsync_p50_us":3.0,"fsync_p99_us":24,"write_p99_us":22,"sync_p99_us":0.5,"files_per_sec":40000}`,
		`{"label":"ctmpfs-alone","fsync_p50_us":3.0,"fsync_p99_us":36,"write_p99_us":22,"sync_p99_us":0.5,"files_per_sec":40000}`,
		`{"label":"hostovl-alone","fsync_p50_us":3.7,"fsync_p99_us":35,"files_per_sec":21000}`,
		`{"label":"overlayfs-noisy","fsync_p50_us":300,"fsync_p99_us":6000,"files_per_sec":600}`,
		`not json`,
	}
	path := filepath.Join(t.TempDir(), "containers.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeContainers(&b, path)
	out := b.String()
	for _, want := range []string{
		// two runs: the median of an even count is the mean of the middle two
		"| alone | brisk tmpfs upper | 3.7 µs | 35.0 µs (30.0–40.0) | 33.0 µs | 0.7 µs | 21000 |",
		"| alone | plain tmpfs in the same container | 3.0 µs | 30.0 µs (24.0–36.0) | 22.0 µs | 0.5 µs | 40000 |",
		// a run without the split figures shows a dash, not 0
		"| alone | host: overlay on a tmpfs upper | 3.7 µs | 35.0 µs (35.0–35.0) | – | – | 21000 |",
		"| noisy | containerd overlayfs, upper on the root disk | 300.0 µs |",
		// ratios round by round (24/30 and 36/40), not of the medians
		"| alone | plain tmpfs in the same container | 0.83× (0.79–0.83) | 0.90× (0.80–0.90) | 0.55× (0.50–0.55) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	// one hostovl run against two of brisk: no round to pair it with
	if strings.Contains(out, "| alone | host: overlay on a tmpfs upper | 1.") || strings.Contains(out, "| noisy | containerd overlayfs, upper on the root disk | 0.") {
		t.Errorf("a ratio row without a run of both to pair:\n%s", out)
	}
}
