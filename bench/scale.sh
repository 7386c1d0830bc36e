#!/usr/bin/env bash
# Scale curves: how costs grow with the number of topics, held long-polls, group members and
# the store's size. One command per curve; each prints a Markdown table (docs/PERFORMANCE.md
# "Scale curves" explains the rows and where the curves bend).
#
#   bench/scale.sh topics      # send and pull cost vs topics of 8 queues (1 → 1000), mini-broker
#                              #   and, with Java present, Apache's broker (APACHE_VERSION)
#   bench/scale.sh polls       # one consumer holding long-polls on 8 → 10 000 queues: time to own
#                              #   them, client idle CPU (route refresh, heartbeats, re-issued
#                              #   polls) and RSS, broker CPU while they are held; with Java
#                              #   present, Apache's Java push consumer in the same shape
#   bench/scale.sh rebalance   # time until a group of 2 → 200 members splits 256 queues
#   bench/scale.sh recovery    # broker restart time after kill -9 vs store size (GB written)
#   bench/scale.sh all
#
# Environment: CARGO_TARGET_DIR, SECS (default 5), BASE_PORT (default 39970), and per curve
#   TOPICS="1 10 100 1000"  POLL_TOPICS="1 10 125 1250"  MEMBERS="2 10 50 100 200"
#   STORE_GB="1 2 5" (20 is the issue's top point: needs 20+ GB free)  SCALE_MSGS=100000
#   APACHE_VERSION=5.5.0 ("" skips Apache in the topics curve)  JAVA_CLIENT=1 (0 skips the Java
#   consumer in the polls curve)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SECS=${SECS:-5}
BASE_PORT=${BASE_PORT:-39970}
TOPICS=${TOPICS:-1 10 100 1000}
POLL_TOPICS=${POLL_TOPICS:-1 10 125 1250}
MEMBERS=${MEMBERS:-2 10 50 100 200}
STORE_GB=${STORE_GB:-1 2 5}
SCALE_MSGS=${SCALE_MSGS:-100000}
APACHE_VERSION=${APACHE_VERSION-5.5.0}
JAVA_CLIENT=${JAVA_CLIENT:-1}
APACHE_JAVA_OPTS=${APACHE_JAVA_OPTS:--Xms1g -Xmx1g -XX:MaxDirectMemorySize=1g -XX:TieredStopAtLevel=4}
WORK=$(mktemp -d /tmp/rmqscale.XXXXXX)
RESULTS=$WORK/results.txt
: >"$RESULTS"
PIDS=()
APACHE_DIRS=()
CURVE=${1:-all}

log() { printf '[%s load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" >&2; }

cleanup() {
    for d in "${APACHE_DIRS[@]}"; do "$ROOT/interop/apache/apache-rmq.sh" down "$d" >/dev/null 2>&1 || true; done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"/store-* "$WORK"/apache-*
}
trap cleanup EXIT

case $CURVE in topics|polls|rebalance|recovery|all) ;; *)
    echo "usage: bench/scale.sh topics|polls|rebalance|recovery|all" >&2; exit 2 ;;
esac

log "building (release) into $TARGET"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p rocketmq-rs-mini-namesrv -p rocketmq-rs-mini-broker)
(cd "$ROOT/bench" && CARGO_TARGET_DIR=$TARGET cargo build --release -q)
BIN=$TARGET/release
RMQ=$BIN/rmqbench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

v() { local x; x=$(get "$1" "$2"); echo "${x:--}"; }
# cpu_pct_during PID CMD...: runs CMD; prints the PID's CPU use in % of one core meanwhile.
BUSY_PCT=
busy_during() {
    local pid=$1; shift
    local c0 c1 t0 t1
    c0=$(proc_cpu "$pid"); t0=$(date +%s.%N)
    "$@"
    c1=$(proc_cpu "$pid"); t1=$(date +%s.%N)
    BUSY_PCT=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f", (b - a) * 100 / (e - s) }')
}

