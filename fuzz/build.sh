#!/usr/bin/env bash
# Builds the fuzz targets the way `cargo fuzz build` does (libFuzzer + SanitizerCoverage, no
# ASan: the code under test is safe Rust), for machines without cargo-fuzz. Needs a nightly
# toolchain. Usage: fuzz/build.sh [TARGET...]; binaries land in
# $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
bins=()
for t in "$@"; do bins+=(--bin "$t"); done
exec cargo +nightly build --release --target x86_64-unknown-linux-gnu "${bins[@]}"
