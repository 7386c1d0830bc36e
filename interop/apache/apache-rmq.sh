#!/usr/bin/env bash
# Runs Apache RocketMQ NameServers, Brokers and mqadmin from the Maven Central jars that
# fetch-cp.sh resolved, on 127.0.0.1 only. Every process keeps its config, logs and store under
# one scratch directory of its own.
#
# By hand (VERSION: 4.9.7, 5.3.3, 5.5.0, ...; DIR: a scratch directory it may fill):
#   interop/apache/apache-rmq.sh up VERSION DIR [key=value ...]   # namesrv + broker, prints addresses
#   interop/apache/apache-rmq.sh mqadmin VERSION DIR clusterList -n 127.0.0.1:PORT
#   interop/apache/apache-rmq.sh down DIR                         # SIGTERM by PID, then SIGKILL
#
# Building blocks (the Rust harness runs these as child processes). They write the JVM's PID to
# DIR/java.pid, forward SIGTERM/SIGINT to it, and with RMQ_WATCH_PID=<pid> kill it (-9) within a
# second of that process ending, so servers never outlive a test binary that died or exited
# without dropping them (and then remove RMQ_WATCH_CLEAN=<dir> if it holds the harness's
# marker file .rocketmq-it-scratch):
#   run-namesrv VERSION DIR PORT
#   run-broker  VERSION DIR NAME PORT NAMESRV_ADDR [key=value ...]  # later keys override earlier
#   mqadmin-batch VERSION DIR   # mqadmin commands from stdin, one JVM (see MqadminBatch.java)
#   pick-ports N                                                   # N free TCP ports, one a line
#
# Environment: RMQ_CP_DIR (classpath files, default <workspace>/target/apache-rmq/cp),
# JAVA (default: java on PATH), RMQ_JAVA_OPTS (appended to every JVM's options).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cp_dir=${RMQ_CP_DIR:-${CARGO_TARGET_DIR:-$root/target}/apache-rmq/cp}
java=${JAVA:-java}

# Java 17 refuses the reflective access both lines do into java.nio / jdk.internal.ref /
# sun.nio.ch (4.9 MappedFile.clean and mlock, 5.x DefaultMappedFile).
opens=(--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED)
# shellcheck disable=SC2206
extra_opts=(${RMQ_JAVA_OPTS:-})

# 5.x's shaded logback prints its whole configuration status (hundreds of lines) to stdout
# because Apache's rmq.*.logback.xml use a deprecated <level> element; 4.9 has no such class.
quiet_logback() { # VERSION
    case $1 in
        4.*) ;;
        *) echo "-Dlogback.statusListenerClass=org.apache.rocketmq.logging.ch.qos.logback.core.status.NopStatusListener" ;;
    esac
}

die() { echo "apache-rmq.sh: $*" >&2; exit 2; }

classpath() { # ROLE VERSION
    local f="$cp_dir/$1-$2.txt"
    [ -s "$f" ] || "$here/fetch-cp.sh" "$1:$2" >&2 || die "cannot resolve rocketmq-$1 $2"
    cat "$f"
}

# $ROCKETMQ_HOME for one process: 4.9 reads conf/logback_<role>.xml from it (and exits without
# it); 5.x configures its shaded logback from the jars and only checks the variable is set.
make_home() { # DIR ROLE
    local home=$1/home
    mkdir -p "$home/conf"
    cat >"$home/conf/logback_$2.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$1/logs/$2.log</file>
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5p [%t] %c{0} - %m%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML
    echo "$home"
}

