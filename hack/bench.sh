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
# 20,000 samples: a p99 over 2,000 is the 20 worst, i.e. whatever ran in one
# millisecond or two.
FSYNCS=${FSYNCS:-20000}
FILES=${FILES:-5000}

# BENCH_ONLY=snapshotter|containers|shim|throughput|logs|stack|profiles|logd|batch,
# or a comma list, runs those parts (for iterating); shim includes
# throughput. Parts named as arguments (./hack/bench.sh logd) are the same.
[ $# -eq 0 ] || BENCH_ONLY=$(IFS=,; echo "$*")
part() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
# Every part but batch runs on the private containerd and snapshotter.
needs_containerd() { part snapshotter || part containers || part shim || part throughput || part logs || part stack || part profiles || part logd; }
mkdir -p "$OUT/batch"
touch "$OUT/go-bench.txt" "$OUT/go-bench-busy.txt" "$OUT/containers.jsonl" "$OUT/shim.jsonl" "$OUT/stack.jsonl" "$OUT/profiles.jsonl" "$OUT/logd.jsonl" "$OUT/batch/batchbench.jsonl"

if part snapshotter; then
echo "== snapshotter operations (go test -bench, $BENCHTIME)" >&2
gobench() { (cd "$REPO" && TMPDIR=$STACK go test -run XXX -bench "${SNAP_BENCH:-.}" -benchtime "$BENCHTIME" -count 1 ./snapshotter/ 2>/dev/null | grep -E '^Benchmark'); }
gobench | tee "$OUT/go-bench.txt" >&2
# The same beside a noisy disk neighbour: every metadata commit is an
# fsync, which queues behind the neighbour's.
echo "   again beside a noisy neighbour (dd bs=1M count=${NOISE_MB:-64} conv=fsync in a loop)" >&2
noise_start
gobench | tee "$OUT/go-bench-busy.txt" >&2
noise_stop
fi

# The shim's logs go to MinIO, whose request counters tell what a task costs.
# Its objects stay off the disk under test (lib.sh, MINIO_TMPFS): with them
# there, each task's upload was MinIO's write and fsync queued beside the
# noisy neighbour's and containerd's, a cost of the benchmark's stand-in
# for S3, not of the node.
MINIO_TMPFS=${MINIO_TMPFS:-8g} MINIO_PROMETHEUS_AUTH_TYPE=public start_minio
if needs_containerd; then
(cd "$REPO" && CGO_ENABLED=0 go build -o "$STACK/fsyncbench" ./hack/fsyncbench && CGO_ENABLED=0 go build -o "$STACK/shimbench" ./hack/shimbench)
start_snapshotter 'tmpfs_size = "256Mi"
tmpfs_inodes = 65536
tmpfs_budget = "16Gi"
share_layers = true
[snapshotter.profiles.brisk-small]
tmpfs_size = "64Mi"
[snapshotter.profiles.brisk-large]
tmpfs_size = "1Gi"'
# The spool on tmpfs, as /run/brisk/spool is on most hosts.
mkdir -p "$STACK/spool" && mount -t tmpfs -o size=1g,mode=0700 brisk-bench-spool "$STACK/spool"
write_logs_config brisk-bench none
# The node's log daemon ships every log the shims hand over.
start_logd
start_containerd "$(sed -e '/^version/d' -e "s|/run/brisk/snapshotter.sock|$STACK/b.sock|; s|/var/lib/brisk-snapshotter|$STACK/brisk|; s|/usr/local/bin/containerd-shim-brisk-v2|$BIN/containerd-shim-brisk-v2|" "$REPO/contrib/containerd/profiles-v3.toml")"
briskctl --config "$BRISK_CONFIG" bucket init >&2
MKIMAGE_ARGS="-add /usr/local/bin/fsyncbench=$STACK/fsyncbench" import_image brisk overlayfs
fi
if part containers; then
echo "== write path inside real containers" >&2
# Every target of one fsyncbench process is measured interleaved, one
# operation on each in turn: a p99 is a few milliseconds' worth of samples,
# and on a shared machine whatever else ran in those milliseconds decides it,
# so targets measured in separate runs differ by 10x for no reason of their
# own (docs/write-path-latency.md). The brisk upper runs beside a plain tmpfs
# mounted in the same container; on the host, an overlay on a tmpfs upper
# (the physical limit of any overlay snapshotter) beside a plain tmpfs.
BENCH_ARGS=(-settle "${SETTLE:-1s}" -fsyncs "$FSYNCS" -files "$FILES")
HOST=$STACK/host-upper
mkdir -p "$HOST/lower" "$HOST/upper" "$HOST/merged" "$HOST/tmpfs"
# As brisk mounts an upper: a sized tmpfs, noatime on it and on the overlay.
mount -t tmpfs -o size=256m,nr_inodes=65536,mode=0755,noatime,nodiratime brisk-bench-host-upper "$HOST/upper"
mkdir "$HOST/upper/fs" "$HOST/upper/work"
mount -t tmpfs -o size=256m,nr_inodes=65536,mode=0755 brisk-bench-host-tmpfs "$HOST/tmpfs"
mount -t overlay overlay -o "noatime,nodiratime,index=off,lowerdir=$HOST/lower,upperdir=$HOST/upper/fs,workdir=$HOST/upper/work" "$HOST/merged"
run_bench() { # snapshotter case
	ctr_ run --rm --snapshotter "$1" "$IMAGE" "bench-$1-$2" fsyncbench "${BENCH_ARGS[@]}" -dir /bench -label "$1-$2" | tee -a "$OUT/containers.jsonl" >&2
}
run_brisk() { # case
	ctr_ run --rm --snapshotter brisk --mount "type=tmpfs,src=tmpfs,dst=/tmpfs,options=rw:size=256m" "$IMAGE" "bench-brisk-$1" \
		fsyncbench "${BENCH_ARGS[@]}" -dir /bench -label "brisk-$1" -dir /tmpfs/bench -label "ctmpfs-$1" | tee -a "$OUT/containers.jsonl" >&2
}
run_host() { # case
	"$STACK/fsyncbench" "${BENCH_ARGS[@]}" -dir "$HOST/merged/bench" -label "hostovl-$1" -dir "$HOST/tmpfs/bench" -label "hosttmpfs-$1" | tee -a "$OUT/containers.jsonl" >&2
	rm -rf "$HOST/merged/bench" "$HOST/tmpfs/bench"
}
for round in $(seq 1 "${WRITE_ROUNDS:-3}"); do
	run_bench overlayfs alone
	run_brisk alone
	run_host alone
done
echo "   starting a noisy neighbour (overlayfs upper on the root disk, write+fsync loop)" >&2
ctr_ run -d --snapshotter overlayfs "$IMAGE" noisy fsyncbench -noisy -dir /noise -max 20m
sleep 2
for round in $(seq 1 "${WRITE_ROUNDS:-3}"); do
	run_bench overlayfs noisy
	run_brisk noisy
	run_host noisy
done
ctr_ tasks kill -s SIGKILL noisy || true
umount "$HOST/merged" && umount "$HOST/upper" "$HOST/tmpfs"

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

if part stack; then
echo "== the whole stack in a burst: runc + overlayfs against the brisk shim + the brisk snapshotter" >&2
# STACK_TASKS tasks started at once, of each kind in STACK_KINDS (print: a
# 300 KB log; write: 1,000 small files and 20 MB to the rootfs, then the
# same log), STACK_ROUNDS rounds of each stack, alternating which goes
# first, alone and beside a noisy disk neighbour (STACK_NOISE). STACK_SPLIT=1
# adds the two mixed stacks (runc + brisk-snapshotter, brisk shim +
# overlayfs), to tell the shim's part from the snapshotter's.
METRICS_URL="http://127.0.0.1:$MINIO_PORT/minio/metrics/v3/api/requests"
S3=(-brisk-config "$BRISK_CONFIG" -minio-metrics "$METRICS_URL" -minio-pid "$MINIO_PID")
compression none
OVL_SNAPS=$STACK/containerd/root/io.containerd.snapshotter.v1.overlayfs/snapshots
# Snapshot directories, without brisk's temporary ones (the spares a
# removed container leaves for the next).
snaps() { echo "$(ls "$STACK/brisk/snapshots" | grep -vc '^new-') $(ls "$OVL_SNAPS" | wc -l)"; }
SNAPS_IDLE=$(snaps)
# Before each burst, the last one's snapshots are gone: containerd removes
# them in its garbage collection, after the client's calls return, and a
# burst must not pay for the one before it. Deleting a lease with --sync
# runs a collection at once, where the scheduler may put the next one off
# for a minute.
settle() {
	local lease
	lease=$(ctr_ leases create | awk '{print $1}')
	ctr_ leases delete --sync "$lease" >/dev/null
	within_a_minute snaps_idle || echo "   warning: snapshots left from the last burst: $(snaps), idle $SNAPS_IDLE" >&2
	# Nor the last burst's shims: a brisk shim stays until brisk-logd took
	# its log, and work left from one stack's burst must not run in the
	# next stack's.
	within_a_minute no_shims || echo "   warning: shims left from the last burst: $(pgrep -cf "$SHIMS")" >&2
	sleep 1
}
# within_a_minute CMD...: true once CMD is, tried every 0.1 s for a minute.
within_a_minute() { for _ in $(seq 1 600); do "$@" && return 0; sleep 0.1; done; return 1; }
snaps_idle() { [ "$(snaps)" = "$SNAPS_IDLE" ]; }
SHIMS="containerd-shim-.* -address $STACK/c.sock"
no_shims() { ! pgrep -f "$SHIMS" >/dev/null; }
stackburst() { # stack kind noise round
	settle
	local args
	case $1 in
	runc) args=(-runtime io.containerd.runc.v2 -snapshotter overlayfs -label runc-overlayfs) ;;
	brisk) args=(-runtime io.containerd.brisk.v2 -snapshotter brisk -label brisk-brisk "${S3[@]}") ;;
	runc-brisk) args=(-runtime io.containerd.runc.v2 -snapshotter brisk -label runc-brisk) ;;
	brisk-overlayfs) args=(-runtime io.containerd.brisk.v2 -snapshotter overlayfs -label brisk-overlayfs "${S3[@]}") ;;
	esac
	"$STACK/shimbench" -address "$STACK/c.sock" -namespace "$NS" -fifo-dir "$STACK/fifo" "${args[@]}" \
		-mode burst -tasks "${STACK_TASKS:-50}" -task "$2" -tag "noise=$3" -tag "round=$4" -tag "noise_mb=${NOISE_MB:-64}" -tag "minio_nice=${STACK_MINIO_NICE:-19}" | tee -a "$OUT/stack.jsonl" >&2
}
# MinIO stands in for S3, which on a node is across the network and spends
# none of the node's CPU; on these cores it would spend about 7 ms of CPU per
# task uploaded, in the middle of the burst (docs/benchmarks.md). At nice 19
# (every thread; new ones inherit it) it takes what the node's own work
# leaves. brisk-logd, which is the node's, keeps its priority.
# STACK_MINIO_NICE=0 measures MinIO as an equal neighbour.
minio_nice() { for t in /proc/"$MINIO_PID"/task/*; do renice -n "$1" -p "${t##*/}" >/dev/null; done; }
minio_nice "${STACK_MINIO_NICE:-19}"
for noise in ${STACK_NOISE:-alone busy}; do
	[ "$noise" = alone ] || { echo "   starting a noisy neighbour (dd bs=1M count=${NOISE_MB:-64} conv=fsync in a loop under $STACK_PARENT)" >&2; noise_start; }
	for kind in ${STACK_KINDS:-print write}; do
		for round in $(seq 1 "${STACK_ROUNDS:-5}"); do
			order="runc brisk"
			[ -z "${STACK_SPLIT:-}" ] || order="runc runc-brisk brisk-overlayfs brisk"
			[ $((round % 2)) = 0 ] && order=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
			for st in $order; do stackburst "$st" "$kind" "$noise" "$round"; done
		done
	done
	noise_stop
