#!/usr/bin/env bash
# Builds the peers of the benchmark outside the repository and caches them in $PEER_DIR
# (default ~/.cache/rocketmq-rs-bench):
#   $PEER_DIR/bin/rocketmq-namesrv-rust, rocketmq-broker-rust  (crates rocketmq-namesrv/-broker 1.0)
#   $PEER_DIR/client-bench/target/release/peer-client-bench  (rocketmq-client-rust 1.0's own
#       published benchmark example, scenarios sync|async|batch|lite-pull)
# Already-built peers are reused. Builds run under `nice`; expect tens of minutes on 2 cores.
# Usage: bench/build-peers.sh [client|servers|all]   (default all)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PEER_DIR=${PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rocketmq-rs-bench}
WHAT=${1:-all}
mkdir -p "$PEER_DIR"

build_client() {
    local dir=$PEER_DIR/client-bench
    local bin=$dir/target/release/peer-client-bench
    if [[ -x $bin ]]; then echo "peer client: cached $bin"; return; fi
    mkdir -p "$dir/src"
    cp "$HERE/peer-client/Cargo.toml.in" "$dir/Cargo.toml"
    (cd "$dir" && cargo fetch -q)
    # The crate's published benchmark example is the peer's own benchmark: use it as is.
    local src
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rocketmq-client-rust-1.0.0 | head -1)
    cp "$src/examples/benchmark/client_production_benchmark.rs" "$dir/src/main.rs"
    sed -i 's|#\[path = "../support/mod.rs"\]|#[path = "support.rs"]|' "$dir/src/main.rs"
    cp "$src/examples/support/mod.rs" "$dir/src/support.rs"
    (cd "$dir" && CARGO_TARGET_DIR=$dir/target nice -n 15 cargo build --release -q)
    echo "peer client: built $bin"
}

build_servers() {
    if [[ -x $PEER_DIR/bin/rocketmq-namesrv-rust && -x $PEER_DIR/bin/rocketmq-broker-rust ]]; then
        echo "peer servers: cached in $PEER_DIR/bin"; return
    fi
    nice -n 15 cargo install --locked --root "$PEER_DIR" rocketmq-namesrv@1.0.0 rocketmq-broker@1.0.0
    ls "$PEER_DIR/bin"
}

case $WHAT in
    client) build_client ;;
    servers) build_servers ;;
    all) build_client; build_servers ;;
    *) echo "usage: $0 [client|servers|all]" >&2; exit 2 ;;
esac
