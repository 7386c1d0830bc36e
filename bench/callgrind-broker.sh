#!/usr/bin/env bash
# Broker instructions per stored message, load-independent: a release mini-broker under
# callgrind, driven by `rmqbench --threads 1 produce`. The counters are zeroed after a warm-up
# run and dumped before the broker stops (its shutdown-time index persist is not send cost).
#
#   CARGO_TARGET_DIR=<target> BASE_PORT=44000 MODE=async COUNT=20000 bench/callgrind-broker.sh
#   CARGO_TARGET_DIR=<target> BASE_PORT=44000 TOPICS=1000 bench/callgrind-broker.sh  # 1000 × 8 queues
#
# MODE: sync | async | batch (32 × 1 KiB); COUNT: measured messages; WARM: warm-up messages.
# TOPICS (unset: one auto-created topic): spread the sends round-robin over this many topics
# `CgBench_<i>` of 8 queues, created first (the warm-up grows to 16 messages per topic; not
# every queue gets one, the producer's queue choice follows its own counter).
# Prints `RESULT mode=… msgs=… ir=… ir_per_msg=…` and leaves the dump (for
# `callgrind_annotate --inclusive=yes`) in $OUT (default: a new temp dir, printed).
# Binaries are taken from $CARGO_TARGET_DIR/release (`BUILD=1` builds them first);
# BROKER_BIN / RMQ_BIN override the broker and the driver (to compare brokers with one driver).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
BROKER_BIN=${BROKER_BIN:-$BIN/mini-broker}
RMQ_BIN=${RMQ_BIN:-$BIN/rmqbench}
BASE_PORT=${BASE_PORT:-39870}
MODE=${MODE:-async}
COUNT=${COUNT:-20000}
WARM=${WARM:-2000}
TOPICS=${TOPICS:-}
OUT=${OUT:-$(mktemp -d /tmp/cg-broker.XXXXXX)}
wait_port() { # port: waits until something listens on 127.0.0.1:port (valgrind starts slowly)
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.2
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

if [[ ${BUILD:-0} == 1 ]]; then
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p rocketmq-rs-mini-namesrv -p rocketmq-rs-mini-broker)
    (cd "$ROOT/bench" && CARGO_TARGET_DIR=$TARGET cargo build --release -q)
fi

NS=127.0.0.1:$BASE_PORT
BROKER=127.0.0.1:$((BASE_PORT + 1))
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

case $MODE in
    sync) args=(--mode sync) ;;
    async) args=(--mode async --inflight 256) ;;
    batch) args=(--mode batch --batch 32 --inflight 8) ;;
    *) echo "MODE must be sync, async or batch" >&2; exit 2 ;;
esac

"$BIN/mini-namesrv" --listen "$NS" >"$OUT/namesrv.log" 2>&1 &
PIDS+=($!)
wait_port "$BASE_PORT"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$BROKER_BIN" --namesrv "$NS" --listen "$BROKER" --store "$OUT/store" --flush async \
    --ha-listen "127.0.0.1:$((BASE_PORT + 2))" >"$OUT/broker.log" 2>&1 &
VG=$!
PIDS+=("$VG")
wait_port $((BASE_PORT + 1))
RMQ=("$RMQ_BIN" --threads 1 produce --namesrv "$NS" --topic CgBench --group g_cg "${args[@]}" --duration 1800)
"$RMQ_BIN" wait-broker --namesrv "$NS" --timeout 300 >/dev/null
if [[ -n $TOPICS ]]; then
    "$RMQ_BIN" create-topics --namesrv "$NS" --prefix CgBench --count "$TOPICS" --queues 8 >"$OUT/create.txt"
    RMQ+=(--topics "$TOPICS")
    (( WARM >= TOPICS * 16 )) || WARM=$((TOPICS * 16))
fi
"${RMQ[@]}" --count "$WARM" >"$OUT/warm.txt"
callgrind_control -z "$VG" >/dev/null
"${RMQ[@]}" --count "$COUNT" --warmup 0 >"$OUT/run.txt"
callgrind_control -d "$VG" >/dev/null
kill "$VG"
wait "$VG" 2>/dev/null || true
# The dump after `-z`: the highest-numbered part file.
dump=$(ls -v "$OUT"/callgrind.out.* 2>/dev/null | grep -v '\.0*$' | tail -1 || true)
[[ -n $dump ]] || dump=$(ls -v "$OUT"/callgrind.out* | tail -1)
msgs=$(sed -n 's/.* msgs=\([0-9]*\).*/\1/p' "$OUT/run.txt")
# `--warmup 0` still sends one message per topic before the measure.
msgs=$((msgs + ${TOPICS:-1}))
ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
echo "RESULT mode=$MODE topics=${TOPICS:-1} msgs=$msgs ir=$ir ir_per_msg=$(awk -v a="$ir" -v n="$msgs" 'BEGIN { printf "%.0f", a / n }') dump=$dump"
