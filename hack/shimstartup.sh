#!/usr/bin/env bash
# Measurements behind docs/shim-startup.md (issue 15): runc.v2 beside
# brisk.v2 on one private containerd (debug log level, so that shims log with
# their own timestamps), MinIO and the spool on tmpfs, as make bench has them.
#   1. bursts of BURST tasks (default 20), ROUNDS rounds (default 3), the
#      order of the runtimes alternating from round to round;
#   2. single tasks (-mode burst -tasks 1), SINGLES of each (default 7):
#      the process's exit to the client's status;
#   3. task.Metrics beside task.Status on a running task of each runtime
#      (the cgroup read brisk makes at every exit before it shows the exit);
#   4. hack/shimphases: the steps brisk adds (config, spool entry, FIFOs, S3
#      client, first PUT), each in a fresh process;
#   5. one task of each runtime with containerd (and every shim and runc it
#      starts) under strace -f -tt, for a timeline of each shim's start;
#   6. hack/shiminit (Go init of each shim binary) and hack/shimlog (the
#      intervals containerd's debug log shows per task).
# Raw output goes to OUT (default /var/tmp/brisk-shimstartup), the tables to
# OUT/summary.md.
export STACK_PARENT=${STACK_PARENT:-/var/tmp}
source "$(dirname "$0")/lib.sh"
OUT=${OUT:-/var/tmp/brisk-shimstartup}
rm -rf "$OUT" && mkdir -p "$OUT"
# Shims log at debug level, with their own timestamps, into containerd's log.
containerd() { command containerd --log-level debug "$@"; }

(cd "$REPO" && for t in shimbench shimphases shimlog shiminit; do CGO_ENABLED=0 go build -o "$STACK/$t" ./hack/$t; done)
MINIO_PROMETHEUS_AUTH_TYPE=public start_minio
start_snapshotter ''
mkdir -p "$STACK/spool" && mount -t tmpfs -o size=1g,mode=0700 brisk-bench-spool "$STACK/spool"
write_logs_config brisk-bench none
start_containerd ""
briskctl --config "$BRISK_CONFIG" bucket init >&2
import_image overlayfs
mkdir -p "$STACK/fifo"
shimbench() { "$STACK/shimbench" -address "$STACK/c.sock" -namespace "$NS" -fifo-dir "$STACK/fifo" "$@"; }
RUNC=(-runtime io.containerd.runc.v2 -label runc)
BRISK=(-runtime io.containerd.brisk.v2 -label brisk -brisk-config "$BRISK_CONFIG")

echo "== bursts of ${BURST:-20}" >&2
for round in $(seq 1 "${ROUNDS:-3}"); do
	if [ $((round % 2)) = 1 ]; then order="RUNC BRISK"; else order="BRISK RUNC"; fi
	for rt in $order; do
		declare -n args=$rt
		shimbench "${args[@]}" -mode burst -tasks "${BURST:-20}" | tee -a "$OUT/burst.jsonl" >&2
	done
done

echo "== single tasks" >&2
for round in $(seq 1 "${SINGLES:-7}"); do
	shimbench "${RUNC[@]}" -mode burst -tasks 1 | tee -a "$OUT/single.jsonl" >&2
	shimbench "${BRISK[@]}" -mode burst -tasks 1 | tee -a "$OUT/single.jsonl" >&2
done

echo "== Metrics (cgroup read) beside Status on a running task" >&2
for round in $(seq 1 "${SINGLES:-7}"); do
	shimbench "${RUNC[@]}" -mode metrics -rounds 20 | tee -a "$OUT/metrics.jsonl" >&2
	shimbench "${BRISK[@]}" -mode metrics -rounds 20 | tee -a "$OUT/metrics.jsonl" >&2
done

if [ -n "${PERF:-}" ]; then
	# CPU of the shim binaries (all three execs of each task) over PERF_TASKS
	# single tasks of each runtime, sampled system-wide; perf names both
	# shims' comm "containerd-shim", so split by the binary (dso).
	echo "== perf: ${PERF_TASKS:-10} single tasks of each runtime" >&2
	for rt in RUNC BRISK; do
		declare -n args=$rt
		perf record -q -F 4999 -g -a -o "$OUT/perf-$rt.data" -- \
			bash -c "for i in \$(seq 1 ${PERF_TASKS:-10}); do \"$STACK/shimbench\" -address $STACK/c.sock -namespace $NS -fifo-dir $STACK/fifo ${args[*]} -label ${rt,,}perf -mode burst -tasks 1 >/dev/null; done" 2>/dev/null
		perf report -i "$OUT/perf-$rt.data" --no-children --sort comm,dso --stdio -g none -n 2>/dev/null | grep -v '^#' | grep . | head -25 >"$OUT/perf-$rt-comm.txt" || true
		perf report -i "$OUT/perf-$rt.data" --no-children --comm containerd-shim --sort dso,sym --stdio -g none -n 2>/dev/null |
			python3 "$REPO/hack/perf-shim-categories.py" 4999 "${PERF_TASKS:-10}" >"$OUT/perf-$rt-categories.md" || true
	done
fi

echo "== the steps brisk adds, each in a fresh process" >&2
"$STACK/shimphases" -config "$BRISK_CONFIG" -n 21 -put | tee "$OUT/phases.md" >&2

echo "== one task of each under strace" >&2
CPID=$(pgrep -f "containerd --log-level debug --config $STACK/containerd.toml" | head -1)
for rt in RUNC BRISK; do
	declare -n args=$rt
	strace -f -tt -qq -p "$CPID" -o "$OUT/strace-$rt.txt" \
		-e trace=execve,openat,mknodat,connect,exit_group,wait4,renameat,renameat2 &
	SPID=$!
	sleep 1
	# A label of its own: hack/shimlog leaves these traced tasks out.
	shimbench "${args[@]}" -label "${rt,,}strace" -mode burst -tasks 1 | tee -a "$OUT/strace-single.jsonl" >&2
	sleep 1
	kill "$SPID"; wait "$SPID" || true
done
cp "$STACK/containerd.log" "$OUT/containerd.log"
{
	"$STACK/shiminit" -n 21 "runc=$(command -v containerd-shim-runc-v2)" "brisk=$BIN/containerd-shim-brisk-v2"
	echo
	echo "## Intervals in containerd's debug log"
	echo
	"$STACK/shimlog" "$OUT/containerd.log"
	echo
	for rt in RUNC BRISK; do
		echo "## strace timeline, $rt (ms after the shim's execve; strace slows every system call)"
		echo
		echo "| milestone | ms |"
		echo "|---|---:|"
		python3 "$REPO/hack/strace-timeline.py" "$OUT/strace-$rt.txt"
		echo
	done
	echo "## Steps brisk adds, each in a fresh process"
	echo
	cat "$OUT/phases.md"
} >"$OUT/summary.md"
echo "raw results and summary.md in $OUT" >&2
