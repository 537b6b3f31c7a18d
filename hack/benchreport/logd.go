package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// logdRow is one measurement of bench.sh's part logd: hack/logdbench's
// (first byte, printed lines, lookups) and hack/shimbench -mode follow's.
type logdRow map[string]any

func (r logdRow) f(k string) float64 { v, _ := r[k].(float64); return v }
func (r logdRow) s(k string) string  { v, _ := r[k].(string); return v }

// Targets of issue 13, in ms (the last a ratio).
const (
	targetFirstByteLocal = 50
	targetFirstBytePeer  = 100
	targetLinePeer       = 250
	targetFanout         = 200
	targetFollowCPU      = 1.10
)

// writeLogd reports the node log API's figures, each target with whether
// the run met it: the median over the rounds, their range beside it.
func writeLogd(b *strings.Builder, path, machine string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var rows []logdRow
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r logdRow
		if json.Unmarshal([]byte(line), &r) == nil && r.s("kind") != "" {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	sel := func(kind string, match func(logdRow) bool) []logdRow {
		var out []logdRow
		for _, r := range rows {
			if r.s("kind") == kind && (match == nil || match(r)) {
				out = append(out, r)
			}
		}
		return out
	}
	stat := func(rs []logdRow, f func(logdRow) float64) (med, lo, hi float64) {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		med = v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return med, v[0], v[len(v)-1]
	}
	key := func(k string) func(logdRow) float64 { return func(r logdRow) float64 { return r.f(k) } }
	msCell := func(rs []logdRow, k string) string {
		if len(rs) == 0 {
			return "–"
		}
		m, lo, hi := stat(rs, key(k))
		if len(rs) == 1 {
			return fmt.Sprintf("%.1f ms", m)
		}
		return fmt.Sprintf("%.1f ms (%.1f–%.1f)", m, lo, hi)
	}
	var met, missed []string
	verdict := func(what string, rs []logdRow, k string, target float64) string {
		if len(rs) == 0 {
			return "–"
		}
		m, _, _ := stat(rs, key(k))
		if m <= target {
			met = append(met, what)
			return "met"
		}
		missed = append(missed, what)
		return "**not met**"
	}
	loadLo, loadHi := 0.0, 0.0
	if rs := sel("logd-first-byte", nil); len(rs) > 0 {
		_, loadLo, loadHi = stat(append(rs, sel("logd-fanout", nil)...), key("loadavg"))
	}
	rounds := len(sel("logd-first-byte", func(r logdRow) bool { return r.s("path") == "local" }))

	b.WriteString("## Node log API (brisk-logd)\n\n")
	fmt.Fprintf(b, "`hack/logdbench` and `hack/shimbench -mode follow` (`./hack/bench.sh logd`, part of `make bench`), measured\non %s (%s), 1-minute load average %.1f–%.1f during the run: the machine is\nshared with other work. Real `brisk-logd` processes on loopback: three stand for three nodes, each\nwith its own config, port, spool (a tmpfs) and tokens file, their store MinIO. A writer process\nwrites the task's spool entry with `logs/spool`, as the shim does (the first three tables: no real\ntask there; the last table runs real tasks through containerd and the brisk shim). Every request\ncarries a bearer token; first bytes and lookups open a new connection each, as a fresh `curl` or\npage load does. Medians over %d rounds, with the range over the rounds; a target is met when the\nmedian is within it.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine, loadLo, loadHi, rounds)

	if fb := sel("logd-first-byte", nil); len(fb) > 0 {
		byPath := func(p string) []logdRow {
			return sel("logd-first-byte", func(r logdRow) bool { return r.s("path") == p })
		}
		n := fb[0].f("n")
		fmt.Fprintf(b, "**First byte of a running task's log** (`GET /v1/logs/NS/ID?follow=1`; the task has written %.0f KiB and prints a line every 100 ms): from sending the request to the first byte of the body, %.0f requests per path and round, the three paths interleaved.\n\n", fb[0].f("preload_bytes")/1024, n)
		b.WriteString("| path | p50 | p99 | target (p99) | |\n|---|---:|---:|---:|---|\n")
		h := byPath("healthz")
		fmt.Fprintf(b, "| `GET /healthz` of the same daemon (the HTTP floor) | %s | %s | – | |\n", msCell(h, "p50_ms"), msCell(h, "p99_ms"))
		l := byPath("local")
		fmt.Fprintf(b, "| local: client → the brisk-logd whose spool holds it | %s | %s | ≤ %d ms | %s |\n", msCell(l, "p50_ms"), msCell(l, "p99_ms"), targetFirstByteLocal, verdict("first byte, local", l, "p99_ms", targetFirstByteLocal))
		p := byPath("peer")
		fmt.Fprintf(b, "| through a peer: client → brisk-logd B → brisk-logd A | %s | %s | ≤ %d ms | %s |\n\n", msCell(p, "p50_ms"), msCell(p, "p99_ms"), targetFirstBytePeer, verdict("first byte, through a peer", p, "p99_ms", targetFirstBytePeer))
	}

	if ln := sel("logd-line", nil); len(ln) > 0 {
		byPath := func(p string) []logdRow {
			return sel("logd-line", func(r logdRow) bool { return r.s("path") == p })
		}
		fmt.Fprintf(b, "**A printed line to a follower**: the task prints %.0f lines, one every %.0f ms, each stamped with its write time; two followers (`follow=1`), one on the node and one through a peer, attached while it runs, time each line from its write to their read of it. Every line must arrive once and in order, and the follow must end with the task's exit code, or the run fails. Followers poll the spool (`spool.FollowPoll`, 50 ms) and never touch the shim, so half the poll is the floor of the median.\n\n", ln[0].f("lines"), ln[0].f("every_ms"))
		b.WriteString("| follower | p50 | p99 | max | target (p99) | |\n|---|---:|---:|---:|---:|---|\n")
		l := byPath("local")
		fmt.Fprintf(b, "| local | %s | %s | %s | – | |\n", msCell(l, "p50_ms"), msCell(l, "p99_ms"), msCell(l, "max_ms"))
		p := byPath("peer")
		fmt.Fprintf(b, "| through a peer | %s | %s | %s | ≤ %d ms | %s |\n\n", msCell(p, "p50_ms"), msCell(p, "p99_ms"), msCell(p, "max_ms"), targetLinePeer, verdict("printed line, through a peer", p, "p99_ms", targetLinePeer))
	}

	if fo := sel("logd-fanout", nil); len(fo) > 0 {
		fmt.Fprintf(b, "**Lookup by ID over 100 peers**: a brisk-logd whose `peers` are 100 simulated nodes (HTTP servers in one process answering `GET /v1/tasks`), each lookup a new ID (a found ID's node is cached, and the cache is not what is measured), timed to the end of the answer, %.0f lookups of each kind per round, interleaved. An ID nobody has is asked of every peer, then listed in the store (MinIO), and answered 404; an ID one peer has is answered from it (`Brisk-Source: peer`). Each peer is checked to have been asked once per lookup, and the down and hung ones to be named in `Brisk-Unreachable-Peers`.\n\n", fo[0].f("n"))
		b.WriteString("| peers | lookup | p50 | p99 | first lookup (new connections) | lookups naming an answering peer unreachable | held IDs not found | target (p99) | |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n")
		setups := []struct{ name, what string }{
			{"no-peers", "none: the store's part alone"},
			{"fast", "100, all answering at once"},
			{"slow-down", ""},
			{"hung", ""},
		}
		for _, s := range setups {
			for _, kind := range []struct{ path, what string }{{"none", "an ID nobody has"}, {"held", "an ID one peer has"}} {
				rs := sel("logd-fanout", func(r logdRow) bool { return r.s("setup") == s.name && r.s("path") == kind.path })
				if len(rs) == 0 {
					continue
				}
				what := s.what
				switch s.name {
				case "slow-down":
					what = fmt.Sprintf("100: %.0f answer after %.0f ms, %.0f down (refused)", rs[0].f("slow"), rs[0].f("slow_by_ms"), rs[0].f("down"))
				case "hung":
					what = fmt.Sprintf("100: as above, and %.0f that never answer; peer_timeout %.0f ms", rs[0].f("hung"), rs[0].f("peer_timeout_ms"))
				}
				spurious, _, hi := stat(rs, key("spurious_unreachable"))
				notFound := "–"
				if kind.path == "held" {
					m, _, mhi := stat(rs, key("missed"))
					notFound = fmt.Sprintf("%.0f (max %.0f)", m, mhi)
				}
				target, v := "–", ""
				if s.name != "no-peers" {
					target = fmt.Sprintf("≤ %d ms", targetFanout)
					v = verdict(fmt.Sprintf("lookup over 100 peers (%s, %s)", s.name, kind.path), rs, "p99_ms", targetFanout)
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %.0f (max %.0f) | %s | %s | %s |\n", what, kind.what, msCell(rs, "p50_ms"), msCell(rs, "p99_ms"), msCell(rs, "first_ms"), spurious, hi, notFound, target, v)
			}
		}
		b.WriteString("\nA lookup waits for every peer's answer, or for `peer_timeout` (1 s by default): it is as slow as the\nslowest peer that answers, and a hung peer holds every lookup for the whole timeout. A peer_timeout\nclose to what loaded peers take to answer names answering peers unreachable, and a task on one of\nthem is then not found (the last two counts, per round).\n\n")
	}

	if fw := sel("follow", nil); len(fw) > 0 {
		none := sel("follow", func(r logdRow) bool { return r.f("followers") == 0 })
		ten := sel("follow", func(r logdRow) bool { return r.f("followers") == 10 })
		if len(none) > 0 && len(ten) > 0 {
			fmt.Fprintf(b, "**The shim under followers**: a real task (containerd 2.2.1, runc, the brisk shim) writing %.0f MB to stdout as fast as it can, its client reading it through FIFOs as `ctr run` does, with 10 followers on `brisk-logd`'s `follow=1` attached from its create to its exit, against none; the two alternate, %d rounds each. `max_bytes` is above twice the log, so the followers read all of it while it is written; each must get every byte and the exit code. Shim CPU is utime+stime from `/proc/PID/stat` (10 ms ticks), through the shim's own exit (its upload included), and at the task's exit.\n\n", ten[0].f("mb"), len(ten))
			b.WriteString("| followers | shim CPU per MB, through its exit | shim CPU at the task's exit | task's output | brisk-logd CPU | brisk-logd CPU per MB and follower |\n|---|---:|---:|---:|---:|---:|\n")
			for _, side := range []struct {
				n  string
				rs []logdRow
			}{{"0", none}, {"10", ten}} {
				m, lo, hi := stat(side.rs, key("shim_cpu_ms_per_mb"))
				c, clo, chi := stat(side.rs, key("shim_cpu_s"))
				t, tlo, thi := stat(side.rs, key("mb_per_s"))
				l, llo, lhi := stat(side.rs, key("logd_cpu_s"))
				per := "–"
				if side.n != "0" {
					pm, plo, phi := stat(side.rs, func(r logdRow) float64 { return 1000 * r.f("logd_cpu_s") / (r.f("mb") * r.f("followers")) })
					per = fmt.Sprintf("%.1f ms (%.1f–%.1f)", pm, plo, phi)
				}
				fmt.Fprintf(b, "| %s | %.2f ms (%.2f–%.2f) | %.2f s (%.2f–%.2f) | %.0f MB/s (%.0f–%.0f) | %.2f s (%.2f–%.2f) | %s |\n", side.n, m, lo, hi, c, clo, chi, t, tlo, thi, l, llo, lhi, per)
			}
			// Ratios round by round (the k-th run of each side ran one
			// after the other), then their median.
			var ratios, rates []logdRow
			for k := 0; k < min(len(none), len(ten)); k++ {
				if none[k].f("shim_cpu_ms_per_mb") > 0 {
					ratios = append(ratios, logdRow{"r": ten[k].f("shim_cpu_ms_per_mb") / none[k].f("shim_cpu_ms_per_mb")})
				}
				if none[k].f("mb_per_s") > 0 {
					rates = append(rates, logdRow{"r": ten[k].f("mb_per_s") / none[k].f("mb_per_s")})
				}
			}
			if len(rates) > 0 {
				m, lo, hi := stat(rates, key("r"))
				fmt.Fprintf(b, "\nThe task's output rate with 10 followers, over none's, per round: %.2f× (%.2f–%.2f). Followers hold nothing the shim waits for (they read the spool file; the shim writes it whoever reads), but their CPU, in brisk-logd, competes for the same cores as the task.\n", m, lo, hi)
			}
			if len(ratios) > 0 {
				m, lo, hi := stat(ratios, key("r"))
				fmt.Fprintf(b, "\nShim CPU per MB, 10 followers over none, per round: **%.2f×** (%.2f–%.2f); target ≤ %.2f×: %s.\n\n", m, lo, hi, targetFollowCPU, verdict("shim CPU per MB under 10 followers", ratios, "r", targetFollowCPU))
			}
		}
	}
	fmt.Fprintf(b, "Targets met: %d of %d", len(met), len(met)+len(missed))
	if len(missed) > 0 {
		fmt.Fprintf(b, "; not met: %s", strings.Join(missed, "; "))
	}
	b.WriteString(".\n\n")
}
