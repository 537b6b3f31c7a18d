#!/usr/bin/env bash
# make demo: a private containerd with the brisk snapshotter, a few
# containers writing files, and where their upperdirs live and what they use.
source "$(dirname "$0")/lib.sh"

# Bold headings on a terminal only: the demo's output is often kept in a log.
if [ -t 1 ]; then BOLD=$'\033[1m' OFF=$'\033[0m'; else BOLD='' OFF=''; fi
DEMO_START=$SECONDS
STEP_START=$SECONDS
# say HEADING: ends the previous step with its time, starts the next.
say() {
	if [ -n "${STEP:-}" ]; then printf '   (step took %d s)\n' "$((SECONDS - STEP_START))"; fi
	STEP=$1 STEP_START=$SECONDS
	printf '\n%s== [%3ds] %s%s\n' "$BOLD" "$((SECONDS - DEMO_START))" "$*" "$OFF"
}

echo "demo: under a minute once the tools are built: MinIO, brisk-snapshotter, brisk-logd and containerd in $STACK, a few containers,"
echo "demo: briskctl doctor and top on them, task logs to S3 and back, a task followed live. The host's containerd is not touched."

say "starting MinIO, brisk-snapshotter, brisk-logd and a private containerd under $STACK"
start_minio
start_snapshotter 'tmpfs_size = "64Mi"
tmpfs_inodes = 4096
tmpfs_budget = "1Gi"'
write_logs_config brisk-demo-logs gzip
start_logd
start_containerd
briskctl --config "$BRISK_CONFIG" bucket init
import_image brisk
say "briskctl doctor: is this node set up as the playbook says? (docs/playbook.md)"
# The demo's spool lives under $STACK, on disk: doctor says so (WARN); no FAIL is expected.
briskctl --config "$BRISK_CONFIG" doctor --address "$STACK/c.sock" || echo "doctor found a FAIL (above)"
echo
echo "image $IMAGE unpacked on the brisk snapshotter (layers on the persistent root):"
ctr_ snapshots --snapshotter brisk ls

say "running three containers on --snapshotter brisk"
ctr_ run -d --snapshotter brisk "$IMAGE" small-files sh -c 'mkdir /out; for i in $(seq 1 1000); do echo "line $i" > /out/f$i; done; sleep 600'
ctr_ run -d --snapshotter brisk "$IMAGE" big-file sh -c 'dd if=/dev/zero of=/blob bs=1M count=20 2>/dev/null; sleep 600'
ctr_ run -d --snapshotter brisk --snapshotter-label containerd.io/snapshot/brisk.io/tmpfs.inodes=200 "$IMAGE" inode-hog sleep 600
sleep 1
echo "inode-hog (200-inode label) fills its upper: $(ctr_ tasks exec --exec-id r1 inode-hog sh -c 'i=0; while touch /f$i 2>/tmp/e; do i=$((i+1)); done; echo "$(cat /tmp/e) after $i files"')"

say "briskctl top: which container writes (one 3-s sample)"
ctr_ run -d --snapshotter brisk --runtime io.containerd.brisk.v2 "$IMAGE" steady-writer \
	sh -c 'blk=$(head -c 16384 /dev/zero | tr "\0" x); while :; do echo -n "$blk" >> /w; usleep 100000; done'
sleep 1
briskctl --config "$BRISK_CONFIG" top --address "$STACK/c.sock" --once --interval 3s
ctr_ tasks kill -s SIGKILL steady-writer; sleep 0.5; ctr_ tasks delete steady-writer >/dev/null; ctr_ containers delete steady-writer

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
kill -9 "$SNAP_PID"; wait "$SNAP_PID" 2>/dev/null || true
echo "brisk-snapshotter killed; small-files writes: $(ctr_ tasks exec --exec-id r3 small-files sh -c 'echo alive > /out/k && cat /out/k')"
brisk-snapshotter --config "$STACK/brisk.toml" >>"$STACK/snapshotter.log" 2>&1 &
SNAP_PID=$!
PIDS+=($SNAP_PID)
sleep 0.5
briskctl --config "$STACK/brisk.toml" usage small-files