curve_topics() {
    log "curve: send and pull cost vs topics of 8 queues ($TOPICS)"
    local brokers=(mini)
    if [[ -n $APACHE_VERSION ]] && command -v java >/dev/null && command -v mvn >/dev/null \
        && "$ROOT/interop/apache/fetch-cp.sh" >"$WORK/fetch-cp.log" 2>&1; then
        brokers+=(apache)
    fi
    local b n ns cluster
    for b in "${brokers[@]}"; do
        if [[ $b == mini ]]; then
            start_mini async; ns=$NS; cluster=DefaultCluster
        else
            apache_up "$APACHE_VERSION" ASYNC_FLUSH || continue
            ns=$APACHE_NS; cluster=RmqIT
        fi
        for n in $TOPICS; do
            run "${b}_create_$n" "$RMQ" create-topics --namesrv "$ns" --prefix "ST$n" --count "$n" --queues 8 --cluster "$cluster"
            run "${b}_send_$n" "$RMQ" produce --namesrv "$ns" --group "g_st$n" --topic "ST$n" --topics "$n" \
                --mode async --inflight 256 --count "$SCALE_MSGS" --duration 600
            # Again, now that every queue's files exist: steady state versus first writes.
            run "${b}_resend_$n" "$RMQ" produce --namesrv "$ns" --group "g_st$n" --topic "ST$n" --topics "$n" \
                --mode async --inflight 256 --count "$SCALE_MSGS" --duration 600
            run "${b}_pull_$n" "$RMQ" drain --namesrv "$ns" --topic "ST$n" --topics "$n" --count "$SCALE_MSGS" --group "g_sd$n"
        done
        if [[ $b == mini ]]; then stop_mini; else apache_down "$APACHE_VERSION" ASYNC_FLUSH; fi
    done
    echo
    echo "## Send and pull cost vs topics (8 queues each, $SCALE_MSGS msgs of 1 KiB spread round-robin, async 256 in flight, sent twice: into new queues, then into existing ones; our client)"
    echo
    echo "| topics × 8 queues | first send msg/s (mini / Apache $APACHE_VERSION) | second send msg/s (mini / Apache) | client CPU µs/msg, second send (mini / Apache) | broker CPU µs/msg first / second send, mini | same, Apache | drain msg/s (mini / Apache) | client CPU µs/msg drain (mini / Apache) |"
    echo "|---|---|---|---|---|---|---|---|"
    for n in $TOPICS; do
        echo "| $n × 8 | $(v "mini_send_$n" rate) / $(v "apache_send_$n" rate) | $(v "mini_resend_$n" rate) / $(v "apache_resend_$n" rate) | $(v "mini_resend_$n" cpu_us) / $(v "apache_resend_$n" cpu_us) | $(v "mini_send_$n" broker_cpu_us) / $(v "mini_resend_$n" broker_cpu_us) | $(v "apache_send_$n" broker_cpu_us) / $(v "apache_resend_$n" broker_cpu_us) | $(v "mini_pull_$n" rate) / $(v "apache_pull_$n" rate) | $(v "mini_pull_$n" cpu_us) / $(v "apache_pull_$n" cpu_us) |"
    done
}

curve_polls() {
    log "curve: held long-polls ($POLL_TOPICS topics × 8 queues, one consumer)"
    local java=0
    if [[ $JAVA_CLIENT == 1 ]] && java_setup; then java=1; fi
    start_mini async
    local n
    for n in $POLL_TOPICS; do
        run "poll_create_$n" "$RMQ" create-topics --namesrv "$NS" --prefix "SP$n" --count "$n" --queues 8
        busy_during "$BR_PID" run "poll_$n" "$RMQ" hold --namesrv "$NS" --prefix "SP$n" --topics "$n" --secs "$SECS" --group "g_hold$n"
        record "poll_broker_$n" "RESULT broker_cpu_pct=$BUSY_PCT"
        if (( java )); then
            busy_during "$BR_PID" run "jpoll_$n" java -Xms512m -Xmx512m -cp "$JAVA_CP" JavaBench hold \
                --namesrv "$NS" --prefix "SP$n" --topics "$n" --secs "$SECS" --group "g_jhold$n"
            record "jpoll_broker_$n" "RESULT broker_cpu_pct=$BUSY_PCT"
        fi
    done
    record poll_broker_rss "RESULT rss_mb=$(proc_rss_mb "$BR_PID")"
    stop_mini
    echo
    echo "## Held long-polls: one push consumer owning every queue of N topics × 8 (mini-broker; ours / Apache's Java 5.5.0 push consumer)"
    echo
    echo "| queues held | time to own them (s) | consumer idle CPU (% of a core) | consumer peak RSS (MiB; Java: JVM RSS / heap used) | RSS growth per queue (KiB, ours) | broker CPU during the run (%) |"
    echo "|---|---|---|---|---|---|"
    for n in $POLL_TOPICS; do
        echo "| $(v "poll_$n" queues) | $(v "poll_$n" assign_secs) / $(v "jpoll_$n" assign_secs) | $(v "poll_$n" idle_cpu_pct) / $(v "jpoll_$n" idle_cpu_pct) | $(v "poll_$n" rss_mb) / $(v "jpoll_$n" rss_mb) ($(v "jpoll_$n" heap_mb)) | $(v "poll_$n" kb_per_queue) | $(v "poll_broker_$n" broker_cpu_pct) / $(v "jpoll_broker_$n" broker_cpu_pct) |"
    done
    echo
    echo "broker peak RSS after the largest point: $(v poll_broker_rss rss_mb) MiB"
}

