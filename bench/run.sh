#!/usr/bin/env bash
# The benchmark suite: one run, servers and clients as separate processes, one table of
# ratios at the end. See docs/PERFORMANCE.md for what each row means and the latest numbers.
#
#   bench/run.sh                 # everything (peers only where already built)
#   SECS=10 bench/run.sh         # longer rows
#   BUILD_PEERS=1 bench/run.sh   # build the missing peers first (slow, cached in $PEER_DIR)
#
# Environment:
#   CARGO_TARGET_DIR  where our binaries are built (default: <repo>/target)
#   SECS              seconds per timed row (default 5)
#   DRAIN_COUNT       messages for the push-drain row (default 1000000)
#   PEER_DIR          cache of the peers (default ~/.cache/rocketmq-rs-bench; see build-peers.sh)
#   BASE_PORT         first of the ports used on 127.0.0.1 (default 39870)
#   RESULTS           file that receives the raw RESULT lines (default: a temp file)
#   APACHE_VERSIONS   Apache brokers to add as columns (default "5.5.0 4.9.7"; "" skips them).
#                     They and the Java client (5.5.0) come from Maven Central through
#                     interop/apache/fetch-cp.sh (java, javac and mvn needed); without Java the
#                     Apache and Java columns stay empty.
#   APACHE_JAVA_OPTS  JVM options of the Apache brokers in the benchmark (default below: 1 GiB
#                     heap and the C2 compiler, not the tests' small, fast-starting settings)
#   APACHE_WARM_SECS  seconds of async sends that warm each Apache broker's JVM up before its
#                     first measured row (default 10; 0 skips)
#   ONLY              "apache" runs only the Apache / Java-client sections (with mini-broker
#                     driven by the Java client); empty runs everything
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SECS=${SECS:-5}
DRAIN_COUNT=${DRAIN_COUNT:-1000000}
PEER_DIR=${PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rocketmq-rs-bench}
BASE_PORT=${BASE_PORT:-39870}
WORK=$(mktemp -d /tmp/rmqbench.XXXXXX)
RESULTS=${RESULTS:-$WORK/results.txt}
: >"$RESULTS"
PIDS=()
APACHE_VERSIONS=${APACHE_VERSIONS-5.5.0 4.9.7}
APACHE_JAVA_OPTS=${APACHE_JAVA_OPTS:--Xms1g -Xmx1g -XX:MaxDirectMemorySize=1g -XX:TieredStopAtLevel=4}
ONLY=${ONLY:-}
APACHE_DIRS=()

cleanup() {
    for d in "${APACHE_DIRS[@]}"; do "$ROOT/interop/apache/apache-rmq.sh" down "$d" >/dev/null 2>&1 || true; done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK/store-"*
}
trap cleanup EXIT

log() { printf '[%s load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" >&2; }

# ---------------------------------------------------------------- build
log "building (release) into $TARGET"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p rocketmq-rs-mini-namesrv -p rocketmq-rs-mini-broker)
(cd "$ROOT/bench" && CARGO_TARGET_DIR=$TARGET cargo build --release -q)
BIN=$TARGET/release
RMQ=$BIN/rmqbench
if [[ ${BUILD_PEERS:-0} == 1 ]]; then PEER_DIR=$PEER_DIR "$ROOT/bench/build-peers.sh" all; fi
PEER_CLIENT=$PEER_DIR/client-bench/target/release/peer-client-bench
PEER_NS=$PEER_DIR/bin/rocketmq-namesrv-rust
PEER_BROKER=$PEER_DIR/bin/rocketmq-broker-rust

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