done
minio_nice 0
fi

if part profiles; then
echo "== layer sharing: a second profile imports an image the first has (ctr images import)" >&2
# share_layers is read at start: restart the snapshotter to switch it.
share_layers() {
	kill "$SNAP_PID" && while kill -0 "$SNAP_PID" 2>/dev/null; do sleep 0.05; done
	sed -i "s/^share_layers = .*/share_layers = $1/" "$STACK/brisk.toml"
	brisk-snapshotter --config "$STACK/brisk.toml" >>"$STACK/snapshotter.log" 2>&1 &
	SNAP_PID=$!
	PIDS+=($SNAP_PID)
	wait_sock "$STACK/b.sock" "$STACK/snapshotter.log"
}
bytes_on_root() { du -sB1 "$STACK/brisk/snapshots" | cut -f1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mkimg() { # name: an image of busybox and PROFILE_MB of random data
	head -c "$(( ${PROFILE_MB:-64} << 20 ))" /dev/urandom >"$STACK/blob"
	mkdir -p "$STACK/img-$1"
	(cd "$REPO" && go run ./hack/mkimage -busybox "$TOOLS_DIR/bin/busybox" -out "$STACK/img-$1" -name "docker.io/local/$1:latest" -add "/data/blob=$STACK/blob")
}
for round in $(seq 1 "${PROFILE_ROUNDS:-5}"); do
	# Alternate which goes first, so that a slow spell of the machine does
	# not land on one side only.
	order="true false"
	[ $((round % 2)) = 0 ] && order="false true"
	for share in $order; do
		share_layers "$share"
		# A new image each time, so that every first unpack is real. Each
		# import reads and hashes the whole tarball into the content store;
		# a third, with --no-unpack, times that part alone.
		tar=$(mkimg "share-$share-$round")
		b0=$(bytes_on_root); t0=$(now)
		ctr_ images import --snapshotter brisk-small "$tar" >/dev/null
		t1=$(now); b1=$(bytes_on_root); t1b=$(now)
		ctr_ images import --snapshotter brisk-large "$tar" >/dev/null
		t2=$(now); b2=$(bytes_on_root); t2b=$(now)
		ctr_ images import --no-unpack "$tar" >/dev/null
		t3=$(now)
		printf '{"share":%s,"round":%d,"layer_mb":%d,"first_import_s":%s,"first_bytes":%d,"second_import_s":%s,"second_bytes":%d,"ingest_s":%s}\n' \
			"$share" "$round" "${PROFILE_MB:-64}" "$(secs "$t0" "$t1")" $(( b1 - b0 )) "$(secs "$t1b" "$t2")" $(( b2 - b1 )) "$(secs "$t2b" "$t3")" \
			| tee -a "$OUT/profiles.jsonl" >&2
		rm -rf "$STACK"/img-* "$STACK/blob"
	done
done
fi

if part logd; then
echo "== the node log API (brisk-logd): first byte, a printed line to a follower, lookups over 100 peers, the shim under followers" >&2
(cd "$REPO" && CGO_ENABLED=0 go build -o "$STACK/logdbench" ./hack/logdbench)
# Three brisk-logd processes stand for three nodes (and, for the lookups,
# one whose peers are 100 simulated nodes), each with its own config, port,
# spool and tokens file; their store is the MinIO above. The spools on a
# tmpfs, as /run/brisk/spool is.
mkdir -p "$STACK/logd" "$STACK/logd-spools"
mount -t tmpfs -o size=256m,mode=0700 brisk-bench-logd "$STACK/logd-spools"
LOGDBENCH=(-logd "$BIN/brisk-logd" -spool-root "$STACK/logd-spools" -s3-endpoint "http://127.0.0.1:$MINIO_PORT" -bucket brisk-bench)
for round in $(seq 1 "${LOGD_ROUNDS:-3}"); do
	"$STACK/logdbench" api "${LOGDBENCH[@]}" -dir "$STACK/logd/api-$round" -label "round-$round" | tee -a "$OUT/logd.jsonl" >&2
	"$STACK/logdbench" fanout "${LOGDBENCH[@]}" -dir "$STACK/logd/fanout-$round" -label "round-$round" | tee -a "$OUT/logd.jsonl" >&2
done
# The shim under followers: the node's brisk-logd (start_logd), over the
# shims' own spool, 10 followers on one task against none. The whole log
# stays in the spool's head (max_bytes above twice it), so that the
# followers read all of it while the task writes.
LOGD_ADDR=127.0.0.1:$LOGD_PORT
echo "$LOGD_TOKEN" >"$STACK/logd-tokens"
max_bytes 128Mi
followed() { # followers
	"$STACK/shimbench" -address "$STACK/c.sock" -namespace "$NS" -fifo-dir "$STACK/fifo" "${BRISK[@]}" -mode follow -rounds 1 -mb "${FOLLOW_MB:-50}" \
		-followers "$1" -logd "http://$LOGD_ADDR" -logd-token-file "$STACK/logd-tokens" -logd-pid "$LOGD_PID" | tee -a "$OUT/logd.jsonl" >&2
}
for round in $(seq 1 "${FOLLOW_ROUNDS:-7}"); do
	# Alternate which goes first, so that a slow spell of the machine
	# does not land on one side only.
	if [ $((round % 2)) = 1 ]; then followed 0; followed 10; else followed 10; followed 0; fi
done
max_bytes ""
fi

if part batch; then
echo "== batch mode: what it costs (S3 requests per task, lookup by ID, exit to findable), beside per-task upload" >&2
(cd "$REPO" && CGO_ENABLED=0 go build -o "$STACK/batchbench" ./hack/batchbench)
# BATCH_NODES brisk-logd processes stand for as many nodes, each at the
# seed's 3 tasks/s a node (300 tasks/s over 100 nodes): 10 is what the
# 2 cores take beside MinIO. Their spools on a tmpfs, as /run/brisk/spool
# is; each mode a bucket of its own on the MinIO above.
mkdir -p "$STACK/batch" "$STACK/batch-spools"
mount -t tmpfs -o size=1g,mode=0700 brisk-bench-batch "$STACK/batch-spools"
"$STACK/batchbench" -logd "$BIN/brisk-logd" -s3-endpoint "http://127.0.0.1:$MINIO_PORT" -minio-pid "$MINIO_PID" \
	-spool-root "$STACK/batch-spools" -dir "$STACK/batch" -nodes "${BATCH_NODES:-10}" \
	-warmup "${BATCH_WARMUP:-30s}" -duration "${BATCH_DURATION:-150s}" -lookups "${BATCH_LOOKUPS:-200}" \
	2> >(tee "$OUT/batch/batchbench.log" >&2) | tee -a "$OUT/batch/batchbench.jsonl" >&2
# What a lookup reads from the index at the seed's scale: an hour of 100
# nodes' batches indexed by the compactor in-process (logs/index).
(cd "$REPO" && go test -run XXX -bench FindAtSeedScale -benchtime "${BATCH_INDEX_FINDS:-5}x" ./logs/index/ 2>/dev/null | grep -E '^Benchmark') | tee "$OUT/batch/index-seed-scale.txt" >&2
# What the daemons said, where they said anything.
for f in "$STACK"/batch/*/node-*/logd.log; do
	if [ -s "$f" ]; then cp "$f" "$OUT/batch/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$(dirname "$f")").log"; fi