curve_rebalance() {
    log "curve: rebalance time vs group size ($MEMBERS members, 256 queues)"
    start_mini async
    run rb_create "$RMQ" create-topics --namesrv "$NS" --prefix SR --count 1 --queues 256
    local m
    for m in $MEMBERS; do
        run "rb_$m" "$RMQ" rebalance --namesrv "$NS" --topic SR --members "$m" --queues 256 --group "g_rb$m"
    done
    stop_mini
    echo
    echo "## Rebalance: time from the last member's start until 256 queues are split with no queue owned twice (mini-broker, members in one process)"
    echo
    echo "| members | seconds |"
    echo "|---|---|"
    for m in $MEMBERS; do echo "| $m | $(v "rb_$m" secs) |"; done
}

curve_recovery() {
    log "curve: restart after kill -9 vs store size ($STORE_GB GB)"
    local gb store=$WORK/store-recovery written=0 t0 t1
    rm -rf "$store"
    for gb in $STORE_GB; do
        local need=$(( gb * 1024 * 1024 ))  # KiB messages of 1 KiB body
        local more=$(( need - written ))
        "$BIN/mini-namesrv" --listen "$NS" >"$WORK/namesrv.log" 2>&1 &
        NS_PID=$!; PIDS+=("$NS_PID"); wait_port "$NS"
        "$BIN/mini-broker" --namesrv "$NS" --listen "$BROKER" --store "$store" --flush async \
            --ha-listen "127.0.0.1:$((BASE_PORT + 2))" >"$WORK/broker-rec.log" 2>&1 &
        BR_PID=$!; PIDS+=("$BR_PID"); wait_port "$BROKER"; "$RMQ" wait-broker --namesrv "$NS" >/dev/null
        if (( more > 0 )); then
            log "writing $((more / 1024)) MiB more (to ${gb} GB)"
            run "rec_fill_$gb" "$RMQ" produce --namesrv "$NS" --group g_fill --topic SRec --mode batch --batch 32 --inflight 8 \
                --count "$more" --duration 3600
            written=$need
        fi
        kill -9 "$BR_PID"; wait "$BR_PID" 2>/dev/null || true
        t0=$(date +%s.%N)
        "$BIN/mini-broker" --namesrv "$NS" --listen "$BROKER" --store "$store" --flush async \
            --ha-listen "127.0.0.1:$((BASE_PORT + 2))" >"$WORK/broker-rec2.log" 2>&1 &
        BR_PID=$!; PIDS+=("$BR_PID")
        wait_port "$BROKER"
        t1=$(date +%s.%N)
        record "rec_$gb" "RESULT secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') store_mb=$(du -sm "$store" | cut -f1)"
        run "rec_send_$gb" "$RMQ" produce --namesrv "$NS" --group g_after --topic SRec --mode sync --count 100 --duration 30 --warmup 1
        kill "$BR_PID" "$NS_PID" 2>/dev/null || true
        wait "$BR_PID" "$NS_PID" 2>/dev/null || true
    done
    rm -rf "$store"
    echo
    echo "## Broker restart after kill -9 vs store size (mini-broker, async flush; until the port accepts, then 100 sync sends)"
    echo
    echo "| GB written | store on disk (MiB) | restart until listening (s) | sends after restart ok |"
    echo "|---|---|---|---|"
    for gb in $STORE_GB; do echo "| $gb | $(v "rec_$gb" store_mb) | $(v "rec_$gb" secs) | $(v "rec_send_$gb" msgs) |"; done
}

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
case $CURVE in
    topics) curve_topics ;;
    polls) curve_polls ;;
    rebalance) curve_rebalance ;;
    recovery) curve_recovery ;;
    all) curve_topics; curve_polls; curve_rebalance; curve_recovery ;;
esac
echo
echo "raw results: $RESULTS"