peer_client() { # NAME SCENARIO COUNT [extra]
    local name=$1 scenario=$2 count=$3; shift 3
    [[ -x $PEER_CLIENT ]] || return 0
    local json=$WORK/$name.json
    if ROCKETMQ_NAMESRV_ADDR=$NS "$PEER_CLIENT" --namesrv "$NS" --topic "Peer_$name" --scenario "$scenario" \
        --message-count "$count" --message-size 1024 --timeout-ms 10000 --output-json "$json" "$@" \
        >"$WORK/$name.out" 2>&1 && [[ -s $json ]]; then
        record "$name" "RESULT $(python3 - "$json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["result"]
l = r["latency_us"]
print(f"rate={r['throughput_messages_per_second']:.0f} msgs={r['success_count']} failed={r['send_failed_count'] + r['response_failed_count']} secs={r['duration_us'] / 1e6:.2f} p50_us={l['p50']} p99_us={l['p99']}")
EOF
)"
    else
        echo "  $name FAILED: $(tail -3 "$WORK/$name.out")" >&2
    fi
}


# ---------------------------------------------------------------- rows
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"

if [[ $ONLY != apache ]]; then
log "raw echo baseline (request 1300 B, reply 200 B, one connection)"
"$RMQ" echo-server --listen "127.0.0.1:$ECHO_PORT" >"$WORK/echo.log" 2>&1 &
ECHO_PID=$!; PIDS+=("$ECHO_PID")
wait_port "127.0.0.1:$ECHO_PORT"
run echo_rr "$RMQ" echo-client --addr "127.0.0.1:$ECHO_PORT" --inflight 1 --duration "$SECS"
run echo_pipe "$RMQ" echo-client --addr "127.0.0.1:$ECHO_PORT" --inflight 256 --duration "$SECS"
# Same pacing as the idle-latency row: the floor that waking two idle processes sets.
run echo_idle "$RMQ" echo-client --addr "127.0.0.1:$ECHO_PORT" --inflight 1 --interval-ms 2 --duration 4
kill "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null || true

log "mini-broker, async flush"
start_mini async
produce sync1 --topic BenchSync --mode sync --duration "$SECS"
produce async256 --topic BenchAsync --mode async --inflight 256 --duration "$SECS"
produce batch32 --topic BenchBatch --mode batch --batch 32 --inflight 8 --duration "$SECS"
produce idle --topic BenchIdle --mode sync --interval-ms 2 --count 2000 --duration 60
produce cpu100k --topic BenchCpu --mode async --inflight 256 --rate 100000 --duration "$SECS"
log "prefilling $DRAIN_COUNT messages for the drain row"
produce prefill --topic BenchDrain --mode async --inflight 256 --count "$DRAIN_COUNT" --duration 900
run drain "$RMQ" drain --namesrv "$NS" --topic BenchDrain --count "$DRAIN_COUNT" --group g_drain
if [[ -x $PEER_CLIENT ]]; then
    log "peer client (rocketmq-client-rust 1.0) on mini-broker"
    peer_client peer_sync1 sync $((SECS * 400))
    peer_client peer_async async $((SECS * 4000))
    peer_client peer_batch32 batch $((SECS * 20000)) --batch-size 32
else
    log "peer client not built ($PEER_CLIENT): run bench/build-peers.sh client"
fi
record rss_mini_async "$(rss_result "$BR_PID")"
stop_mini

log "mini-broker, sync flush (group commit)"
start_mini sync
produce flush1 --topic BenchFlush1 --mode sync --concurrency 1 --duration "$SECS"
produce flush64 --topic BenchFlush64 --mode sync --concurrency 64 --duration "$SECS"
stop_mini

if [[ -x $PEER_NS && -x $PEER_BROKER ]]; then
    log "rocketmq-rust 1.0 servers (in a private network namespace), our client"
    unshare --net bash "$ROOT/bench/peer-servers.sh" "$PEER_DIR" "$RMQ" "$WORK" "$SECS" "$DRAIN_COUNT" \
        >"$WORK/peer-servers.out" 2>"$WORK/peer-servers.err" || echo "  peer servers FAILED: $(tail -3 "$WORK/peer-servers.err")" >&2
    while read -r name line; do record "$name" "$line"; done < <(grep '^ROW ' "$WORK/peer-servers.out" | cut -d' ' -f2-)
else
    log "peer servers not built ($PEER_DIR/bin): run bench/build-peers.sh servers"
fi

fi

