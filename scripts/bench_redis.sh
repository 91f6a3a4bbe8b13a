#!/usr/bin/env bash
# examples/redis_server against a real redis-server under redis-benchmark, in the same run.
#
#   bash scripts/bench_redis.sh            # 200,000 requests per plain test, 3 rounds
#   N=400000 ROUNDS=5 bash scripts/bench_redis.sh
#
# For each round, and alternating between the two servers: `redis-benchmark -t set` and
# `-t get` with 50 clients, plain and pipelined (-P 16). Each server is pinned to one core and
# redis-benchmark to another (taskset). Every test reads the server's utime+stime from
# /proc/PID/stat before and after and reports requests per server CPU-second. The CPU time
# comes in 10 ms ticks, so the pipelined tests run PIPELINED_N requests (default 10 x N):
# 200,000 pipelined requests take only ~0.15 s of CPU, where one tick is 7%. The summary is
# the median of the rounds and the ratio redis_server / redis-server.
#
# Output: `key=value` lines, then a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
PIPELINED_N=${PIPELINED_N:-$((N * 10))}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

for tool in redis-server redis-benchmark taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-server redis-tools util-linux)" >&2; exit 1; }
done

cargo build --release --example redis_server -q
BIN=target/release/examples/redis_server
TICK=$(getconf CLK_TCK)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# sprout's redis_server: it prints the address it bound.
OUT=$(mktemp)
taskset -c "$SERVER_CPU" "$BIN" --addr 127.0.0.1:0 >"$OUT" &
SPROUT_PID=$!
PIDS+=("$SPROUT_PID")
for _ in $(seq 100); do grep -q "listening on" "$OUT" && break; sleep 0.05; done
SPROUT_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$OUT")
rm -f "$OUT"

# The peer: redis-server without persistence.
REDIS_PORT=$(free_port)
taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --loglevel warning --dir /tmp >/dev/null &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "redis_server_port=$SPROUT_PORT"
echo "redis_server_peer=$(redis-server --version | sed 's/ sha=.*//')"
echo "requests=$N pipelined_requests=$PIPELINED_N clients=$CLIENTS rounds=$ROUNDS server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A RESULTS
run() { # server pid port test pipeline round
    local name=$1 pid=$2 port=$3 test=$4 pipe=$5 round=$6
    local before after csv rps ticks per_cpu n=$N
    [ "$pipe" = 1 ] || n=$PIPELINED_N
    before=$(cpu_ticks "$pid")
    csv=$(taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -t "$test" -c "$CLIENTS" -n "$n" \
        -P "$pipe" --csv 2>&1 | grep -i "\"$test\"" || true)
    after=$(cpu_ticks "$pid")
    rps=$(echo "$csv" | cut -d, -f2 | tr -d '"')
    ticks=$((after - before))
    if [ -z "$rps" ] || [ "$ticks" -le 0 ]; then
        echo "benchmark failed: $name $test -P $pipe: $csv" >&2
        exit 1
    fi
    per_cpu=$(python3 -c "print(round($n * $TICK / $ticks))")
    local key="${name}_${test}_P${pipe}"
    echo "${key}_round${round}_rps=$rps ${key}_round${round}_cpu_s=$(python3 -c "print($ticks / $TICK)") ${key}_round${round}_per_cpu_s=$per_cpu"
    RESULTS[$key]="${RESULTS[$key]:-} $per_cpu"
}

for round in $(seq "$ROUNDS"); do
    for pipe in 1 16; do
        for test in set get; do
            run redis_server "$SPROUT_PID" "$SPROUT_PORT" "$test" "$pipe" "$round"
            run redis-server "$REDIS_PID" "$REDIS_PORT" "$test" "$pipe" "$round"
        done
    done
done

median() { python3 -c "import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:]))))" "$@"; }

echo
echo "| test | redis_server req/CPU-s | redis-server req/CPU-s | ratio |"
echo "| --- | ---: | ---: | ---: |"
for pipe in 1 16; do
    for test in set get; do
        # shellcheck disable=SC2086
        a=$(median ${RESULTS[redis_server_${test}_P${pipe}]})
        # shellcheck disable=SC2086
        b=$(median ${RESULTS[redis-server_${test}_P${pipe}]})
        ratio=$(python3 -c "print(f'{$a / $b:.2f}')")
        # shellcheck disable=SC2086
        echo "ratio_${test}_P${pipe}_per_round=$(python3 -c "import sys; a, b = sys.argv[1].split(), sys.argv[2].split(); print(','.join(f'{float(x) / float(y):.2f}' for x, y in zip(a, b)))" "${RESULTS[redis_server_${test}_P${pipe}]}" "${RESULTS[redis-server_${test}_P${pipe}]}")" >&2
        label=$(echo "$test" | tr a-z A-Z)
        [ "$pipe" = 1 ] && mode=plain || mode="-P $pipe"
        echo "ratio_${test}_P${pipe}=$ratio" >&2
        echo "| $label $mode | $a | $b | ${ratio}x |"
    done
done
