package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// The whole stack in a burst (bench.sh part stack): runc + overlayfs against
// the brisk shim + the brisk snapshotter, each burst one line of
// shimbench's output tagged with its noise and round.

const (
	stackRunc  = "runc-overlayfs"
	stackBrisk = "brisk-brisk"
)

// The mixed stacks of STACK_SPLIT=1: which part of brisk adds what.
var stackSplit = []struct{ label, name string }{
	{stackRunc, "runc + overlayfs"},
	{"runc-brisk", "runc + brisk-snapshotter"},
	{"brisk-overlayfs", "brisk shim + overlayfs"},
	{stackBrisk, "brisk shim + brisk-snapshotter"},
}

// stackTargets are issue 16's: brisk/runc of the busy disk's medians.
var stackTargets = map[string]float64{"print": 1.0, "write": 0.7}

var stackTasks = map[string]string{
	"print": "tasks that only print (~300 KB of log)",
	"write": "tasks that write 1,000 small files and 20 MB to their rootfs, then print the same log",
}

type stackRow struct {
	name, key string
	scale     float64 // to the unit shown
	format    string
	target    bool // a row the targets are on
}

var stackRows = []stackRow{
	{"start → exit, p50 (ms)", "start_to_exit_p50_ms", 1, "%.0f", true},
	{"start → exit, p99 (ms)", "start_to_exit_p99_ms", 1, "%.0f", true},
	{"wall time of the burst (s)", "wall_s", 1, "%.1f", false},
	{"… create (NewContainer + NewTask), p50 (ms)", "create_p50_ms", 1, "%.0f", false},
	{"… Start → exit status and all output, p50 (ms)", "status_p50_ms", 1, "%.0f", false},
	{"exit → object in S3, p99 (ms)", "exit_to_visible_p99_ms", 1, "%.0f", false},
}

