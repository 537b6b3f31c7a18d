#!/usr/bin/env bash
# Installs the pinned real components Brisk is tested and demonstrated against into TOOLS_DIR,
# reusing whatever is already there at the right version. Everything comes from the Go module proxy
# and Debian's packages, so it works on a fresh machine with no other network access.
#
# The first run builds containerd, runc, crictl and MinIO from source: it says so, and roughly how
# long, before it starts. Independent builds run in two lanes at once (on 2 cores the downloads of
# one overlap the compiling of the other); each build's output goes to TOOLS_DIR/logs/NAME.log and
# each step prints its time. DRY_RUN=1 prints the plan and builds nothing.
set -euo pipefail

TOOLS_DIR=${TOOLS_DIR:-/opt/brisk/tools}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.2.1}
RUNC_VERSION=${RUNC_VERSION:-v1.5.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
WITH_MINIO=${WITH_MINIO:-1}
WITH_CHROMIUM=${WITH_CHROMIUM:-1}
DRY_RUN=${DRY_RUN:-0}

mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/stamps" "$TOOLS_DIR/logs"
export GOBIN="$TOOLS_DIR/bin" GOFLAGS="${GOFLAGS:-} -buildvcs=false"

if [ -t 2 ]; then BOLD=$'\033[1m' RED=$'\033[31m' OFF=$'\033[0m'; else BOLD='' RED='' OFF=''; fi
START=$SECONDS
log() { printf 'tools [%3ds]: %s\n' "$((SECONDS - START))" "$*" >&2; }

# have NAME VERSION: true when NAME was installed at VERSION by this script before.
have() { [ -x "$TOOLS_DIR/bin/$1" ] && [ "$(cat "$TOOLS_DIR/stamps/$1" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$TOOLS_DIR/stamps/$1"; }

apt_install() {
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	[ "$DRY_RUN" = 1 ] && return 0
	if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock || true)" ] || ! apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; then
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
	fi
}

# Each tool: the binaries it installs, its version, a rough first-build time on 2 cores (downloads
# included, nothing else running), and how to build it.
build_containerd() {
	CGO_ENABLED=1 go install -tags no_btrfs \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
}
build_runc() { CGO_ENABLED=1 go install -tags seccomp "github.com/opencontainers/runc@$RUNC_VERSION"; }
build_crictl() { go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"; }
build_minio() { go install "github.com/minio/minio@$MINIO_VERSION"; }

declare -A BINS=([containerd]="containerd ctr containerd-shim-runc-v2" [runc]=runc [crictl]=crictl [minio]=minio)
declare -A VERSION=([containerd]=$CONTAINERD_VERSION [runc]=$RUNC_VERSION [crictl]=$CRICTL_VERSION [minio]=$MINIO_VERSION)
declare -A MINUTES=([containerd]=6 [runc]=2 [crictl]=3 [minio]=5)

needed() { # TOOL: true when one of its binaries is missing or at another version
	local b
	for b in ${BINS[$1]}; do have "$b" "${VERSION[$1]}" || return 0; done
	return 1
}

# build TOOL: build it with its output in its log, stamp its binaries, print its time.
build() {
	local t=$1 t0=$SECONDS b
	log "$t ${VERSION[$t]}: building (log: $TOOLS_DIR/logs/$t.log)"
	[ "$DRY_RUN" = 1 ] && { log "$t: dry run, not built"; return 0; }
	if ! "build_$t" >"$TOOLS_DIR/logs/$t.log" 2>&1; then
		printf '%stools: %s failed; the end of its log:%s\n' "$RED" "$t" "$OFF" >&2
		tail -20 "$TOOLS_DIR/logs/$t.log" >&2
		return 1
	fi
	for b in ${BINS[$t]}; do stamp "$b" "${VERSION[$t]}"; done
	log "$t ${VERSION[$t]}: done in $((SECONDS - t0)) s"
}

# lane TOOL...: install the tools in turn (a lane's builds share the CPU with the other lane's).
lane() { local t; for t in "$@"; do build "$t" || return 1; done; }

todo=()
for t in containerd runc crictl minio; do
	[ "$t" = minio ] && [ "$WITH_MINIO" != 1 ] && continue
	needed "$t" && todo+=("$t")
done

if [ ${#todo[@]} -eq 0 ]; then
	log "containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, crictl $CRICTL_VERSION$([ "$WITH_MINIO" = 1 ] && echo ", MinIO") already in $TOOLS_DIR/bin"
else
	total=0
	for t in "${todo[@]}"; do total=$((total + MINUTES[$t])); done
	printf '%stools: building %s from source with Go into %s.%s\n' "$BOLD" "${todo[*]}" "$TOOLS_DIR/bin" "$OFF" >&2
	printf 'tools: this happens once; expect about %d-%d minutes on 2 cores (longer while other builds run).\n' \
		"$((total / 2))" "$((total + total / 2))" >&2
	printf 'tools: later runs reuse them. Progress below; full output in %s/logs.\n' "$TOOLS_DIR" >&2
fi

# jq: hack/batch-read-example.sh (docs/batch-format.md's worked example, which a test runs).
apt_install libseccomp-dev pkg-config busybox-static xfsprogs util-linux e2fsprogs curl jq
# The log page's tests drive a real headless browser: Debian's chromium (148 on Debian 12 when this
# was written; Debian's security updates move it, so it is not pinned). About 30 s and 300 MB.
if [ "$WITH_CHROMIUM" = 1 ] && [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi

# Two lanes: the cgo builds (containerd, then runc) and the pure-Go ones (crictl, then MinIO, the
# largest download). Go already compiles packages in parallel, so more lanes would only add
# memory pressure on a small machine.
lane_a=() lane_b=()
for t in "${todo[@]}"; do
	case $t in containerd | runc) lane_a+=("$t") ;; *) lane_b+=("$t") ;; esac
done
pids=()
[ ${#lane_a[@]} -gt 0 ] && { lane "${lane_a[@]}" & pids+=($!); }
[ ${#lane_b[@]} -gt 0 ] && { lane "${lane_b[@]}" & pids+=($!); }
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ "$failed" = 0 ] || { printf '%stools: a build failed (see above); rerun make tools to retry it alone%s\n' "$RED" "$OFF" >&2; exit 1; }

[ "$DRY_RUN" = 1 ] || cp -f /bin/busybox "$TOOLS_DIR/bin/busybox" 2>/dev/null || true
log "ready in $TOOLS_DIR/bin"
