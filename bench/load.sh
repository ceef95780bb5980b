#!/usr/bin/env bash
# load.sh - the HTTP load benchmark on 127.0.0.1: wrk with keep-alive connections POSTs the
# origin notebook's 2-d layer as JSON to convtransposed, then the same request to a minimal
# libmicrohttpd hello-world built with the same flags (bench/hello.c), in the same run.
# Prints req/s and latency percentiles for both and the ratio.
#   bench/load.sh [SECONDS] [CONNECTIONS] [ROUNDS]   (defaults 5 s, 64 connections, 5 rounds)
# Env: WRK_THREADS (default 2); LOG_LEVEL (default info, the daemon's own default: the access
# log is on, written to a file as a deployment's log collector would read it).
# The servers are measured alternately, ROUNDS times each, and medians reported: this
# machine's speed drifts, so a single pair of runs is not a fair comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${2:-64}
rounds=${3:-5}
wrk_threads=${WRK_THREADS:-2}
log_level=${LOG_LEVEL:-info}
command -v wrk >/dev/null || scripts/deps.sh wrk
make -s build/convtransposed build/hello
body='{"input":{"shape":[1,2,3,3],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]},"weight":{"shape":[2,2,3,3],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},"groups":2}'
lua=$(mktemp --suffix=.lua)
log=$(mktemp)
trap 'rm -f "$lua" "$log"; kill $(jobs -p) 2>/dev/null || true' EXIT
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

start() { # start BINARY ARGS...: runs it, waits for "listening on HOST:PORT", echoes the port; its log goes to $log
    local out; out=$(mktemp)
    "$@" > "$out" 2>>"$log" &
    for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
    sed -n 's/.*:\([0-9]*\)$/\1/p' "$out" | head -n 1
    rm -f "$out"
}

measure() { # measure PORT: prints "req/s p50 p99 non2xx"
    local res
    res=$(wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" --latency -s "$lua" "http://127.0.0.1:$1/convtranspose")
    printf '%s %s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$res")" "$(awk '$1 == "50%" {print $2}' <<<"$res")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$res")" "$(awk '/Non-2xx/ {print $NF}' <<<"$res" | grep . || echo 0)"
}

ct_port=$(start build/convtransposed --host 127.0.0.1 --port 0 --log-level "$log_level")
hello_port=$(start build/hello 0)
echo "wrk: $conns keep-alive connections, $wrk_threads wrk threads, log level $log_level, $(nproc) cores; $rounds alternating rounds of ${secs}s; medians"
: > "$lua.ct"
: > "$lua.hello"
for _ in $(seq "$rounds"); do
    measure "$ct_port" >> "$lua.ct"
    measure "$hello_port" >> "$lua.hello"
done
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
report() { # report NAME FILE
    printf '%-16s %10.0f req/s   p50 %8s   p99 %8s   non-2xx %s   (rounds: %s)\n' "$1" "$(cut -d' ' -f1 "$2" | median)" \
        "$(cut -d' ' -f2 "$2" | sort -g | sed -n "$(( (rounds + 1) / 2 ))p")" "$(cut -d' ' -f3 "$2" | sort -g | sed -n "$(( (rounds + 1) / 2 ))p")" \
        "$(cut -d' ' -f4 "$2" | awk '{s += $1} END {print s}')" "$(cut -d' ' -f1 "$2" | paste -sd' ')"
}
report convtransposed "$lua.ct"
report hello-world "$lua.hello"
awk -v a="$(cut -d' ' -f1 "$lua.ct" | median)" -v b="$(cut -d' ' -f1 "$lua.hello" | median)" \
    'BEGIN { printf "convtransposed / hello-world throughput (medians): %.2f\n", a / b }'
rm -f "$lua.ct" "$lua.hello"
