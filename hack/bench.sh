#!/usr/bin/env bash
# make bench: brisk against containerd's built-in overlayfs snapshotter, side
# by side in one run on one machine; writes docs/benchmarks.md.
# Everything disk-based runs under /var/tmp: on the machine kind this was
# written on, file creation under /tmp is ~15x slower than elsewhere on the
# same ext4 filesystem, which would flatter Brisk's numbers.
export STACK_PARENT=${STACK_PARENT:-/var/tmp}
source "$(dirname "$0")/lib.sh"

OUT=$STACK/results
mkdir -p "$OUT"
BENCHTIME=${BENCHTIME:-300x}
FSYNCS=${FSYNCS:-2000}
FILES=${FILES:-5000}

# BENCH_ONLY=snapshotter|containers|shim|throughput|logs, or a comma list,
# runs those parts (for iterating); shim includes throughput.
part() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
touch "$OUT/go-bench.txt" "$OUT/containers.jsonl" "$OUT/shim.jsonl"

if part snapshotter; then
echo "== snapshotter operations (go test -bench, $BENCHTIME)" >&2
(cd "$REPO" && TMPDIR=$STACK go test -run XXX -bench . -benchtime "$BENCHTIME" -count 1 ./snapshotter/ 2>/dev/null | grep -E '^Benchmark') | tee "$OUT/go-bench.txt" >&2
fi

(cd "$REPO" && CGO_ENABLED=0 go build -o "$STACK/fsyncbench" ./hack/fsyncbench && CGO_ENABLED=0 go build -o "$STACK/shimbench" ./hack/shimbench)
# The shim's logs go to MinIO, whose request counters tell what a task costs.
MINIO_PROMETHEUS_AUTH_TYPE=public start_minio
start_snapshotter 'tmpfs_size = "256Mi"
tmpfs_inodes = 65536
tmpfs_budget = "2Gi"'
# The spool on tmpfs, as /run/brisk/spool is on most hosts.
mkdir -p "$STACK/spool" && mount -t tmpfs -o size=1g,mode=0700 brisk-bench-spool "$STACK/spool"
write_logs_config brisk-bench none
start_containerd
briskctl --config "$BRISK_CONFIG" bucket init >&2
MKIMAGE_ARGS="-add /usr/local/bin/fsyncbench=$STACK/fsyncbench" import_image brisk overlayfs
if part containers; then
echo "== write path inside real containers" >&2

run_bench() { # snapshotter label
	ctr_ run --rm --snapshotter "$1" "$IMAGE" "bench-$2" fsyncbench -label "$2" -fsyncs "$FSYNCS" -files "$FILES" -dir /bench | tee -a "$OUT/containers.jsonl" >&2
}
for round in 1 2; do
	run_bench overlayfs "overlayfs-alone"
	run_bench brisk "brisk-alone"
done
echo "   starting a noisy neighbour (overlayfs upper on the root disk, write+fsync loop)" >&2
ctr_ run -d --snapshotter overlayfs "$IMAGE" noisy fsyncbench -noisy -dir /noise -max 20m
sleep 2
for round in 1 2; do
	run_bench overlayfs "overlayfs-noisy"
	run_bench brisk "brisk-noisy"
done
ctr_ tasks kill -s SIGKILL noisy || true

fi

mkdir -p "$STACK/fifo"
shimbench() { "$STACK/shimbench" -address "$STACK/c.sock" -namespace "$NS" -fifo-dir "$STACK/fifo" "$@" | tee -a "$OUT/shim.jsonl" >&2; }
RUNC=(-runtime io.containerd.runc.v2 -label runc)
BRISK=(-runtime io.containerd.brisk.v2 -label brisk)
# Shims read the config when they start: a setting changed here holds for
# the tasks started after.
compression() { sed -i "s/^compression = .*/compression = \"$1\"/" "$BRISK_CONFIG"; }
max_bytes() { sed -i '/^max_bytes = /d' "$BRISK_CONFIG"; [ -z "$1" ] || sed -i "s/^upload_timeout = .*/&\nmax_bytes = \"$1\"/" "$BRISK_CONFIG"; }
if part shim || part throughput; then
echo "== shims: io.containerd.runc.v2 vs io.containerd.brisk.v2 (same snapshotter: overlayfs)" >&2
for round in $(seq 1 "${THROUGHPUT_ROUNDS:-3}"); do
	shimbench "${RUNC[@]}" -mode throughput -rounds 1 -mb "${SHIM_MB:-200}"
	shimbench "${BRISK[@]}" -mode throughput -rounds 1 -mb "${SHIM_MB:-200}"
