#!/usr/bin/env bash
# Resolves, with Maven from Maven Central, the runtime classpath of each Apache RocketMQ role
# (namesrv, broker, tools, client) for each version, and writes it to
# $RMQ_CP_DIR/<role>-<version>.txt (default: apache-rmq/cp in $CARGO_TARGET_DIR, else in
# <workspace>/target). A classpath file that already exists is reused, so only the first run
# downloads (into the Maven local repository, ~/.m2 unless RMQ_M2_REPO is set).
#
#   interop/apache/fetch-cp.sh                     # the default set below
#   interop/apache/fetch-cp.sh 5.5.0               # every role of one version
#   interop/apache/fetch-cp.sh broker:5.3.3 ...    # single role:version pairs
#
# What Maven Central serves (checked 2026-12): 4.9.8 has client, common, remoting, store, tools
# but no rocketmq-namesrv nor rocketmq-broker, so the newest 4.x servers are 4.9.7 (the 4.9.8
# client is resolved for Java-client peers, the 4.9.8 tools for tests/mqadmin_interop.rs);
# 5.5.1 has rocketmq-broker but no namesrv, tools or client, so the newest complete 5.x is 5.5.0.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cp_dir=${RMQ_CP_DIR:-${CARGO_TARGET_DIR:-$root/target}/apache-rmq/cp}
mkdir -p "$cp_dir"

command -v mvn >/dev/null || { echo "fetch-cp.sh: mvn not found" >&2; exit 3; }

default_set="namesrv:4.9.7 broker:4.9.7 tools:4.9.7 client:4.9.8 tools:4.9.8
namesrv:5.3.3 broker:5.3.3 tools:5.3.3 client:5.3.3
namesrv:5.5.0 broker:5.5.0 tools:5.5.0 client:5.5.0"

pairs=()
if [ $# -eq 0 ]; then
    read -r -d '' -a pairs <<<"$default_set" || true
else
    for a in "$@"; do
        case $a in
            *:*) pairs+=("$a") ;;
            *) pairs+=("namesrv:$a" "broker:$a" "tools:$a" "client:$a") ;;
        esac
    done
fi

mvn_args=(-B -q -Dstyle.color=never -f "$here/pom.xml")
[ -n "${RMQ_M2_REPO:-}" ] && mvn_args+=("-Dmaven.repo.local=$RMQ_M2_REPO")

# Several test binaries may provision at once: one resolver at a time, and every file is
# written under a temporary name then renamed, so a reader never sees half a classpath.
exec 9>"$cp_dir/.lock"
flock 9

for p in "${pairs[@]}"; do
    role=${p%%:*}
    ver=${p#*:}
    out="$cp_dir/$role-$ver.txt"
    [ -s "$out" ] && continue
    echo "fetch-cp.sh: resolving rocketmq-$role $ver" >&2
    t0=$(date +%s)
    if ! mvn "${mvn_args[@]}" -Drmq.artifact="rocketmq-$role" -Drmq.version="$ver" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:build-classpath \
        -DincludeScope=runtime -Dmdep.outputFile="$out.tmp" >"$cp_dir/mvn.log" 2>&1; then
        grep -a ERROR "$cp_dir/mvn.log" | head -3 >&2
        echo "fetch-cp.sh: cannot resolve rocketmq-$role $ver (full log: $cp_dir/mvn.log)" >&2
        rm -f "$out.tmp"
        exit 1
    fi
    mv "$out.tmp" "$out"
    echo "fetch-cp.sh: rocketmq-$role $ver resolved in $(( $(date +%s) - t0 ))s" >&2
done
