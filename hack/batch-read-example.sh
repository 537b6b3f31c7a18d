#!/usr/bin/env bash
# The worked example of docs/batch-format.md, run for real: MinIO and a
# brisk-logd in batch mode on loopback (in a private temporary directory),
# four finished task logs written to the spool as the shim writes them
# (hack/logdbench writer), one of them over standalone_over. Once brisk-logd
# stored them, they are read back with curl (ranged GETs), tail, dd and
# gunzip alone, as the doc shows, and each read is checked against
# brisk-logd's own reader (GET /v1/logs/...?format=cri on its unix socket).
# It prints the transcript and exits non-zero on any difference.
#
# Needs minio (make tools), brisk-logd (make build), go, curl 7.75 or later
# (--aws-sigv4), jq, and coreutils' basenc. With the AWS CLI on the PATH it
# also reads the footer with `aws s3api get-object --range`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-/opt/brisk/tools}
BIN=${BRISK_BIN_DIR:-$REPO/bin}
export PATH="$BIN:$TOOLS_DIR/bin:$PATH"
for b in minio brisk-logd go curl jq basenc base32 sha256sum gunzip dd tail od; do
	command -v "$b" >/dev/null || { echo "batch-read-example: $b not found (make tools build)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brisk-batch-example.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "batch-read-example: FAIL: $*" >&2; exit 1; }
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		(: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
until_ok() { # SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}
show() { printf '\n$ %s\n' "$1"; }

# --- MinIO, a bucket, brisk-logd in batch mode --------------------------------
export AWS_ACCESS_KEY_ID=brisk-example AWS_SECRET_ACCESS_KEY=brisk-example-secret
PORT=$(free_port) CONSOLE=$(free_port)
while [ "$CONSOLE" = "$PORT" ]; do CONSOLE=$(free_port); done
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
	minio server "$WORK/minio" --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$CONSOLE" --quiet >"$WORK/minio.log" 2>&1 &
PIDS+=($!)
until_ok 30 curl -sf -o /dev/null "http://127.0.0.1:$PORT/minio/health/live" || { cat "$WORK/minio.log" >&2; fail "MinIO did not start"; }

S3=http://127.0.0.1:$PORT/brisk-logs
get() { curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@"; }
get -X PUT "$S3" >/dev/null

SPOOL=$WORK/spool SOCK=$WORK/logd.sock
mkdir -p "$SPOOL"
cat >"$WORK/brisk.toml" <<EOT
[logs]
spool_dir = "$SPOOL"
upload = "batch"
[logs.batch]
interval = "2s"
standalone_over = "2Ki"
[logs.s3]
bucket = "brisk-logs"
endpoint = "http://127.0.0.1:$PORT"
path_style = true
region = "us-east-1"
[logs.api]
socket = "$SOCK"
listen = ""
node_name = "node-a"
EOT
brisk-logd --config "$WORK/brisk.toml" >"$WORK/logd.log" 2>&1 &
PIDS+=($!)
until_ok 20 test -S "$SOCK" || { cat "$WORK/logd.log" >&2; fail "brisk-logd did not start"; }

# Four tasks of namespace "bench" end: three short logs, one over
# standalone_over once compressed (its lines differ in their times).
(cd "$REPO" && go build -o "$WORK/logdbench" ./hack/logdbench)
for id in build-1 build-2 build-3; do
	"$WORK/logdbench" writer -spool "$SPOOL" -id "$id" -node node-a -lines 3 -every 1ms >/dev/null 2>>"$WORK/writer.log" || { cat "$WORK/writer.log" >&2; fail "logdbench writer"; }
done
"$WORK/logdbench" writer -spool "$SPOOL" -id big-1 -node node-a -lines 300 -every 1ms >/dev/null 2>>"$WORK/writer.log" || { cat "$WORK/writer.log" >&2; fail "logdbench writer"; }

batches() { get "$S3?list-type=2&prefix=batch%2F" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'; }
stored() { [ -n "$(batches)" ] && [ -z "$(find "$SPOOL/bench" -mindepth 1 -maxdepth 1 2>/dev/null)" ]; }
until_ok 30 stored || { cat "$WORK/logd.log" >&2; fail "brisk-logd stored no batch"; }

# --- The example ----------------------------------------------------------------
echo "S3=$S3"
show 'get "$S3?list-type=2&prefix=batch%2F&start-after=batch%2F'"$(date -u +%Y%m%d)"'%2F" | grep -o "<Key>[^<]*</Key>"'
get "$S3?list-type=2&prefix=batch%2F&start-after=batch%2F$(date -u +%Y%m%d)%2F" | grep -o "<Key>[^<]*</Key>"
# The batch holding build-1 (its ID hash is in the key).
HASH=$(printf 'bench\0build-1' | sha256sum | head -c 16 | tr a-f A-F | basenc --base16 -d | base32 | tr A-Z a-z | head -c 10)
show "printf 'bench\\0build-1' | sha256sum | head -c 16 | tr a-f A-F | basenc --base16 -d | base32 | tr A-Z a-z | head -c 10"
echo "$HASH"
KEY=$(batches | grep "_[a-z2-7]*$HASH" | head -1)
[[ $KEY =~ ^batch/[0-9]{8}/[0-9]{2}/[0-9]{4}\.[0-9]{3}_node-a_[a-z2-7]{8}_([a-z2-7]{10})+\.batch$ ]] || fail "batch key $KEY"
echo "KEY=$KEY"

show 'get -H "Range: bytes=-64" "$S3/$KEY"'
FOOTER=$(get -H "Range: bytes=-64" "$S3/$KEY")
echo "$FOOTER"
[[ $FOOTER =~ ^brisk-batch\ 1\ trailer=([0-9a-f]{16})\+([0-9a-f]{8})\ crc32c=([0-9a-f]{8})\ *$ ]] || fail "footer $FOOTER"
OFF=$((16#${BASH_REMATCH[1]})) LEN=$((16#${BASH_REMATCH[2]}))
show "OFF=\$((16#${BASH_REMATCH[1]})) LEN=\$((16#${BASH_REMATCH[2]}))"
echo "OFF=$OFF LEN=$LEN"

show 'get -H "Range: bytes=$OFF-$((OFF+LEN-1))" "$S3/$KEY" | tee trailer.json | jq .'
get -H "Range: bytes=$OFF-$((OFF+LEN-1))" "$S3/$KEY" >"$WORK/trailer.json"
jq . "$WORK/trailer.json"

show "jq -r '.entries[] | select(.meta.id == \"build-1\") | \"\\(.offset) \\(.length)\"' trailer.json"
read -r O L < <(jq -r '.entries[] | select(.meta.id == "build-1") | "\(.offset) \(.length)"' "$WORK/trailer.json")
echo "$O $L"
show 'get -H "Range: bytes=$O-$((O+L-1))" "$S3/$KEY" | gunzip'
get -H "Range: bytes=$O-$((O+L-1))" "$S3/$KEY" | gunzip | tee "$WORK/build-1.log"

# The same with the whole object, tail and dd.
show 'get -o batch "$S3/$KEY"; tail -c 64 batch'
get -o "$WORK/batch" "$S3/$KEY"
tail -c 64 "$WORK/batch"
[ "$(tail -c 64 "$WORK/batch")" = "$FOOTER" ] || fail "tail -c 64 differs from the ranged GET"
show 'dd if=batch bs=1 skip=$OFF count=$LEN status=none | cmp - trailer.json && echo same trailer'
dd if="$WORK/batch" bs=1 skip="$OFF" count="$LEN" status=none | cmp - "$WORK/trailer.json" && echo same trailer
show 'dd if=batch bs=1 skip=$O count=$L status=none | gunzip | cmp - build-1.log && echo same log'
dd if="$WORK/batch" bs=1 skip="$O" count="$L" status=none | gunzip | cmp - "$WORK/build-1.log" && echo same log
show 'read -r lo hi < <(od -An -tu1 -j$((O+14)) -N2 batch); dd if=batch bs=1 skip=$((O+16)) count=$((lo+256*hi)) status=none; echo'
read -r lo hi < <(od -An -tu1 -j$((O + 14)) -N2 "$WORK/batch")
dd if="$WORK/batch" bs=1 skip=$((O + 16)) count=$((lo + 256 * hi)) status=none | tee "$WORK/bk.json"
echo
[ "$(jq -r '"\(.ns)/\(.id)"' "$WORK/bk.json")" = bench/build-1 ] || fail "Bk field $(cat "$WORK/bk.json")"
show 'gunzip < batch 2>/dev/null | head -c 300'
{ gunzip <"$WORK/batch" 2>/dev/null || true; } | head -c 300
echo

# The log stored alone.
show "jq -r '.entries[] | select(.object != null) | .object' trailer.json"
BIG=$(jq -r '.entries[] | select(.object != null) | .object' "$WORK/trailer.json")
[ -n "$BIG" ] || BIG=$(for k in $(batches); do get -H "Range: bytes=-65536" "$S3/$k"; done | grep -o '"object":"[^"]*"' | head -1 | cut -d'"' -f4)
echo "$BIG"
[[ $BIG =~ ^batch-large/[0-9]{8}/[0-9]{2}/[0-9]{4}\.[0-9]{3}_node-a_[a-z2-7]{8}\.gz$ ]] || fail "large object key $BIG"
show 'get "$S3/$BIG" | gunzip | tail -n 2'
get "$S3/$BIG" | gunzip >"$WORK/big-1.log"
tail -n 2 "$WORK/big-1.log"

# Each read against brisk-logd's own reader of the same runs.
for id in build-1 big-1; do
	curl -sSf --unix-socket "$SOCK" "http://logd/v1/logs/bench/$id?format=cri" | cmp - "$WORK/$id.log" ||
		fail "$id: curl | gunzip differs from brisk-logd's answer"
done
echo
echo "checked: build-1 and big-1 read with curl, dd and gunzip are byte for byte what brisk-logd serves"

# By ID alone: the compactor's index (it indexes every 10 s).
index() { get "$S3?list-type=2&prefix=index%2F1m%2F" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'; }
indexed() { [ -n "$(index)" ]; }
until_ok 40 indexed || { cat "$WORK/logd.log" >&2; fail "no index object"; }
IDX=$(index | tail -1)
show "get \"\$S3/$IDX\" | gunzip"
get "$S3/$IDX" | gunzip | tee "$WORK/index.txt"
N=$(grep "^h $HASH " "$WORK/index.txt" | head -1 | cut -d' ' -f3)
[ -n "$N" ] || fail "$HASH not in $IDX"
show "grep '^b ' index | sed -n \"\$((N+1))p\"   # N=$N from the line h $HASH $N"
grep '^b ' "$WORK/index.txt" | sed -n "$((N + 1))p" | tee "$WORK/found"
[ "$(cut -d' ' -f2 "$WORK/found")" = "$KEY" ] || fail "index names $(cat "$WORK/found"), want $KEY"
show 'A=abcdefghijklmnopqrstuvwxyz234567 n=0; for i in 0 1 2 3; do p=${A%%${HASH:i:1}*}; n=$((n*32 + ${#p})); done; echo 10m shard $((n % 8)), 1h shard $((n % 64))'
A=abcdefghijklmnopqrstuvwxyz234567 n=0
for i in 0 1 2 3; do p=${A%%${HASH:i:1}*}; n=$((n * 32 + ${#p})); done
echo "10m shard $((n % 8)), 1h shard $((n % 64))"

show 'get "$S3/index/lease" | jq -c .'
get "$S3/index/lease" | jq -c .

if command -v aws >/dev/null; then
	show 'aws --endpoint-url http://127.0.0.1:'"$PORT"' s3api get-object --bucket brisk-logs --key "$KEY" --range bytes=-64 footer >/dev/null; cat footer'
	aws --endpoint-url "http://127.0.0.1:$PORT" --region us-east-1 s3api get-object --bucket brisk-logs --key "$KEY" --range bytes=-64 "$WORK/footer" >/dev/null
	cat "$WORK/footer"
	[ "$(cat "$WORK/footer")" = "$FOOTER" ] || fail "aws s3api get-object --range differs"
fi
echo
echo "batch-read-example: OK"