APACHE_DRAIN=${APACHE_DRAIN:-$DRAIN_COUNT}
if [[ -n $APACHE_VERSIONS ]] && java_setup; then
    log "mini-broker, async flush: the Java client (5.5.0)"
    start_mini async
    if [[ $ONLY == apache ]]; then
        client_rows o_mini ours "$NS" _om
    fi
    client_rows j_mini java "$NS" _jm
    [[ $ONLY == apache ]] && record rss_mini_async "$(rss_result "$BR_PID")"
    stop_mini
    log "mini-broker, sync flush: the Java client"
    start_mini sync
    [[ $ONLY == apache ]] && flush_rows o_mini ours "$NS" _om
    flush_rows j_mini java "$NS" _jm
    stop_mini
    for v in $APACHE_VERSIONS; do
        k=${v//./}
        log "Apache $v broker, async flush: our client, then the Java client"
        if apache_up "$v" ASYNC_FLUSH; then
            client_rows "o_a$k" ours "$APACHE_NS" "_o$k"
            client_rows "j_a$k" java "$APACHE_NS" "_j$k"
            apache_down "$v" ASYNC_FLUSH
        fi
        log "Apache $v broker, sync flush"
        if apache_up "$v" SYNC_FLUSH; then
            flush_rows "o_a$k" ours "$APACHE_NS" "_o$k"
            flush_rows "j_a$k" java "$APACHE_NS" "_j$k"
            apache_down "$v" SYNC_FLUSH
        fi
    done
fi

# ---------------------------------------------------------------- table
ratio() { # a b -> a/b with 2 decimals, or -
    if [[ -n $1 && -n $2 && $2 != 0 ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo -; fi
}
v() { local x; x=$(get "$1" "$2"); echo "${x:--}"; }
rate() { v "$1" rate; }
loads() { local l; l=$(for n in "$@"; do get "$n" load1; done | xargs); echo "${l:--}"; }
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }

if [[ $ONLY != apache ]]; then
echo
echo "## Results ($(date -u +%FT%TZ), $(nproc) cores, load average at start of each row in the last column)"
echo
row "measure (1 KiB bodies)" "ours (msg/s)" "peer client on mini-broker" "ours on rocketmq-rust broker" "ratios → goal" "load1"
row "---" "---" "---" "---" "---" "---"
row "raw echo, request-response" "$(rate echo_rr)" "" "" "ceiling (p50 $(v echo_rr p50_us) µs)" "$(loads echo_rr)"
row "raw echo, 256 in flight" "$(rate echo_pipe)" "" "" "ceiling" "$(loads echo_pipe)"
row "sync send, 1 caller" "$(rate sync1)" "$(rate peer_sync1)" "$(rate peerbroker_sync1)" \
    "$(ratio "$(get sync1 rate)" "$(get echo_rr rate)") of echo (≥ 0.50); $(ratio "$(get sync1 rate)" "$(get peer_sync1 rate)")× peer client (≥ 2); $(ratio "$(get sync1 rate)" "$(get peerbroker_sync1 rate)")× peer broker (≥ 5)" \
    "$(loads sync1 peer_sync1)"
row "async send, 256 in flight" "$(rate async256)" "$(rate peer_async)" "$(rate peerbroker_async256)" \
    "$(ratio "$(get async256 rate)" "$(get echo_pipe rate)") of pipelined echo (≥ 0.15); $(ratio "$(get async256 rate)" "$(get peer_async rate)")× peer client; $(ratio "$(get async256 rate)" "$(get peerbroker_async256 rate)")× peer broker" \
    "$(loads async256 peer_async)"
row "batch send 32 × 1 KiB" "$(rate batch32)" "$(rate peer_batch32)" "$(rate peerbroker_batch32)" \
    "≥ 400k; $(ratio "$(get batch32 rate)" "$(get peer_batch32 rate)")× peer client; $(ratio "$(get batch32 rate)" "$(get peerbroker_batch32 rate)")× peer broker" \
    "$(loads batch32 peer_batch32)"
row "push drain of $DRAIN_COUNT" "$(rate drain)" "n/a" "$(rate peerbroker_drain)" \
    "≥ 300k; $(ratio "$(get drain rate)" "$(get peerbroker_drain rate)")× peer broker" "$(loads drain)"
row "sync flush: 1 sender / 64 senders" "$(rate flush1) / $(rate flush64)" "" "" \
    "$(ratio "$(get flush64 rate)" "$(get flush1 rate)")× (≥ 20)" "$(loads flush1 flush64)"
row "raw echo, one round trip every 2 ms: p50 / p99 (µs)" "$(v echo_idle p50_us) / $(v echo_idle p99_us)" "" "" "idle ceiling" "$(loads echo_idle)"
row "idle send latency p50 / p99 (µs)" "$(v idle p50_us) / $(v idle p99_us)" "" "" "≤ 60 / ≤ 500" "$(loads idle)"
row "client CPU per message (µs) at $(rate cpu100k) msg/s" "$(v cpu100k cpu_us)" "" "" "≤ 1.5 at 100k msg/s" "$(loads cpu100k)"
fi

# o_mini_* rows exist under ONLY=apache; otherwise the first table's rows are the same measure.
om() { local x; x=$(get "o_mini_$1" "${2:-rate}"); [[ -n $x ]] || x=$(get "$1" "${2:-rate}"); echo "$x"; }
if [[ -n $APACHE_VERSIONS && -n $JAVA_CP ]]; then
    first=${APACHE_VERSIONS%% *}; fk=${first//./}
    echo
    echo "## Against Apache RocketMQ (same run; msg/s; Java client 5.5.0; goals: ours ≥ 1.5× Java on the same broker, mini-broker ≥ Apache with the same client)"
    echo
    hdr="| row | ours → mini | Java → mini |"; sep="|---|---|---|"
    for v in $APACHE_VERSIONS; do hdr="$hdr ours → Apache $v | Java → Apache $v |"; sep="$sep---|---|"; done
    echo "$hdr ours ÷ Java on Apache $first | ours ÷ Java on mini | mini ÷ Apache $first (our client / Java client) |"
    echo "$sep---|---|---|"
    for r in sync1 async256 batch32 drain flush1 flush64; do
        line="| $r | $(om "$r") | $(v "j_mini_$r" rate) |"
        for v in $APACHE_VERSIONS; do k=${v//./}; line="$line $(v "o_a${k}_$r" rate) | $(v "j_a${k}_$r" rate) |"; done
        line="$line $(ratio "$(get "o_a${fk}_$r" rate)" "$(get "j_a${fk}_$r" rate)") | $(ratio "$(om "$r")" "$(get "j_mini_$r" rate)") |"
        line="$line $(ratio "$(om "$r")" "$(get "o_a${fk}_$r" rate)") / $(ratio "$(get "j_mini_$r" rate)" "$(get "j_a${fk}_$r" rate)") |"
        echo "$line"
    done
    echo
    echo "### CPU per message (µs; client = the sending or draining process, broker = the broker process over the row, warm-up included) and broker peak RSS"
    echo
    hdr="| row | client: ours / Java (on Apache $first) | broker: mini / Apache $first (our client) |"
    echo "$hdr goal |"; echo "|---|---|---|---|"
    for r in sync1 async256 batch32 drain; do
        echo "| $r | $(v "o_a${fk}_$r" cpu_us) / $(v "j_a${fk}_$r" cpu_us) | $(om "$r" broker_cpu_us) / $(v "o_a${fk}_$r" broker_cpu_us) | client ≤ ½ Java's |"
    done
    rss="| broker peak RSS / anonymous RSS at the end (MiB), async-flush section | | mini $(v rss_mini_async rss_mb) / $(v rss_mini_async anon_mb)"
    for v in $APACHE_VERSIONS; do rss="$rss, Apache $v $(v "rss_apache_${v}_ASYNC_FLUSH" rss_mb) / $(v "rss_apache_${v}_ASYNC_FLUSH" anon_mb)"; done
    echo "$rss | mini ≤ ½ Apache |"
fi
echo
echo "raw results: $RESULTS"
