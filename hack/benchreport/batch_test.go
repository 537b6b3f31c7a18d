package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Batch mode's figures stand beside per-task upload's from the same run,
// and its targets are checked against what was measured: each says met
// or not met, and the summary counts.
func TestWriteBatchTargets(t *testing.T) {
	task := `{"kind":"batch-cost","mode":"task","nodes":10,"seed_nodes":100,"seed_tasks_per_s":300,"tasks":4500,"tasks_per_s":30,"minio_requests_per_task":1,"minio_per_task":{"PutObject":1},"logd_requests_per_task":1,"usd_per_day":129.6,"seed_requests_per_task":1,"seed_usd_per_day":129.6,"findable_ms":[150,270],"findable_p50_ms":150,"findable_p99_ms":270,"lookup_shipper":{"n":200,"p50_ms":3.5,"p99_ms":10,"round_trips_max":2,"requests_mean":2}}`
	for _, tc := range []struct {
		name  string
		batch string
		want  []string
	}{
		{
			name:  "within the targets",
			batch: `{"kind":"batch-cost","mode":"batch","nodes":10,"seed_nodes":100,"seed_tasks_per_s":300,"window_s":150,"tasks":4500,"tasks_per_s":30,"minio_requests_per_task":0.042,"minio_requests":{"PutObject":150,"ListObjectsV2":39},"minio_per_task":{"PutObject":0.0333,"ListObjectsV2":0.0087},"logd_requests":{"PutObject batch":150},"logd_requests_per_task":0.042,"usd_per_day":5.4,"seed_per_task":{"PutObject":0.034},"seed_requests_per_task":0.035,"seed_usd_per_day":4.5,"batches_stored":150,"findable_ms":[15000,21000],"findable_p50_ms":15000,"findable_p99_ms":21000,"findable_max_ms":21000,"index_bytes":67000,"index_shape":{"objects":5,"gzip_bytes":50000,"raw_bytes":100000,"batch_lines":180,"batch_line_bytes":63000,"hash_lines":5400,"hash_line_bytes":91800,"logs_per_batch":30},"seed_lookup_index_bytes":{"1m":2.5e6,"10m":10e6,"1h":80e6},"seed_lookup_index_raw_bytes":{"1m":5e6,"10m":20e6,"1h":160e6},"lookup":{"n":200,"p50_ms":30,"p99_ms":50,"round_trips_max":3,"requests_mean":51},"lookup_shipper":{"n":200,"p50_ms":31,"p99_ms":52,"requests_mean":52}}`,
			want: []string{
				"| **S3 requests per task** (MinIO's count) | **0.0420** | **1.0000** | 23.8× |",
				"| … PutObject | 0.0333 | 1.0000 | |",
				"| PutObject | batch | 150 | 1.000 | 0.0333 |",
				"Batches stored in the window: 150 (30.0 logs each)",
				"a line of 350 bytes per batch",
				"a lookup a day in parses 185 MB of index (160 MB of it hour shards), and downloads 92 MB",
				"| hour shard (dense: of 1,024) | 2.94 MB | 25 |",
				"| **a lookup by ID, a day in** | **89 MB** | |",
				"An hour in, a lookup reads 14.9 MB and takes 228 ms",
				"| ≤ 0.05 S3 requests per task at the seed's load per node, in this simulation (MinIO's count) | 0.0420 | met |",
				"| exit → findable by ID alone ≤ 30 s, p99 | 21.0 s | met |",
				"| lookup by ID alone in ≤ 3 round trips | 3 | met |",
				"Targets met: 3 of 3.",
			},
		},
		{
			name:  "over the targets",
			batch: `{"kind":"batch-cost","mode":"batch","nodes":10,"tasks":4500,"minio_requests_per_task":0.07,"findable_ms":[15000],"findable_p99_ms":15000,"findable_missing":1,"lookup":{"n":199,"round_trips_max":4,"not_found":1}}`,
			want: []string{
				"| 0.0700 | **not met** |",
				"| exit → findable by ID alone ≤ 30 s, p99 | 15.0 s | **not met** |", // a sample never found
				"| lookup by ID alone in ≤ 3 round trips | 4 | **not met** |",
				"Targets met: 0 of 3; not met: requests per task; exit → findable; lookup round trips.",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "batchbench.jsonl")
			if err := os.WriteFile(path, []byte(tc.batch+"\n"+task+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			idx := filepath.Join(t.TempDir(), "index.txt")
			if err := os.WriteFile(idx, []byte("BenchmarkFindAtSeedScale-2   \t       5\t 228045015 ns/op\t        14.89 MB-read/find\t        89.24 MB-read/find-a-day-in\t         1.420 MB/10m-shard\t         2.939 MB/1h-shard\t         0.2765 MB/1m-object\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			writeBatch(&b, path, idx, "test machine")
			for _, want := range tc.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("missing %q in\n%s", want, b.String())
				}
			}
		})
	}
}
