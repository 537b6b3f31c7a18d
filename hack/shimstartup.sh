#!/usr/bin/env bash
# Measurements behind docs/shim-startup.md (issue 15): runc.v2 beside
# brisk.v2 on one private containerd (debug log level, so that shims log with
# their own timestamps), MinIO and the spool on tmpfs, as make bench has them.
#   1. bursts of BURST tasks (default 20), ROUNDS rounds (default 3), the
#      order of the runtimes alternating from round to round;
#   2. single tasks (-mode burst -tasks 1), SINGLES of each (default 7):
#      the process's exit to the client's status;
#   3. one task of each runtime with containerd (and every shim and runc it
#      starts) under strace -f -tt, for a timeline of each shim's start.
# Raw output goes to OUT (default /var/tmp/brisk-shimstartup).
export STACK_PARENT=${STACK_PARENT:-/var/tmp}
source "$(dirname "$0")/lib.sh"
OUT=${OUT:-/var/tmp/brisk-shimstartup}
rm -rf "$OUT" && mkdir -p "$OUT"
# Shims log at debug level, with their own timestamps, into containerd's log.
containerd() { command containerd --log-level debug "$@"; }

(cd "$REPO" && CGO_ENABLED=0 go build -o "$STACK/shimbench" ./hack/shimbench)
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

echo "== one task of each under strace" >&2
CPID=$(pgrep -f "containerd --log-level debug --config $STACK/containerd.toml" | head -1)
for rt in RUNC BRISK; do
	declare -n args=$rt
	strace -f -tt -qq -p "$CPID" -o "$OUT/strace-$rt.txt" \
		-e trace=execve,openat,mknodat,connect,exit_group,wait4,renameat,renameat2 &
	SPID=$!
	sleep 1
	shimbench "${args[@]}" -mode burst -tasks 1 | tee -a "$OUT/strace-single.jsonl" >&2
	sleep 1
	kill "$SPID"; wait "$SPID" || true
done
cp "$STACK/containerd.log" "$OUT/containerd.log"
echo "raw results in $OUT" >&2
