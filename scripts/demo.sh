#!/usr/bin/env bash
# The main job: builds the examples and runs each one the way the README describes.
# Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --examples --all-features
ex=target/release/examples
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts an example server on 127.0.0.1:0; sets ADDR (what it reports) and PID.
start_server() {
    local name=$1; shift
    local log; log=$(mktemp)
    "$ex/$name" --addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 100); do
        if grep -q '^listening on ' "$log"; then ADDR=$(sed -n 's/^listening on //p' "$log" | head -1); return; fi
        sleep 0.05
    done
    echo "$name did not start" >&2; cat "$log" >&2; exit 1
}

if [ -x "$ex/echo" ] && [ -x "$ex/echo_load" ]; then
    echo "== echo: one OS thread serving 200 connections"
    start_server echo
    "$ex/echo_load" --addr "$ADDR" --conns 200 --size 64 --secs 3
    echo "server threads: $(ls /proc/$PID/task | wc -l)"
fi
if [ -x "$ex/echo_std" ] && [ -x "$ex/echo_load" ]; then
    echo "== echo_std: std::net + monkey patching"
    start_server echo_std
    "$ex/echo_load" --addr "$ADDR" --conns 200 --size 64 --secs 3
    echo "server threads: $(ls /proc/$PID/task | wc -l)"
fi
if [ -x "$ex/http_hello" ] && [ -x "$ex/http_load" ]; then
    echo "== http_hello"
    start_server http_hello
    "$ex/http_load" --addr "$ADDR" --conns 50 --secs 3
    echo "server threads: $(ls /proc/$PID/task | wc -l)"
fi
echo "== ping_pong"
"$ex/ping_pong" --rounds 3
echo "== sleep_many"
"$ex/sleep_many" --count 10000
