package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The node log API's targets are checked against what was measured, so a
// run can miss them: each row says met or not met, and the summary counts.
func TestWriteLogdTargets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{
			name: "within the targets",
			lines: []string{
				`{"kind":"logd-first-byte","path":"local","p50_ms":1,"p99_ms":8,"loadavg":3}`,
				`{"kind":"logd-first-byte","path":"local","p50_ms":2,"p99_ms":60,"loadavg":3}`,
				`{"kind":"logd-first-byte","path":"local","p50_ms":1.5,"p99_ms":9,"loadavg":3}`,
				`{"kind":"logd-line","path":"peer","p50_ms":27,"p99_ms":60,"max_ms":70,"lines":500,"every_ms":20}`,
			},
			want: []string{
				// the median of three rounds, one of them over the target
				"| local: client → the brisk-logd whose spool holds it | 1.5 ms (1.0–2.0) | 9.0 ms (8.0–60.0) | ≤ 50 ms | met |",
				"| through a peer | 27.0 ms | 60.0 ms | 70.0 ms | ≤ 250 ms | met |",
				"Targets met: 2 of 2.",
			},
		},
		{
			name: "over the targets",
			lines: []string{
				`{"kind":"logd-first-byte","path":"peer","p50_ms":90,"p99_ms":130}`,
				`{"kind":"logd-fanout","setup":"fast","path":"none","p50_ms":150,"p99_ms":250,"first_ms":300,"spurious_unreachable":0}`,
				`{"kind":"follow","followers":0,"mb":50,"shim_cpu_ms_per_mb":10,"mb_per_s":40}`,
				`{"kind":"follow","followers":10,"mb":50,"shim_cpu_ms_per_mb":12,"mb_per_s":20,"logd_cpu_s":10}`,
			},
			want: []string{
				"| through a peer: client → brisk-logd B → brisk-logd A | 90.0 ms | 130.0 ms | ≤ 100 ms | **not met** |",
				"| 100, all answering at once | an ID nobody has | 150.0 ms | 250.0 ms | 300.0 ms | 0 (max 0) | – | ≤ 200 ms | **not met** |",
				"| 10 | 12.00 ms (12.00–12.00) |",
				"20.0 ms (20.0–20.0) |", // brisk-logd's CPU per MB and follower: 10 s / (50 MB × 10)
				"per round: **1.20×** (1.20–1.20); target ≤ 1.10×: **not met**.",
				"The task's output rate with 10 followers, over none's, per round: 0.50×",
				"Targets met: 0 of 3; not met: first byte, through a peer; lookup over 100 peers (fast, none); shim CPU per MB under 10 followers.",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "logd.jsonl")
			if err := os.WriteFile(path, []byte(strings.Join(tc.lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			writeLogd(&b, path, "test machine")
			for _, want := range tc.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("missing %q in\n%s", want, b.String())
				}
			}
		})
	}
}