done
fi

# A partial run (BENCH_ONLY) reports beside itself, never over the full
# report in docs/.
REPORT_DIR=$REPO/docs
[ -z "${BENCH_ONLY:-}" ] || REPORT_DIR=${BENCH_PARTIAL_DIR:-$STACK_PARENT/brisk-bench-partial}
mkdir -p "$REPORT_DIR"
(cd "$REPO" && go run ./hack/benchreport -go "$OUT/go-bench.txt" -go-busy "$OUT/go-bench-busy.txt" -stack "$OUT/stack.jsonl" -containers "$OUT/containers.jsonl" -shim "$OUT/shim.jsonl" -profiles "$OUT/profiles.jsonl" -logd "$OUT/logd.jsonl" -batch "$OUT/batch/batchbench.jsonl" -batch-index "$OUT/batch/index-seed-scale.txt" \
	-machine "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), disk baseline under $STACK_PARENT on $(findmnt -no FSTYPE -T "$STACK_PARENT")" \
	-out "$REPORT_DIR/benchmarks.md")
# The raw measurements stay beside the report, so every figure can be traced.
rm -rf "$REPORT_DIR/bench-raw" && cp -r "$OUT" "$REPORT_DIR/bench-raw"
echo "wrote $REPORT_DIR/benchmarks.md and $REPORT_DIR/bench-raw/" >&2