done
fi

if part logs; then
echo "== the log path: a 16 MiB log shipped, and the output shapes that cost the spool most" >&2
# The whole log ships: max_bytes above its records.
max_bytes 32Mi
for round in 1 2 3; do
	shimbench "${RUNC[@]}" -mode ship -rounds 1 -mb 16
	compression none
	shimbench "${BRISK[@]}" -mode ship -rounds 1 -mb 16
	compression gzip
	shimbench -runtime io.containerd.brisk.v2 -label brisk-gzip -mode ship -rounds 1 -mb 16
done
compression none
# Each shape writes 16 to 25 times max_bytes (the one-byte writes: a
# million 40-byte records).
max_bytes 4Mi
for shape in empty-lines one-line binary tiny-writes; do
	shimbench "${RUNC[@]}" -mode shape -shape "$shape"
	shimbench "${BRISK[@]}" -mode shape -shape "$shape" -spool-dir "$STACK/spool" -brisk-config "$BRISK_CONFIG"
done
max_bytes ""
fi

if part shim; then
for round in $(seq 1 "${START_ROUNDS:-10}"); do
	shimbench "${RUNC[@]}" -mode start -rounds 1
	shimbench "${BRISK[@]}" -mode start -rounds 1
done
METRICS_URL="http://127.0.0.1:$MINIO_PORT/minio/metrics/v3/api/requests"
S3=(-brisk-config "$BRISK_CONFIG" -minio-metrics "$METRICS_URL" -minio-pid "$MINIO_PID")
# Five rounds: bursts on this machine kind vary by seconds from one to the
# next (it has shown 30 s VM-level stalls, "workqueue lockup" in dmesg); the
# median of five shrugs off two bad ones.
for round in $(seq 1 "${BURST_ROUNDS:-5}"); do
	shimbench "${RUNC[@]}" -mode burst -tasks "${BURST:-100}"
	compression none
	shimbench "${BRISK[@]}" -mode burst -tasks "${BURST:-100}" "${S3[@]}"
	compression gzip
	shimbench -runtime io.containerd.brisk.v2 -label brisk-gzip -mode burst -tasks "${BURST:-100}" "${S3[@]}"
done
# Exits shown before a consumer took all output, and other shim warnings.
grep -E 'level=(warning|error)' "$STACK/containerd.log" | grep -v 'cgroup v1 is deprecated' > "$OUT/containerd-warnings.log" || true
fi

# A partial run (BENCH_ONLY) reports beside itself, never over the full
# report in docs/.
REPORT_DIR=$REPO/docs
[ -z "${BENCH_ONLY:-}" ] || REPORT_DIR=${BENCH_PARTIAL_DIR:-$STACK_PARENT/brisk-bench-partial}
mkdir -p "$REPORT_DIR"
(cd "$REPO" && go run ./hack/benchreport -go "$OUT/go-bench.txt" -containers "$OUT/containers.jsonl" -shim "$OUT/shim.jsonl" \
	-machine "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), disk baseline under $STACK_PARENT on $(findmnt -no FSTYPE -T "$STACK_PARENT")" \
	-out "$REPORT_DIR/benchmarks.md")
# The raw measurements stay beside the report, so every figure can be traced.
rm -rf "$REPORT_DIR/bench-raw" && cp -r "$OUT" "$REPORT_DIR/bench-raw"
echo "wrote $REPORT_DIR/benchmarks.md and $REPORT_DIR/bench-raw/" >&2
