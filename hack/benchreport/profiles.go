package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// profileResult is one round of bench.sh's profiles part: an image imported
// for profile brisk-small, then for brisk-large, then once more without
// unpacking (the content store's part of an import).
type profileResult struct {
	Share        bool    `json:"share"`
	Round        int     `json:"round"`
	LayerMB      int     `json:"layer_mb"`
	FirstImport  float64 `json:"first_import_s"`
	FirstBytes   int64   `json:"first_bytes"`
	SecondImport float64 `json:"second_import_s"`
	SecondBytes  int64   `json:"second_bytes"`
	Ingest       float64 `json:"ingest_s"`
}

func writeProfiles(b *strings.Builder, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runs := map[bool][]profileResult{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r profileResult
		if json.Unmarshal([]byte(line), &r) == nil && r.Round > 0 {
			runs[r.Share] = append(runs[r.Share], r)
		}
	}
	if len(runs[true]) == 0 || len(runs[false]) == 0 {
		return
	}
	mb := runs[true][0].LayerMB
	b.WriteString("## Layer sharing between profiles\n\n")
	fmt.Fprintf(b, "`hack/bench.sh` (part `profiles`): one brisk-snapshotter with the profiles brisk-small and brisk-large\n(`contrib/containerd/profiles-v3.toml`), `share_layers` on and off; each round a new image of busybox\nand %d MiB of random data is imported with `ctr images import` for brisk-small, then for brisk-large.\nEvery import reads and hashes the whole tarball into containerd's content store; a third import with\n`--no-unpack` times that part alone, so the second profile's unpack is its import minus that. A pull\nfrom a registry skips blobs the node has, so for it the unpack is the whole difference. Bytes: growth\nof the snapshotter's root (`du`). Medians over the rounds, with their range.\n\n", mb)
	b.WriteString("| share_layers | first profile: import | second profile: import | content store alone | second profile: unpack | second profile: bytes on disk |\n|---|---:|---:|---:|---:|---:|\n")
	unpack := func(r profileResult) float64 { return max(r.SecondImport-r.Ingest, 0) }
	for _, share := range []bool{false, true} {
		rs := runs[share]
		fmt.Fprintf(b, "| %v | %s | %s | %s | %s | %s |\n", share,
			secRange(rs, func(r profileResult) float64 { return r.FirstImport }),
			secRange(rs, func(r profileResult) float64 { return r.SecondImport }),
			secRange(rs, func(r profileResult) float64 { return r.Ingest }),
			secRange(rs, unpack),
			mib(median(rs, func(r profileResult) float64 { return float64(r.SecondBytes) })))
	}
	second := func(share bool, f func(profileResult) float64) float64 { return median(runs[share], f) }
	fmt.Fprintf(b, "\nWith sharing the second profile's import takes %.2f s instead of %.2f s (its unpack %.2f s instead of %.2f s) and adds %s instead of %s to the disk.\n\n",
		second(true, func(r profileResult) float64 { return r.SecondImport }), second(false, func(r profileResult) float64 { return r.SecondImport }),
		second(true, unpack), second(false, unpack),
		mib(second(true, func(r profileResult) float64 { return float64(r.SecondBytes) })),
		mib(second(false, func(r profileResult) float64 { return float64(r.SecondBytes) })))
}

func median(rs []profileResult, f func(profileResult) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	sort.Float64s(vs)
	return vs[len(vs)/2]
}

func secRange(rs []profileResult, f func(profileResult) float64) string {
	lo, hi := f(rs[0]), f(rs[0])
	for _, r := range rs {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return fmt.Sprintf("%.2f s (%.2f–%.2f)", median(rs, f), lo, hi)
}

func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }
