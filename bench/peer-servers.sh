#!/usr/bin/env bash
# Runs inside `unshare --net` (called by bench/run.sh): the rocketmq-rust 1.0 NameServer dials
# the host's non-loopback address at start, so it gets a namespace with only `lo`.
# Starts rocketmq-namesrv-rust and rocketmq-broker-rust (default config, async flush, store
# under WORK), runs our client's rows against them and prints `ROW name RESULT ...` lines.
# Usage: peer-servers.sh PEER_DIR RMQBENCH WORK SECS DRAIN_COUNT
set -euo pipefail
PEER_DIR=$1 RMQ=$2 WORK=$3 SECS=$4 DRAIN_COUNT=$5
ip link set lo up

HOME_DIR=$WORK/peer-home
rm -rf "$HOME_DIR"; mkdir -p "$HOME_DIR/store"
cat >"$HOME_DIR/broker.properties" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
brokerIP1=127.0.0.1
listenPort=10911
namesrvAddr=127.0.0.1:9876
storePathRootDir=$HOME_DIR/store
autoCreateTopicEnable=true
flushDiskType=ASYNC_FLUSH
brokerRole=ASYNC_MASTER
EOF

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "port $1 never opened" >&2; return 1
}

export HOME=$HOME_DIR ROCKETMQ_HOME=$HOME_DIR
(cd "$HOME_DIR" && exec "$PEER_DIR/bin/rocketmq-namesrv-rust" >"$HOME_DIR/namesrv.log" 2>&1) &
PIDS+=($!)
wait_port 9876
(cd "$HOME_DIR" && exec "$PEER_DIR/bin/rocketmq-broker-rust" -n 127.0.0.1:9876 -c "$HOME_DIR/broker.properties" \
    >"$HOME_DIR/broker.log" 2>&1) &
PIDS+=($!)
wait_port 10911
sleep 3 # registration

row() { # NAME CMD...
    local name=$1; shift
    local out
    out=$("$@" 2>>"$WORK/peer-servers-client.err") || echo "$name failed" >&2
    grep '^RESULT' <<<"$out" | tail -1 | sed "s/^/ROW peerbroker_$name /" || true
}
P=(produce --namesrv 127.0.0.1:9876)
row sync1 "$RMQ" "${P[@]}" --group pb_sync --topic PbSync --mode sync --duration "$SECS"
row async256 "$RMQ" "${P[@]}" --group pb_async --topic PbAsync --mode async --inflight 256 --duration "$SECS"
row batch32 "$RMQ" "${P[@]}" --group pb_batch --topic PbBatch --mode batch --batch 32 --inflight 8 --duration "$SECS"
N=$((DRAIN_COUNT / 10))
"$RMQ" "${P[@]}" --group pb_fill --topic PbDrain --mode async --inflight 256 --count "$N" --duration 600 >/dev/null 2>&1 || true
row drain "$RMQ" drain --namesrv 127.0.0.1:9876 --topic PbDrain --count "$N" --group pb_drain --timeout 300
