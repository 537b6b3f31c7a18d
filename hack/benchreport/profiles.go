package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// profileResult is one round of bench.sh's profiles part: one image imported
// for profile brisk-small, then for brisk-large.
type profileResult struct {
	Share       bool    `json:"share"`
	Round       int     `json:"round"`
	LayerMB     int     `json:"layer_mb"`
	FirstS      float64 `json:"first_s"`
	FirstBytes  int64   `json:"first_bytes"`
	SecondS     float64 `json:"second_s"`
	SecondBytes int64   `json:"second_bytes"`
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
	fmt.Fprintf(b, "`hack/bench.sh` (part `profiles`): an image of busybox and %d MiB of random data is imported with\n`ctr images import` for the profile brisk-small, then for brisk-large, on one brisk-snapshotter\n(`contrib/containerd/profiles-v3.toml`), with `share_layers` on and off; a new image each round.\nThe second import finds the blobs in containerd's content store either way, so its time is the\nunpack (or, shared, the snapshotter saying the layer is there). Bytes: growth of the snapshotter's\nroot (`du`). Medians over the rounds, with their range.\n\n", mb)
	b.WriteString("| share_layers | first profile: time | first profile: bytes on disk | second profile: time | second profile: bytes on disk |\n|---|---:|---:|---:|---:|\n")
	for _, share := range []bool{false, true} {
		rs := runs[share]
		fmt.Fprintf(b, "| %v | %s | %s | %s | %s |\n", share,
			secRange(rs, func(r profileResult) float64 { return r.FirstS }),
			mib(median(rs, func(r profileResult) float64 { return float64(r.FirstBytes) })),
			secRange(rs, func(r profileResult) float64 { return r.SecondS }),
			mib(median(rs, func(r profileResult) float64 { return float64(r.SecondBytes) })))
	}
	off := median(runs[false], func(r profileResult) float64 { return r.SecondS })
	on := median(runs[true], func(r profileResult) float64 { return r.SecondS })
	fmt.Fprintf(b, "\nThe second profile's import with sharing takes %.0f%% of the time without, and %s instead of %s on disk.\n\n",
		100*on/off, mib(median(runs[true], func(r profileResult) float64 { return float64(r.SecondBytes) })),
		mib(median(runs[false], func(r profileResult) float64 { return float64(r.SecondBytes) })))
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
