#!/usr/bin/env bash
# The main job: builds the examples and runs each one the way the README describes, briefly
# (about a minute in all). Every process it starts is ended on exit, however it exits.
# Usage: bash scripts/demo.sh      (SPROUT_DEMO_PROFILE=debug uses a debug build instead)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SPROUT_DEMO_PROFILE:-release}" = debug ]; then
    cargo build --examples --all-features
    ex=${CARGO_TARGET_DIR:-target}/debug/examples
else
    cargo build --release --examples --all-features
    ex=${CARGO_TARGET_DIR:-target}/release/examples
fi
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do
        [ -n "$p" ] || continue
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts an example server on 127.0.0.1:0; sets ADDR (what it reports), PORT, PID and LOG.
start_server() {
    local name=$1; shift
    LOG=$(mktemp "$work/$name.XXXX")
    "$ex/$name" --addr 127.0.0.1:0 "$@" >"$LOG" 2>&1 &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 200); do
        if grep -q '^listening on ' "$LOG"; then
            ADDR=$(sed -n 's/^listening on //p' "$LOG" | head -1)
            PORT=${ADDR##*:}
            return
        fi
        sleep 0.05
    done
    echo "$name did not start" >&2; cat "$LOG" >&2; exit 1
}

# Sends SIGTERM to PID and checks that it stops gracefully (exit 0) within 20 s.
stop_gracefully() {
    local name=$1 rc=0
    kill -TERM "$PID"
    for _ in $(seq 400); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
    wait "$PID" || rc=$?
    if [ "$rc" != 0 ]; then echo "$name: exit $rc after SIGTERM" >&2; cat "$LOG" >&2; exit 1; fi
    echo "$name stopped gracefully on SIGTERM (exit 0)"
}

# Fails the demo with a message.
fail() { echo "FAILED: $*" >&2; exit 1; }

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

    echo "== http_hello --workers 2: pre-fork workers, then a graceful stop on SIGTERM"
    start_server http_hello --workers 2
    "$ex/http_load" --addr "$ADDR" --conns 20 --secs 2
    echo "processes: master $PID, workers $(pgrep -P "$PID" | tr '\n' ' ')"
    stop_gracefully "http_hello --workers 2"
fi
if [ -x "$ex/https_hello" ] && command -v curl >/dev/null; then
    echo "== https_hello: curl --cacert, over HTTP/1.1 and HTTP/1.0, then SIGTERM"
    start_server https_hello
    for _ in $(seq 100); do grep -q '^certificate in ' "$LOG" && break; sleep 0.05; done
    cert=$(sed -n 's/^certificate in //p' "$LOG")
    [ -f "$cert" ] || fail "https_hello: no certificate file ($cert)"
    curl -sS --max-time 10 --cacert "$cert" "https://localhost:$PORT/"; echo
    curl -sS --max-time 10 --cacert "$cert" --http1.0 "https://localhost:$PORT/json"; echo
    stop_gracefully https_hello
    [ ! -e "$(dirname "$cert")" ] || fail "https_hello left $(dirname "$cert") behind"
    echo "certificate directory removed"
fi
if [ -x "$ex/redis_server" ]; then
    echo "== redis_server"
    start_server redis_server
    if command -v redis-cli >/dev/null; then
        redis-cli -p "$PORT" PING
        redis-cli -p "$PORT" SET greeting hello
        [ "$(redis-cli -p "$PORT" GET greeting)" = hello ] || fail "redis_server: GET"
        echo "GET greeting -> hello"
    else
        echo "(redis-cli not installed: skipped PING/SET/GET)"
    fi
fi
if [ -x "$ex/udp_echo" ] && command -v python3 >/dev/null; then
    echo "== udp_echo"
    start_server udp_echo
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(5); s.sendto(b"hello over udp",("127.0.0.1",int(sys.argv[1]))); d=s.recv(100); print(d.decode()); sys.exit(d!=b"hello over udp")' "$PORT"
fi
if [ -x "$ex/fork_echo" ] && command -v python3 >/dev/null; then
    echo "== fork_echo: a child process per connection"
    start_server fork_echo
    python3 -c '
import socket, sys
for i in range(5):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    msg = b"hello %d" % i
    c.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = c.recv(100)
        if not d: break
        got += d
    c.close()
    if got != msg: sys.exit("bad echo %r" % got)
print("5 connections echoed, each by its own child")' "$PORT"
fi
if [ -x "$ex/subprocess" ]; then
    echo "== subprocess: streamed output and a ticker that keeps running"
    "$ex/subprocess" --timeout 5 -- sh -c 'for i in 1 2 3; do echo line $i; sleep 0.3; done'
fi
echo "== ping_pong"
"$ex/ping_pong" --rounds 3
echo "== sleep_many"
"$ex/sleep_many" --count 100000 --secs 1
echo "== demo passed"
