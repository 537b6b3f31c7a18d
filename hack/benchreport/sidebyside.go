package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// BenchmarkSideBySide (snapshotter/bench_test.go) measures brisk and
// overlayfs in the same minutes and reports each one's figures as extra
// metrics: NAME-ns/op, NAME-p50-ns, NAME-p99-ns.

var (
	sideLine   = regexp.MustCompile(`^BenchmarkSideBySide/(\w+)/([\w-]+)/(\d+)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op(.*)$`)
	sideMetric = regexp.MustCompile(`([\d.]+) ([\w-]+(?:/op)?)`)
)

type sideRow struct {
	op, path, callers string
	m                 map[string]float64
}

func readSideBySide(path string) []sideRow {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var rows []sideRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := sideLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := sideRow{op: m[1], path: m[2], callers: m[3], m: map[string]float64{}}
		for _, kv := range sideMetric.FindAllStringSubmatch(m[4], -1) {
			v, _ := strconv.ParseFloat(kv[1], 64)
			r.m[kv[2]] = v
		}
		rows = append(rows, r)
	}
	return rows
}

func writeSideBySide(b *strings.Builder, alonePath, busyPath string) {
	disks := []struct {
		name string
		rows []sideRow
	}{{"alone", readSideBySide(alonePath)}, {"busy", readSideBySide(busyPath)}}
	if len(disks[0].rows) == 0 && len(disks[1].rows) == 0 {
		return
	}
	b.WriteString("**Side by side** (`BenchmarkSideBySide`): the same lifecycle, brisk and overlayfs in turn, round by\nround, so that both see the same minutes of the machine; with 50 callers, 50 lifecycles at once per\nround. Per lifecycle: wall time over all of them, and the p50 and p99 of one lifecycle's latency.\nThe target: brisk/overlayfs ≤ 1.1× on the busy disk.\n\n")
	b.WriteString("| operation | path | callers | disk | brisk | overlayfs | brisk/overlayfs | p50 brisk / overlayfs | p99 brisk / overlayfs |\n|---|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, d := range disks {
		for _, r := range d.rows {
			br, ov := r.m["brisk-ns/op"], r.m["overlayfs-ns/op"]
			if br == 0 || ov == 0 {
				continue
			}
			path := "in-process"
			if r.path == "grpc" {
				path = "gRPC"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.2f× | %s / %s | %s / %s |\n", r.op, path, r.callers, d.name,
				dur(br), dur(ov), br/ov, dur(r.m["brisk-p50-ns"]), dur(r.m["overlayfs-p50-ns"]), dur(r.m["brisk-p99-ns"]), dur(r.m["overlayfs-p99-ns"]))
		}
	}
	b.WriteString("\n")
}
