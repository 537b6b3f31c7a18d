#!/usr/bin/env bash
# Installs the pinned real components Brisk is tested and demonstrated against into TOOLS_DIR,
# reusing whatever is already there at the right version. Everything comes from the Go module proxy
# and Debian's packages, so it works on a fresh machine with no other network access.
set -euo pipefail

TOOLS_DIR=${TOOLS_DIR:-/opt/brisk/tools}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.2.1}
RUNC_VERSION=${RUNC_VERSION:-v1.5.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
WITH_MINIO=${WITH_MINIO:-1}

mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/stamps"
export GOBIN="$TOOLS_DIR/bin" GOFLAGS="${GOFLAGS:-} -buildvcs=false"

log() { printf 'tools: %s\n' "$*" >&2; }

# have NAME VERSION: true when NAME was installed at VERSION by this script before.
have() { [ -x "$TOOLS_DIR/bin/$1" ] && [ "$(cat "$TOOLS_DIR/stamps/$1" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$TOOLS_DIR/stamps/$1"; }

apt_install() {
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock || true)" ] || ! apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; then
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
	fi
}

apt_install libseccomp-dev pkg-config busybox-static xfsprogs util-linux e2fsprogs curl

if ! have containerd "$CONTAINERD_VERSION" || ! have ctr "$CONTAINERD_VERSION" || ! have containerd-shim-runc-v2 "$CONTAINERD_VERSION"; then
	log "containerd $CONTAINERD_VERSION"
	CGO_ENABLED=1 go install -tags no_btrfs \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
	for b in containerd ctr containerd-shim-runc-v2; do stamp $b "$CONTAINERD_VERSION"; done
fi

if ! have runc "$RUNC_VERSION"; then
	log "runc $RUNC_VERSION"
	CGO_ENABLED=1 go install -tags seccomp "github.com/opencontainers/runc@$RUNC_VERSION"
	stamp runc "$RUNC_VERSION"
fi

if ! have crictl "$CRICTL_VERSION"; then
	log "crictl $CRICTL_VERSION"
	go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
	stamp crictl "$CRICTL_VERSION"
fi

if [ "$WITH_MINIO" = 1 ] && ! have minio "$MINIO_VERSION"; then
	log "minio $MINIO_VERSION (about 150 s)"
	go install "github.com/minio/minio@$MINIO_VERSION"
	stamp minio "$MINIO_VERSION"
fi

cp -f /bin/busybox "$TOOLS_DIR/bin/busybox" 2>/dev/null || true
log "ready in $TOOLS_DIR/bin"
