# Shared by demo.sh and bench.sh: a private containerd + brisk-snapshotter
# under $STACK, never the host's, torn down (tasks, daemons, mounts) on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-/opt/brisk/tools}
BIN=${BRISK_BIN_DIR:-$REPO/bin}
export PATH="$BIN:$TOOLS_DIR/bin:$PATH"
NS=brisk-demo

[ "$(id -u)" = 0 ] || { echo "needs root (mounts, containerd, runc)" >&2; exit 1; }
for b in containerd ctr runc brisk-snapshotter briskctl; do
	command -v "$b" >/dev/null || { echo "$b missing: run make tools build" >&2; exit 1; }
done

# STACK_PARENT must be on the disk the baseline should be measured on.
STACK=$(mktemp -d "${STACK_PARENT:-/tmp}/brisk-stack.XXXXXX")
PIDS=()

# containerd 2.2 warns about cgroup v1 on every ctr call; keep other stderr.
ctr_() { ctr --address "$STACK/c.sock" --namespace "$NS" "$@" 2> >(grep -v 'support for cgroup v1 is deprecated' >&2); }

teardown() {
	set +e
	noise_stop
	if [ -S "$STACK/c.sock" ]; then
		for t in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
		sleep 0.3
		for t in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1; done
		for c in $(ctr_ containers list -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1; done
	fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	# Shims and container processes started for this stack.
	pkill -9 -f "$STACK" 2>/dev/null
	grep -o " $STACK[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$STACK"
}
trap teardown EXIT

# A noisy disk neighbour: a process group writing NOISE_MB with dd
# conv=fsync in a loop to a file on the disk under test (STACK_PARENT), as a
# neighbour container on a busy node does. noise_stop ends it (the whole
# group: the loop and its dd).
noise_start() {
	[ -z "${NOISE_PGID:-}" ] || return 0
	setsid bash -c "while :; do dd if=/dev/zero of='$STACK/noise' bs=1M count=${NOISE_MB:-64} conv=fsync status=none; done" </dev/null >/dev/null 2>&1 &
	NOISE_PGID=$!
	sleep "${NOISE_SETTLE:-2}"
}
noise_stop() {
	[ -n "${NOISE_PGID:-}" ] || return 0
	kill -- "-$NOISE_PGID" 2>/dev/null
	while kill -0 -- "-$NOISE_PGID" 2>/dev/null; do sleep 0.05; done
	NOISE_PGID=
	rm -f "$STACK/noise"
}

wait_sock() { for _ in $(seq 1 200); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1" >&2; cat "$2" >&2; exit 1; }

start_snapshotter() { # extra [snapshotter] lines
	METRICS=127.0.0.1:$(( 20000 + RANDOM % 20000 ))
	cat >"$STACK/brisk.toml" <<EOT
[snapshotter]
root = "$STACK/brisk"
address = "$STACK/b.sock"
metrics_address = "$METRICS"
usage_socket = "$STACK/usage.sock"
$1
EOT
	brisk-snapshotter --config "$STACK/brisk.toml" >"$STACK/snapshotter.log" 2>&1 &
	SNAP_PID=$!
	PIDS+=($SNAP_PID)
	wait_sock "$STACK/b.sock" "$STACK/snapshotter.log"
}

start_containerd() { # extra config
	cat >"$STACK/containerd.toml" <<EOT
version = 3
root = "$STACK/containerd/root"
state = "$STACK/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.nri.v1.nri"]
[grpc]
  address = "$STACK/c.sock"
[ttrpc]
  address = "$STACK/c.sock.ttrpc"
[debug]
  address = "$STACK/c-debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STACK/containerd/opt"
[[plugins."io.containerd.transfer.v1.local".unpack_config]]
  platform = "linux/amd64"
  snapshotter = "overlayfs"
[[plugins."io.containerd.transfer.v1.local".unpack_config]]
  platform = "linux/amd64"
  snapshotter = "brisk"
[proxy_plugins.brisk]
  type = "snapshot"
  address = "$STACK/b.sock"
  exports = { root = "$STACK/brisk" }
${1:-}
EOT
	containerd --config "$STACK/containerd.toml" >"$STACK/containerd.log" 2>&1 &
	PIDS+=($!)
	wait_sock "$STACK/c.sock" "$STACK/containerd.log"
	for _ in $(seq 1 100); do ctr_ version >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "containerd did not answer" >&2; tail -20 "$STACK/containerd.log" >&2; exit 1
}

import_image() { # snapshotter... ; extra mkimage args in MKIMAGE_ARGS
	local tar
	tar=$(cd "$REPO" && go run ./hack/mkimage -busybox "$TOOLS_DIR/bin/busybox" -out "$STACK" ${MKIMAGE_ARGS:-})
	for sn in "$@"; do ctr_ images import --snapshotter "$sn" "$tar" >/dev/null 2>&1 || ctr_ images import --snapshotter "$sn" "$tar"; done
	IMAGE=docker.io/local/busybox:latest
}

# MINIO_TMPFS=SIZE keeps MinIO's objects on a tmpfs of that size: MinIO
# stands in for S3, which writes nothing to the node's disks, and on the
# disk under test its writes and fsyncs would queue with the node's own.
start_minio() {
	MINIO_PORT=${MINIO_PORT:-$(( 20000 + RANDOM % 20000 ))}
	if [ -n "${MINIO_TMPFS:-}" ]; then
		mkdir -p "$STACK/minio" && mount -t tmpfs -o "size=$MINIO_TMPFS" brisk-bench-minio "$STACK/minio"
	fi
	export AWS_ACCESS_KEY_ID=briskdemo AWS_SECRET_ACCESS_KEY=briskdemo-secret AWS_REGION=us-east-1
	MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
		minio server "$STACK/minio" --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$((MINIO_PORT + 1))" --quiet >>"$STACK/minio.log" 2>&1 &
	MINIO_PID=$!
	PIDS+=($MINIO_PID)
	for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$MINIO_PORT/minio/health/live" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "minio did not come up" >&2; tail "$STACK/minio.log" >&2; exit 1
}

# write_logs_config BUCKET COMPRESSION: the [logs] section the shim reads
# (containerd passes BRISK_CONFIG on to its shims).
write_logs_config() {
	cat >>"$STACK/brisk.toml" <<EOT
[logs]
spool_dir = "$STACK/spool"
local_dir = "$STACK/logs"
upload_timeout = "10s"
[logs.s3]
bucket = "$1"
endpoint = "http://127.0.0.1:$MINIO_PORT"
path_style = true
compression = "${2:-none}"
EOT
	export BRISK_CONFIG="$STACK/brisk.toml"
}

start_logd() { # brisk-logd on the stack's config, with a token for every namespace
	LOGD_PORT=$(( 20000 + RANDOM % 20000 ))
	LOGD_TOKEN=demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	echo "$LOGD_TOKEN *" >"$STACK/logd.tokens"
	chmod 600 "$STACK/logd.tokens"
	cat >>"$BRISK_CONFIG" <<EOT
[logs.api]
listen = "127.0.0.1:$LOGD_PORT"
socket = "$STACK/logd.sock"
tokens_file = "$STACK/logd.tokens"
EOT
	brisk-logd --config "$BRISK_CONFIG" >"$STACK/logd.log" 2>&1 &
	LOGD_PID=$!
	PIDS+=($LOGD_PID)
	wait_sock "$STACK/logd.sock" "$STACK/logd.log"
	LOGD_URL=http://127.0.0.1:$LOGD_PORT
}

upperdir_of() { # container id -> upperdir of its rootfs overlay
	grep " $STACK/containerd/state/.*/$1/rootfs " /proc/self/mountinfo | grep -o 'upperdir=[^,]*' | cut -d= -f2
}