# Runs a JVM in the background and waits for it (see the header for PID file, signals, watch).
supervise() { # DIR JAVA ARGS...
    local dir=$1
    shift
    "$@" &
    local jpid=$! watch=${RMQ_WATCH_PID:-}
    echo "$jpid" >"$dir/java.pid"
    trap 'kill -TERM "$jpid" 2>/dev/null' TERM INT HUP
    while kill -0 "$jpid" 2>/dev/null; do
        if [ -n "$watch" ] && ! kill -0 "$watch" 2>/dev/null; then
            kill -9 "$jpid" 2>/dev/null
            wait "$jpid" 2>/dev/null || true
            # The test binary is gone and nobody will delete its scratch directory: each
            # server removes its own part, the last one the rest, and only in a directory
            # the harness marked as its own.
            local scratch=${RMQ_WATCH_CLEAN:-} d others=0
            if [ -n "$scratch" ] && [ -f "$scratch/.rocketmq-it-scratch" ]; then
                rm -rf -- "$dir" "$dir.out"
                for d in "$scratch"/*/; do
                    case $(basename "$d") in namesrv* | broker* | slave*) others=1 ;; esac
                done
                [ "$others" -eq 1 ] || rm -rf -- "$scratch"
            fi
            exit 137
        fi
        sleep 1 &
        wait $! 2>/dev/null || true
    done
    local rc=0
    wait "$jpid" 2>/dev/null || rc=$?
    exit "$rc"
}

run_namesrv() { # VERSION DIR PORT
    local v=$1 dir=$2 port=$3
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local home cp
    home=$(make_home "$dir" namesrv)
    cp=$(classpath namesrv "$v")
    # scanAvailableNameSrv=false: a 5.x NameServer otherwise dials its own non-loopback
    # address (NetworkUtil.getLocalAddress():listenPort) every 3 s to "scan" itself.
    printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s/kvConfig.json\nconfigStorePath=%s/namesrv.properties\nscanAvailableNameSrv=false\n' \
        "$port" "$dir" "$dir" >"$dir/namesrv.conf"
    export ROCKETMQ_HOME=$home
    supervise "$dir" "$java" -Xms64m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k "${opens[@]}" \
        -Duser.home="$dir" -Djava.io.tmpdir="$(scratch_tmp "$dir")" -Drocketmq.home.dir="$home" $(quiet_logback "$v") "${extra_opts[@]}" \
        -cp "$cp" org.apache.rocketmq.namesrv.NamesrvStartup -c "$dir/namesrv.conf"
}

# A per-process java.io.tmpdir inside the scratch dir: 5.x JVMs unpack librocksdbjni*.so
# (13 MB) into the temp dir on every start and never delete it, so the system /tmp filled up
# across test runs.
scratch_tmp() { # DIR
    mkdir -p "$1/tmp" && printf '%s' "$1/tmp"
}

run_broker() { # VERSION DIR NAME PORT NAMESRV [key=value ...]
    local v=$1 dir=$2 name=$3 port=$4 ns=$5
    shift 5
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local home cp
    # A 5.x broker refuses every send once its disk is over 90 % used (the warning ratio is
    # clamped to 0.90 whatever we configure) and answers SERVICE_NOT_AVAILABLE "disk is full"
    # a minute into a test; say so up front instead.
    local used
    used=$(df -P "$dir" | awk 'NR==2 { sub("%", "", $5); print $5 }')
    if [ -n "$used" ] && [ "$used" -ge 88 ]; then
        die "disk of $dir is ${used}% used: Apache brokers refuse writes above 90%; free space first"
    fi
    home=$(make_home "$dir" broker)
    cp=$(classpath broker "$v")
    # Small files everywhere: the defaults (1 GiB commit log, 5.7 MB consume queues, ~420 MB
    # index, 100 MiB timer log) are sparse, but 2 cores and several brokers at once. Waits for
    # "broker busy" are long because test machines are loaded.
    {
        printf '%s\n' brokerClusterName=RmqIT "brokerName=$name" brokerId=0 brokerRole=ASYNC_MASTER \
            flushDiskType=ASYNC_FLUSH "namesrvAddr=$ns" "listenPort=$port" bindAddress=127.0.0.1 \
            brokerIP1=127.0.0.1 brokerIP2=127.0.0.1 "storePathRootDir=$dir/store" \
            "storePathCommitLog=$dir/store/commitlog" autoCreateTopicEnable=true \
            autoCreateSubscriptionGroup=true defaultTopicQueueNums=4 \
            mappedFileSizeCommitLog=67108864 mappedFileSizeConsumeQueue=600000 \
            mappedFileSizeTimerLog=16777216 maxHashSlotNum=50000 maxIndexNum=200000 \
            diskMaxUsedSpaceRatio=95 waitTimeMillsInSendQueue=3000 osPageCacheBusyTimeOutMills=3000 \
            transactionCheckInterval=5000 transactionTimeOut=3000 enableControllerMode=false \
            storeType=default configManagerVersion=v1
        for kv in "$@"; do printf '%s\n' "$kv"; done
    } >"$dir/broker.conf"
    export ROCKETMQ_HOME=$home
    supervise "$dir" "$java" -Xms128m -Xmx384m -XX:MaxDirectMemorySize=256m -XX:+UseSerialGC \
        -XX:TieredStopAtLevel=1 -Xss512k "${opens[@]}" \
        -Duser.home="$dir" -Djava.io.tmpdir="$(scratch_tmp "$dir")" -Drocketmq.home.dir="$home" \
        -Drocketmq.broker.diskSpaceWarningLevelRatio=0.95 -Drocketmq.broker.diskSpaceCleanForciblyRatio=0.93 \
        $(quiet_logback "$v") "${extra_opts[@]}" -cp "$cp" org.apache.rocketmq.broker.BrokerStartup -c "$dir/broker.conf"
}

run_mqadmin() { # VERSION DIR args...
    local v=$1 dir=$2
    shift 2
    mkdir -p "$dir/tools"
    local tdir home cp
    tdir=$(cd "$dir/tools" && pwd)
    home=$(make_home "$tdir" tools)
    cp=$(classpath tools "$v")
    export ROCKETMQ_HOME=$home
    exec "$java" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto "${opens[@]}" \
        -Duser.home="$tdir" -Djava.io.tmpdir="$(scratch_tmp "$tdir")" -Drocketmq.home.dir="$home" $(quiet_logback "$v") "${extra_opts[@]}" \
        -cp "$cp" org.apache.rocketmq.tools.command.MQAdminStartup "$@"
}

# Like run_mqadmin, but one JVM runs many commands read from standard input (protocol in
# MqadminBatch.java); Java's source launcher compiles that file in memory at start.
run_mqadmin_batch() { # VERSION DIR
    local v=$1 dir=$2
    mkdir -p "$dir/tools"
    local tdir home cp
    tdir=$(cd "$dir/tools" && pwd)
    home=$(make_home "$tdir" tools)
    cp=$(classpath tools "$v")
    export ROCKETMQ_HOME=$home
    exec "$java" -Xmx192m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto "${opens[@]}" \
        -Duser.home="$tdir" -Djava.io.tmpdir="$(scratch_tmp "$tdir")" -Drocketmq.home.dir="$home" $(quiet_logback "$v") "${extra_opts[@]}" \
        -cp "$cp" "$here/MqadminBatch.java"
}

# N distinct free ports on 127.0.0.1 (held together while picking, so they differ).
pick_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
}

# A broker also listens on port-2 (fast remoting, 4.x and 5.x) and port+1 (HA): pick a port
# whose neighbours are free too.
pick_broker_port() {
    python3 <<'PY'
import socket
for _ in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    held = [s]
    try:
        for q in (p - 2, p + 1):
            t = socket.socket(); t.bind(("127.0.0.1", q)); held.append(t)
    except OSError:
        continue
    finally:
        for h in held: h.close()
    print(p); break
else:
    raise SystemExit("no free port triple")
PY
}

wait_ready() { # FILE PID TIMEOUT_S
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q 'boot success' "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "--- $1 ---" >&2
    tail -n 40 "$1" >&2
    return 1
}

stop_pid() { # PIDFILE JAVA_PIDFILE
    [ -f "$1" ] || return 0
    local pid jpid i
    pid=$(cat "$1")
    jpid=$(cat "$2" 2>/dev/null || true)
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -z "$jpid" ] || kill -9 "$jpid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    run-namesrv) [ $# -eq 3 ] || die "usage: run-namesrv VERSION DIR PORT"; run_namesrv "$@" ;;
    run-broker) [ $# -ge 5 ] || die "usage: run-broker VERSION DIR NAME PORT NAMESRV [k=v ...]"; run_broker "$@" ;;
    mqadmin) [ $# -ge 3 ] || die "usage: mqadmin VERSION DIR ARGS..."; run_mqadmin "$@" ;;
    mqadmin-batch) [ $# -eq 2 ] || die "usage: mqadmin-batch VERSION DIR"; run_mqadmin_batch "$@" ;;
    pick-ports) pick_ports "${1:-1}" ;;
    up)
        [ $# -ge 2 ] || die "usage: up VERSION DIR [k=v ...]"
        v=$1 dir=$2
        shift 2
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
        [ ! -f "$dir/namesrv.pid" ] || die "$dir already has a running cluster (down it first)"
        nsp=$(pick_ports 1)
        "$0" run-namesrv "$v" "$dir/namesrv" "$nsp" >"$dir/namesrv.out" 2>&1 &
        echo $! >"$dir/namesrv.pid"
        wait_ready "$dir/namesrv.out" "$(cat "$dir/namesrv.pid")" 60 || die "namesrv did not start"
        bp=$(pick_broker_port)
        "$0" run-broker "$v" "$dir/broker" broker-a "$bp" "127.0.0.1:$nsp" "$@" >"$dir/broker.out" 2>&1 &
        echo $! >"$dir/broker.pid"
        wait_ready "$dir/broker.out" "$(cat "$dir/broker.pid")" 120 || die "broker did not start"
        echo "namesrv 127.0.0.1:$nsp"
        echo "broker 127.0.0.1:$bp"
        ;;
    down)
        [ $# -eq 1 ] || die "usage: down DIR"
        stop_pid "$1/broker.pid" "$1/broker/java.pid"
        stop_pid "$1/namesrv.pid" "$1/namesrv/java.pid"
        ;;
    *) die "unknown command '${cmd}' (up, down, mqadmin, mqadmin-batch, run-namesrv, run-broker, pick-ports)" ;;
esac
