package main

import (
	"fmt"
	"strings"
)

// writeLogPath reports the log path's rows (issue 7): the shim's CPU per MB
// and peak RSS shipping a 16 MiB log, beside the runc shim's, and the spool
// each output shape takes per max_bytes.
func writeLogPath(b *strings.Builder, byKind map[string]map[string][]shimResult, med func(kind, label, key string) float64, ratio func(a, b float64) string) {
	if tp := byKind["throughput"]; len(tp["runc"]) > 0 && len(tp["brisk"]) > 0 && tp["brisk"][0]["shim_cpu_exit_s"] != nil {
		mb := med("throughput", "runc", "mb")
		r := 1000 * med("throughput", "runc", "shim_cpu_exit_s") / mb
		k := 1000 * med("throughput", "brisk", "shim_cpu_exit_s") / mb
		fmt.Fprintf(b, "**Shim CPU per MB** of output, from the throughput rounds, through the shim's exit (for brisk: the spool and the forwarding; brisk-logd uploads):\n\n")
		b.WriteString("| | runc.v2 | brisk.v2 | brisk/runc |\n|---|---:|---:|---:|\n")
		fmt.Fprintf(b, "| shim CPU per MB (ms) | %.2f | %.2f | %s |\n\n", r, k, ratio(k, r))
	}
	if len(byKind["ship"]) > 0 {
		fmt.Fprintf(b, "**Shipping a %.0f MiB log**: one task writing it (max_bytes 32Mi: all of it ships), the shim followed until it exits (for brisk, brisk-logd uploads the log: its CPU is not counted here).\n\n", med("ship", "runc", "mib"))
		b.WriteString("| | runc.v2 | brisk.v2 (none) | brisk.v2 (gzip) | brisk vs runc (none, gzip) |\n|---|---:|---:|---:|---:|\n")
		r, k, g := med("ship", "runc", "shim_hwm_exit_kib")/1024, med("ship", "brisk", "shim_hwm_exit_kib")/1024, med("ship", "brisk-gzip", "shim_hwm_exit_kib")/1024
		fmt.Fprintf(b, "| shim peak RSS (MiB) | %.1f | %.1f | %.1f | %+.1f MiB, %+.1f MiB |\n", r, k, g, k-r, g-r)
		r, k, g = med("ship", "runc", "shim_cpu_exit_s"), med("ship", "brisk", "shim_cpu_exit_s"), med("ship", "brisk-gzip", "shim_cpu_exit_s")
		fmt.Fprintf(b, "| shim CPU (s) | %.2f | %.2f | %.2f | %s, %s |\n\n", r, k, g, ratio(k, r), ratio(g, r))
	}
	if len(byKind["shape"]) > 0 {
		b.WriteString("**Spool per max_bytes** by shape of output: the spool's peak (every file of the entry, sampled every 5 ms while the task runs, finishes and ships) over max_bytes, and each shim's CPU and peak RSS for the same task.\n\n")
		b.WriteString("| shape | written (MB) | max_bytes (MiB) | brisk spool peak / max_bytes | shim CPU runc / brisk (s) | shim peak RSS runc / brisk (MiB) |\n|---|---:|---:|---:|---:|---:|\n")
		for _, shape := range []string{"empty-lines", "one-line", "binary", "tiny-writes"} {
			pick := func(label string) shimResult {
				for _, r := range byKind["shape"][label] {
					if r["shape"] == shape {
						return r
					}
				}
				return nil
			}
			r, k := pick("runc"), pick("brisk")
			if r == nil || k == nil {
				continue
			}
			fmt.Fprintf(b, "| %s | %.0f | %.0f | %.2f | %.2f / %.2f | %.1f / %.1f |\n", shape, k.f("bytes_written")/1e6, k.f("max_bytes")/(1<<20),
				k.f("spool_per_max_bytes"), r.f("shim_cpu_exit_s"), k.f("shim_cpu_exit_s"), r.f("shim_hwm_exit_kib")/1024, k.f("shim_hwm_exit_kib")/1024)
		}
		b.WriteString("\n")
	}
}
