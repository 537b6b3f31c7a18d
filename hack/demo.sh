#!/usr/bin/env bash
# make demo: a private containerd with the brisk snapshotter, a few
# containers writing files, and where their upperdirs live and what they use.
source "$(dirname "$0")/lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting brisk-snapshotter and a private containerd under $STACK"
start_snapshotter 'tmpfs_size = "64Mi"
tmpfs_inodes = 4096
tmpfs_budget = "1Gi"'
start_containerd
import_image brisk
echo "image $IMAGE unpacked on the brisk snapshotter (layers on the persistent root):"
ctr_ snapshots --snapshotter brisk ls

say "running three containers on --snapshotter brisk"
ctr_ run -d --snapshotter brisk "$IMAGE" small-files sh -c 'mkdir /out; for i in $(seq 1 1000); do echo "line $i" > /out/f$i; done; sleep 600'
ctr_ run -d --snapshotter brisk "$IMAGE" big-file sh -c 'dd if=/dev/zero of=/blob bs=1M count=20 2>/dev/null; sleep 600'
ctr_ run -d --snapshotter brisk --snapshotter-label containerd.io/snapshot/brisk.io/tmpfs.inodes=200 "$IMAGE" inode-hog sleep 600
sleep 1
echo "inode-hog (200-inode label) fills its upper: $(ctr_ tasks exec --exec-id r1 inode-hog sh -c 'i=0; while touch /f$i 2>/tmp/e; do i=$((i+1)); done; echo "$(cat /tmp/e) after $i files"')"

say "where each container's upperdir lives"
for c in small-files big-file inode-hog; do
	up=$(upperdir_of "$c")
	mnt=$(dirname "$up")
	printf '%-12s upperdir=%s\n' "$c" "$up"
	printf '%-12s   on: %s\n' "" "$(grep " $mnt " /proc/self/mountinfo | awk '{print $9, $10, $6, $11}')"
done
echo
echo "small-files still writes: $(ctr_ tasks exec --exec-id r2 small-files sh -c 'echo ok > /out/after && cat /out/after')"

say "usage through containerd (ctr snapshots usage)"
ctr_ snapshots --snapshotter brisk usage small-files big-file inode-hog

say "usage through briskctl (O(1): statfs of each container's tmpfs)"
briskctl --config "$STACK/brisk.toml" usage

say "the snapshotter can die without the containers noticing"
kill -9 "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
echo "brisk-snapshotter killed; small-files writes: $(ctr_ tasks exec --exec-id r3 small-files sh -c 'echo alive > /out/k && cat /out/k')"
brisk-snapshotter --config "$STACK/brisk.toml" >>"$STACK/snapshotter.log" 2>&1 &
PIDS[0]=$!
sleep 0.5
briskctl --config "$STACK/brisk.toml" usage small-files

say "removing the containers releases their tmpfs at once"
for c in small-files big-file inode-hog; do ctr_ tasks kill -s SIGKILL "$c"; done
sleep 0.5
for c in small-files big-file inode-hog; do ctr_ tasks delete "$c" >/dev/null; ctr_ containers delete "$c"; done
sleep 1
echo "tmpfs mounts left under the snapshotter root: $(grep -c " $STACK/brisk/.* - tmpfs brisk" /proc/self/mountinfo || true)"
echo
echo "demo done; the stack is torn down on exit."
