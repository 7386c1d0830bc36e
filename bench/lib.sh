# Shared by bench/run.sh and bench/scale.sh (sourced, not run). Expects ROOT, TARGET, WORK,
# RESULTS, BASE_PORT, BIN, RMQ, SECS, PIDS, APACHE_DIRS, APACHE_JAVA_OPTS and log() to be set.
# shellcheck shell=bash

# ---------------------------------------------------------------- helpers
wait_port() { # host:port
    local h=${1%:*} p=${1##*:}
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

# record NAME RESULT-LINE: stores the key=value pairs and the load average at that moment.
record() {
    local name=$1 line=$2
    echo "$name load1=$(cut -d' ' -f1 /proc/loadavg) ${line#RESULT }" >>"$RESULTS"
    echo "  $name: ${line#RESULT }" >&2
}

# get NAME KEY: a recorded value, or empty.
get() {
    awk -v n="$1" -v k="$2" '$1==n { for (i=2;i<=NF;i++) { split($i,a,"="); if (a[1]==k) v=a[2] } } END { print v }' "$RESULTS"
}

# proc_cpu PID: CPU seconds (user + system) the process has used so far, or empty.
proc_cpu() {
    [[ -n ${1:-} && -r /proc/$1/stat ]] || return 0
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"
}
# proc_rss_mb PID: peak resident set (VmHWM) in MiB, or empty.
proc_rss_mb() {
    [[ -n ${1:-} && -r /proc/$1/status ]] || return 0
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}
# proc_anon_mb PID: resident anonymous memory now (RssAnon: heap, stacks, buffers; without the
# file pages a broker maps, which VmHWM counts for Apache's mmapped commit log), or empty.
proc_anon_mb() {
    [[ -n ${1:-} && -r /proc/$1/status ]] || return 0
    awk '/^RssAnon:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}
# rss_result PID: the RESULT fields of a broker's memory.
rss_result() { echo "RESULT rss_mb=$(proc_rss_mb "$1") anon_mb=$(proc_anon_mb "$1")"; }

# The broker process the current rows measure (its CPU per message goes into broker_cpu_us).
BROKER_PID=

# run NAME CMD...: runs a measuring command and records its RESULT line, plus the broker's CPU
# per message over the command's whole run (warm-up included, so an upper bound).
run() {
    local name=$1; shift
    local out c0 c1
    c0=$(proc_cpu "$BROKER_PID")
    if out=$("$@" 2>"$WORK/$name.err"); then :; else
        echo "  $name FAILED: $(tail -3 "$WORK/$name.err")" >&2
    fi
    c1=$(proc_cpu "$BROKER_PID")
    local line msgs
    line=$(grep '^RESULT' <<<"$out" | tail -1 || true)
    if [[ -n $line && -n $c0 && -n $c1 ]]; then
        msgs=$(sed -n 's/.* msgs=\([0-9]*\).*/\1/p' <<<"$line")
        [[ -n $msgs && $msgs != 0 ]] && line="$line broker_cpu_us=$(awk -v a="$c0" -v b="$c1" -v n="$msgs" 'BEGIN { printf "%.2f", (b - a) * 1e6 / n }')"
    fi
    [[ -n $line ]] && record "$name" "$line"
    return 0
}

NS=127.0.0.1:$BASE_PORT
BROKER=127.0.0.1:$((BASE_PORT + 1))
ECHO_PORT=$((BASE_PORT + 5))

start_mini() { # flush-mode
    local store=$WORK/store-$1
    rm -rf "$store"
    "$BIN/mini-namesrv" --listen "$NS" >"$WORK/namesrv.log" 2>&1 &
    NS_PID=$!; PIDS+=("$NS_PID")
    wait_port "$NS"
    "$BIN/mini-broker" --namesrv "$NS" --listen "$BROKER" --store "$store" --flush "$1" \
        --ha-listen "127.0.0.1:$((BASE_PORT + 2))" >"$WORK/broker-$1.log" 2>&1 &
    BR_PID=$!; PIDS+=("$BR_PID")
    BROKER_PID=$BR_PID
    wait_port "$BROKER"
    # Something else on one of the ports answers wait_port too: check ours are the listeners.
    kill -0 "$NS_PID" 2>/dev/null || { log "mini-namesrv exited: $(tail -3 "$WORK/namesrv.log")"; return 1; }
    kill -0 "$BR_PID" 2>/dev/null || { log "mini-broker exited: $(tail -3 "$WORK/broker-$1.log")"; return 1; }
    "$RMQ" wait-broker --namesrv "$NS" >/dev/null # registration with the NameServer
}
stop_mini() {
    BROKER_PID=
    kill "$BR_PID" "$NS_PID" 2>/dev/null || true
    wait "$BR_PID" "$NS_PID" 2>/dev/null || true
}

produce() { # NAME ARGS...
    local name=$1; shift
    run "$name" "$RMQ" produce --namesrv "$NS" --group "g_$name" "$@"
}

# ---------------------------------------------------------------- Java client and Apache brokers
JAVA_CP=
java_setup() { # compiles bench/java/JavaBench.java against Apache's 5.5.0 client jars
    command -v java >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null || {
        log "no java/javac/mvn: Apache and Java-client columns skipped"; return 1; }
    "$ROOT/interop/apache/fetch-cp.sh" >"$WORK/fetch-cp.log" 2>&1 || {
        log "fetch-cp.sh failed (see $WORK/fetch-cp.log): Apache columns skipped"; return 1; }
    local cp_dir=$TARGET/apache-rmq/cp classes=$WORK/java-classes
    mkdir -p "$classes"
    javac -d "$classes" -cp "$(cat "$cp_dir/client-5.5.0.txt")" "$ROOT/bench/java/JavaBench.java" || return 1
    JAVA_CP="$classes:$(cat "$cp_dir/client-5.5.0.txt")"
}
java_bench() { # NAME NAMESRV SUBCOMMAND ARGS...
    local name=$1 ns=$2 sub=$3; shift 3
    [[ -n $JAVA_CP ]] || return 0
    run "$name" java -Xms512m -Xmx512m -cp "$JAVA_CP" JavaBench "$sub" --namesrv "$ns" --group "g_$name" "$@"
}
# The rows every (client, broker) pair runs; PREFIX names them (e.g. j_mini_sync1).
client_rows() { # PREFIX KIND(ours|java) NAMESRV TOPIC-SUFFIX
    local p=$1 kind=$2 ns=$3 t=$4
    if [[ $kind == ours ]]; then
        run "${p}_sync1" "$RMQ" produce --namesrv "$ns" --group "g_${p}_sync1" --topic "BS$t" --mode sync --duration "$SECS"
        run "${p}_async256" "$RMQ" produce --namesrv "$ns" --group "g_${p}_async" --topic "BA$t" --mode async --inflight 256 --duration "$SECS"
        run "${p}_batch32" "$RMQ" produce --namesrv "$ns" --group "g_${p}_batch" --topic "BB$t" --mode batch --batch 32 --inflight 8 --duration "$SECS"
        run "${p}_prefill" "$RMQ" produce --namesrv "$ns" --group "g_${p}_prefill" --topic "BD$t" --mode async --inflight 256 --count "$APACHE_DRAIN" --duration 900
        run "${p}_drain" "$RMQ" drain --namesrv "$ns" --topic "BD$t" --count "$APACHE_DRAIN" --group "g_${p}_drain"
    else
        java_bench "${p}_sync1" "$ns" produce --topic "JS$t" --mode sync --duration "$SECS"
        java_bench "${p}_async256" "$ns" produce --topic "JA$t" --mode async --inflight 256 --duration "$SECS"
        java_bench "${p}_batch32" "$ns" produce --topic "JB$t" --mode batch --batch 32 --inflight 8 --duration "$SECS"
        java_bench "${p}_prefill" "$ns" produce --topic "JD$t" --mode async --inflight 256 --count "$APACHE_DRAIN" --duration 900 --warmup 0
        java_bench "${p}_drain" "$ns" drain --topic "JD$t" --count "$APACHE_DRAIN" --timeout 600
    fi
}
flush_rows() { # PREFIX KIND NAMESRV TOPIC-SUFFIX (on a sync-flush broker)
    local p=$1 kind=$2 ns=$3 t=$4
    if [[ $kind == ours ]]; then
        run "${p}_flush1" "$RMQ" produce --namesrv "$ns" --group "g_${p}_f1" --topic "BF1$t" --mode sync --concurrency 1 --duration "$SECS"
        run "${p}_flush64" "$RMQ" produce --namesrv "$ns" --group "g_${p}_f64" --topic "BF64$t" --mode sync --concurrency 64 --duration "$SECS"
    else
        java_bench "${p}_flush1" "$ns" produce --topic "JF1$t" --mode sync --concurrency 1 --duration "$SECS"
        java_bench "${p}_flush64" "$ns" produce --topic "JF64$t" --mode sync --concurrency 64 --duration "$SECS"
    fi
}
APACHE_NS=
apache_up() { # VERSION FLUSH(ASYNC_FLUSH|SYNC_FLUSH): one NameServer + broker, sets APACHE_NS and BROKER_PID
    local v=$1 flush=$2 dir=$WORK/apache-$1-$2 out
    APACHE_DIRS+=("$dir")
    if ! out=$(RMQ_JAVA_OPTS="$APACHE_JAVA_OPTS" "$ROOT/interop/apache/apache-rmq.sh" up "$v" "$dir" \
        "flushDiskType=$flush" mappedFileSizeCommitLog=1073741824 defaultTopicQueueNums=8 2>"$WORK/apache-up.err"); then
        log "Apache $v did not start: $(tail -3 "$WORK/apache-up.err")"
        return 1
    fi
    APACHE_NS=$(awk '/^namesrv/ { print $2 }' <<<"$out")
    BROKER_PID=$(cat "$dir/broker/java.pid" 2>/dev/null || true)
    "$RMQ" wait-broker --namesrv "$APACHE_NS" --cluster RmqIT >/dev/null # registration
    # The first client measured on a fresh JVM would pay for its JIT warm-up: the rows of
    # 2026-12-08 01:17 gave ours 0.67-0.88x Java on sync/async rows that, against a warm
    # broker, are even or ahead. Every client meets a warm broker.
    if [[ ${APACHE_WARM_SECS:-10} -gt 0 ]]; then
        "$RMQ" produce --namesrv "$APACHE_NS" --topic BenchWarm --mode async --inflight 256 \
            --duration "${APACHE_WARM_SECS:-10}" >/dev/null 2>&1 || log "Apache $v warm-up failed"
    fi
}
apache_down() { # VERSION FLUSH
    local dir=$WORK/apache-$1-$2
    record "rss_apache_$1_$2" "$(rss_result "$BROKER_PID")"
    BROKER_PID=
    "$ROOT/interop/apache/apache-rmq.sh" down "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir/broker/store"
}