func writeStack(b *strings.Builder, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// task -> noise -> label -> bursts
	runs := map[string]map[string]map[string][]shimResult{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r shimResult
		if json.Unmarshal([]byte(line), &r) != nil || r["kind"] != "burst" {
			continue
		}
		task, _ := r["task"].(string)
		noise, _ := r["noise"].(string)
		label, _ := r["label"].(string)
		if runs[task] == nil {
			runs[task] = map[string]map[string][]shimResult{}
		}
		if runs[task][noise] == nil {
			runs[task][noise] = map[string][]shimResult{}
		}
		runs[task][noise][label] = append(runs[task][noise][label], r)
	}
	if len(runs) == 0 {
		return
	}
	var tasks int
	noiseMB := "64"
	for _, byNoise := range runs {
		for _, byLabel := range byNoise {
			for _, rs := range byLabel {
				tasks = int(rs[0].f("tasks"))
				if mb, _ := rs[0]["noise_mb"].(string); mb != "" {
					noiseMB = mb
				}
			}
		}
	}
	b.WriteString("## The whole stack in a burst: brisk shim + brisk snapshotter vs runc + overlayfs\n\n")
	fmt.Fprintf(b, "`./hack/bench.sh stack` (part of `make bench`): %d tasks started at once through a real containerd\n"+
		"2.2.1, as `ctr run --rm` starts them (`hack/shimbench -mode burst`), on runc.v2 with containerd's\n"+
		"overlayfs snapshotter, and on the brisk shim with brisk-snapshotter (a tmpfs upper per task); the two\n"+
		"stacks alternate, round by round, which goes first. *Busy*: a neighbour writes %s MiB with\n"+
		"`dd conv=fsync` in a loop on the same disk. Before each burst the last one's snapshots are gone\n"+
		"(containerd removes them in its garbage collection). Medians over the rounds, with the range over\n"+
		"the rounds; brisk/runc is the ratio of the medians, and in brackets the median and range of the\n"+
		"per-round ratios. MinIO stands in for S3, which spends none of a node's CPU or disk: its objects\n"+
		"are on a tmpfs and it runs at nice 19 (`STACK_MINIO_NICE`); brisk-logd, the node's, does not. Exit →\n"+
		"object in S3 is the object's LastModified as MinIO stamped it, listed once the burst is over.\n"+
		"Raw figures: `docs/bench-raw/stack.jsonl`.\n\n", tasks, noiseMB)
	met, missed := 0, []string{}
	for _, task := range sortedKeys(runs) {
		fmt.Fprintf(b, "**%s**\n\n", upperFirst(stackTasks[task]))
		b.WriteString("| disk | | runc + overlayfs | brisk + brisk | brisk/runc (per round) | target |\n|---|---|---:|---:|---:|---|\n")
		for _, noise := range []string{"alone", "busy"} {
			byLabel := runs[task][noise]
			if len(byLabel[stackRunc]) == 0 || len(byLabel[stackBrisk]) == 0 {
				continue
			}
			for _, row := range stackRows {
				rv, rlo, rhi, ok1 := spreadOf(byLabel[stackRunc], row.key)
				kv, klo, khi, ok2 := spreadOf(byLabel[stackBrisk], row.key)
				if !ok2 {
					continue
				}
				cell := func(v, lo, hi float64, ok bool) string {
					if !ok {
						return "–"
					}
					f := row.format
					return fmt.Sprintf(f+" ("+f+"–"+f+")", v, lo, hi)
				}
				ratio, target := "–", ""
				if ok1 && rv > 0 {
					ratio = fmt.Sprintf("%.2f×", kv/rv)
					if pm, plo, phi, ok := roundRatios(byLabel, row.key); ok {
						ratio += fmt.Sprintf(" (%.2f, %.2f–%.2f)", pm, plo, phi)
					}
					if t, ok := stackTargets[task]; ok && row.target && noise == "busy" {
						if kv/rv <= t {
							target = fmt.Sprintf("≤ %.1f×: met", t)
							met++
						} else {
							target = fmt.Sprintf("≤ %.1f×: **not met**", t)
							missed = append(missed, fmt.Sprintf("%s, %s", task, row.name))
						}
					}
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", noise, row.name, cell(rv, rlo, rhi, ok1), cell(kv, klo, khi, ok2), ratio, target)
			}
		}
		b.WriteString("\n")
		writeStackSplit(b, runs[task])
	}
	fmt.Fprintf(b, "Targets met: %d", met)
	if len(missed) > 0 {
		fmt.Fprintf(b, "; not met: %s", strings.Join(missed, "; "))
	}
	b.WriteString(".\n\n")
}

// writeStackSplit shows, when the mixed stacks ran, the shim's part and the
// snapshotter's part of the difference.
func writeStackSplit(b *strings.Builder, byNoise map[string]map[string][]shimResult) {
	have := false
	for _, byLabel := range byNoise {
		if len(byLabel["runc-brisk"]) > 0 || len(byLabel["brisk-overlayfs"]) > 0 {
			have = true
		}
	}
	if !have {
		return
	}
	b.WriteString("Split (`STACK_SPLIT=1`), medians of the rounds, and over runc + overlayfs:\n\n| disk | | ")
	for _, s := range stackSplit {
		b.WriteString(s.name + " | ")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(stackSplit)) + "\n")
	for _, noise := range []string{"alone", "busy"} {
		byLabel := byNoise[noise]
		if byLabel == nil {
			continue
		}
		for _, row := range stackRows[:3] {
			base, _, _, _ := spreadOf(byLabel[stackRunc], row.key)
			fmt.Fprintf(b, "| %s | %s |", noise, row.name)
			for _, s := range stackSplit {
				v, _, _, ok := spreadOf(byLabel[s.label], row.key)
				switch {
				case !ok:
					b.WriteString(" – |")
				case base > 0:
					fmt.Fprintf(b, " "+row.format+" (%.2f×) |", v, v/base)
				default:
					fmt.Fprintf(b, " "+row.format+" |", v)
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
}

// spreadOf is the median, lowest and highest of one field over bursts.
func spreadOf(rs []shimResult, key string) (med, lo, hi float64, ok bool) {
	var v []float64
	for _, r := range rs {
		if _, has := r[key]; has {
			v = append(v, r.f(key))
		}
	}
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	sort.Float64s(v)
	return medianOf(v), v[0], v[len(v)-1], true
}

// roundRatios pairs the two stacks' bursts of each round (the same minutes
// of the machine) and returns the median and range of brisk/runc.
func roundRatios(byLabel map[string][]shimResult, key string) (med, lo, hi float64, ok bool) {
	runc := map[string]float64{}
	for _, r := range byLabel[stackRunc] {
		if round, _ := r["round"].(string); round != "" {
			runc[round] = r.f(key)
		}
	}
	var v []float64
	for _, r := range byLabel[stackBrisk] {
		round, _ := r["round"].(string)
		if d := runc[round]; d > 0 {
			v = append(v, r.f(key)/d)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	sort.Float64s(v)
	return medianOf(v), v[0], v[len(v)-1], true
}

func medianOf(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return sorted[n/2]
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
