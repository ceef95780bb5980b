#!/usr/bin/env bash
# large_response.sh - time to first byte, total time and the daemon's peak memory for one large
# answer on 127.0.0.1: a registered 16->16 layer with kernel 8 and stride 8 upsamples a
# 1x16x64x64 input to 1x16x512x512 (4.2M floats, about 45 MB of JSON). Each answer format is
# measured in a daemon of its own, so that its peak resident memory (VmHWM) is its own.
#   bench/large_response.sh [ROUNDS]   (default 3; medians reported)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
make -s build/convtransposed
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import json, random, struct, sys
random.seed(1)
d = sys.argv[1]
w = [random.uniform(-1, 1) for _ in range(16 * 16 * 8 * 8)]
json.dump({"weight": {"shape": [16, 16, 8, 8], "data": w}, "stride": 8}, open(d + "/layer.json", "w"))
x = [random.uniform(-1, 1) for _ in range(16 * 64 * 64)]
open(d + "/x.f32", "wb").write(struct.pack("<%df" % len(x), *x))
PY

start() { # starts a daemon, registers the layer, sets $port and $pid
    build/convtransposed --host 127.0.0.1 --port 0 --log-level warn > "$dir/out" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$dir/out" && break; sleep 0.05; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$dir/out" | head -n 1)
    curl -sf -X PUT "127.0.0.1:$port/v1/layers/up8" -H 'Content-Type: application/json' --data-binary @"$dir/layer.json" > /dev/null
}

measure() { # measure NAME PATH [HEADER ...]: rounds in one daemon, prints medians and its VmHWM
    local name=$1
    shift
    start
    python3 - "$port" "$dir/x.f32" "$rounds" "$@" > "$dir/times" <<'PY'
import socket, sys, time
port, body, rounds, path, headers = int(sys.argv[1]), open(sys.argv[2], "rb").read(), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
request = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
           % (path, len(body), "".join(h + "\r\n" for h in headers))).encode() + body
for _ in range(rounds):
    sock = socket.create_connection(("127.0.0.1", port))
    t0 = time.perf_counter()
    sock.sendall(request)
    first, size = None, 0
    while True:  # the daemon closes the connection after the answer (Connection: close)
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter()
        size += len(chunk)
    print(first - t0, time.perf_counter() - t0, size)
    sock.close()
PY
    local hwm; hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    sort -g "$dir/times" | awk -v n="$name" -v r="$rounds" -v hwm="$hwm" '
        {a[NR] = $1; b[NR] = $2; s = $3} END {
        m = int((r + 1) / 2)
        printf "%-16s %6.1f MB   first byte %6.1f ms   total %6.1f ms   peak RSS %5.0f MB\n", n, s / 1e6, a[m] * 1e3, b[m] * 1e3, hwm / 1024 }'
}

echo "one 1x16x512x512 answer, $rounds rounds each (medians), $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
raw=('Content-Type: application/octet-stream' 'X-Tensor-Shape: 1,16,64,64')
measure "v1 JSON" /v1/layers/up8/convtranspose "${raw[@]}"
measure "v1 JSON, gzip" /v1/layers/up8/convtranspose "${raw[@]}" 'Accept-Encoding: gzip'
measure "v1 raw float32" /v1/layers/up8/convtranspose "${raw[@]}" 'Accept: application/octet-stream'
measure "v2 JSON" /v2/models/up8/infer 'Inference-Header-Content-Length: 0' 'X-Tensor-Shape: 1,16,64,64'
