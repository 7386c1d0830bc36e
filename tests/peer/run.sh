#!/usr/bin/env bash
# Runs tests/peer_rocketmq_rust.rs against the rocketmq-rust 1.0 broker from crates.io, with
# either its own NameServer or our mini-namesrv in front (NAMESRV=peer|mini, default peer).
#
#   PEER_DIR=~/.cache/rocketmq-rs-bench tests/peer/run.sh            # peer namesrv + peer broker
#   NAMESRV=mini PEER_DIR=... tests/peer/run.sh                      # mini-namesrv + peer broker
#
# The peer binaries are built outside this repository (bench/build-peers.sh servers). Their
# NameServer dials the host's non-loopback address at start, so everything runs inside
# `unshare --net` with only `lo` up (needs root or user namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PEER_DIR=${PEER_DIR:-$HOME/.cache/rocketmq-rs-bench}
NAMESRV=${NAMESRV:-peer}
for b in rocketmq-broker-rust rocketmq-namesrv-rust; do
    [ -x "$PEER_DIR/bin/$b" ] || { echo "missing $PEER_DIR/bin/$b: run bench/build-peers.sh servers" >&2; exit 2; }
done
cargo build -q -p rocketmq-rs-mini-namesrv --features cli
TEST_BIN=$(cargo test -q -p rocketmq-it --test peer_rocketmq_rust --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="peer_rocketmq_rust": print(m["executable"])')
MINI_NAMESRV=$(cargo metadata -q --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/mini-namesrv
export PEER_DIR NAMESRV TEST_BIN MINI_NAMESRV
exec unshare --net bash -c '
set -u
ip link set lo up
H=$(mktemp -d)
mkdir -p "$H/store"
cat > "$H/broker.properties" <<P
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
brokerIP1=127.0.0.1
listenPort=10911
namesrvAddr=127.0.0.1:9876
storePathRootDir=$H/store
autoCreateTopicEnable=true
flushDiskType=ASYNC_FLUSH
brokerRole=ASYNC_MASTER
P
export HOME=$H ROCKETMQ_HOME=$H
if [ "$NAMESRV" = mini ]; then
    "$MINI_NAMESRV" --listen 127.0.0.1:9876 > "$H/namesrv.log" 2>&1 &
else
    (cd "$H" && exec "$PEER_DIR/bin/rocketmq-namesrv-rust" > "$H/namesrv.log" 2>&1) &
fi
NS=$!
sleep 2
(cd "$H" && exec "$PEER_DIR/bin/rocketmq-broker-rust" -n 127.0.0.1:9876 -c "$H/broker.properties" > "$H/broker.log" 2>&1) &
BR=$!
sleep 6
rc=0
ROCKETMQ_IT_PEER_NAMESRV=127.0.0.1:9876 "$TEST_BIN" --ignored --nocapture --test-threads=1 || rc=$?
kill $BR $NS 2>/dev/null; wait 2>/dev/null
echo "logs kept in $H"
exit $rc
'