say "removing the containers releases their tmpfs at once"
for c in small-files big-file inode-hog; do ctr_ tasks kill -s SIGKILL "$c"; done
sleep 0.5
for c in small-files big-file inode-hog; do ctr_ tasks delete "$c" >/dev/null; ctr_ containers delete "$c"; done
sleep 1
echo "tmpfs mounts left under the snapshotter root: $(grep -c " $STACK/brisk/.* - tmpfs brisk" /proc/self/mountinfo || true)"

say "short-lived tasks on the brisk runtime: output as usual, logs shipped to S3 at exit"
for t in build-1 build-2 build-3; do
	ctr_ run --rm --snapshotter brisk --runtime io.containerd.brisk.v2 "$IMAGE" "$t" \
		sh -c "echo \"[$t] compiling\"; for i in \$(seq 1 3); do echo \"[$t] step \$i\"; done; echo \"[$t] warning: something on stderr\" >&2; mkdir /w; for i in \$(seq 1 50); do echo > /w/\$i; done; exit $(( ${t#build-} - 1 ))" || true
done
sleep 1
for t in build-1 build-2 build-3; do
	echo "--- briskctl logs $t (read back from s3://brisk-demo-logs)"
	briskctl --config "$BRISK_CONFIG" logs -n "$NS" --timestamps "$t" 2>&1
	echo "--- metadata of $t"
	briskctl --config "$BRISK_CONFIG" logs -n "$NS" --metadata "$t" | sed 's/^/    /'
done

say "a running task followed live through brisk-logd's node log API"
ctr_ run -d --null-io --snapshotter brisk --runtime io.containerd.brisk.v2 --label brisk.io/task-id=ticker "$IMAGE" ticker \
	sh -c 'for i in $(seq 1 10); do echo "tick $i"; [ $((i % 4)) -eq 0 ] && echo "tock $i on stderr" >&2; sleep 0.2; done; exit 4'
for _ in $(seq 1 50); do [ -n "$(ls "$STACK/spool/$NS" 2>/dev/null | grep '^ticker@')" ] && break; sleep 0.1; done
echo "curl -N -H 'Authorization: Bearer ...' '$LOGD_URL/v1/logs/$NS/ticker?follow=1&timestamps=1'  (each line as it arrives)"
curl -sSN -H "Authorization: Bearer $LOGD_TOKEN" "$LOGD_URL/v1/logs/$NS/ticker?follow=1&timestamps=1" | sed 's/^/    /'
echo "the end of the same log as the page reads it (format=ndjson, last record and the exit):"
curl -sS -H "Authorization: Bearer $LOGD_TOKEN" "$LOGD_URL/v1/logs/$NS/ticker?format=ndjson&tail=1" | sed 's/^/    /'
ctr_ tasks delete ticker >/dev/null 2>&1 || true
ctr_ containers delete ticker >/dev/null 2>&1 || true
echo "without a token: $(curl -s -o /dev/null -w '%{http_code}' "$LOGD_URL/v1/logs/$NS/ticker")"
echo "the log viewer page (token: $LOGD_TOKEN): $LOGD_URL/t/$NS/ticker"

say "S3 goes down: nothing is lost"
kill "$MINIO_PID"; wait "$MINIO_PID" 2>/dev/null || true
ctr_ run --rm --snapshotter brisk --runtime io.containerd.brisk.v2 "$IMAGE" while-s3-down echo "written while S3 was down"
echo "briskctl flush with S3 down:"
sleep 11
briskctl --config "$BRISK_CONFIG" flush || true
start_minio
echo "S3 is back; brisk-logd, the node's log retrier, ships the pending log by itself:"
for _ in $(seq 1 300); do briskctl --config "$BRISK_CONFIG" logs -n "$NS" while-s3-down 2>/dev/null && break; sleep 0.2; done

say "done"
echo "demo done in $((SECONDS - DEMO_START)) s; the stack is torn down on exit."
