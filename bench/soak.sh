#!/usr/bin/env bash
# soak.sh [SECONDS] [CONCURRENCY] - `make soak`: starts the daemon (--max-body 1M so the
# oversize requests are refused) and runs bench/soak.c against it; 5 minutes by default.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/convtransposed build/ctsoak
out=$(mktemp)
build/convtransposed --host 127.0.0.1 --port 0 --max-body 1M --log-level warn > "$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out")
build/ctsoak --port "$port" --pid "$pid" --seconds "${1:-300}" --concurrency "${2:-64}"
