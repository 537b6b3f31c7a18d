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

echo "== snapshotter operations (go test -bench, $BENCHTIME)" >&2
(cd "$REPO" && TMPDIR=$STACK go test -run XXX -bench . -benchtime "$BENCHTIME" -count 1 ./snapshotter/ 2>/dev/null | grep -E '^Benchmark') | tee "$OUT/go-bench.txt" >&2

echo "== write path inside real containers" >&2
(cd "$REPO" && CGO_ENABLED=0 go build -o "$STACK/fsyncbench" ./hack/fsyncbench)
start_snapshotter 'tmpfs_size = "256Mi"
tmpfs_inodes = 65536
tmpfs_budget = "2Gi"'
start_containerd
MKIMAGE_ARGS="-add /usr/local/bin/fsyncbench=$STACK/fsyncbench" import_image brisk overlayfs

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

(cd "$REPO" && go run ./hack/benchreport -go "$OUT/go-bench.txt" -containers "$OUT/containers.jsonl" \
	-machine "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), disk baseline under $STACK_PARENT on $(findmnt -no FSTYPE -T "$STACK_PARENT")" \
	-out docs/benchmarks.md)
echo "wrote docs/benchmarks.md" >&2
