#!/usr/bin/env bash
# json_compare.sh - our JSON parse and encode against the best libraries', on one thread, on
# the same bytes, in one run: build/ctpayload (api/: the request parser into float32, the
# shortest-float32 encoder) beside bench/json_anchors.cc (simdjson 3 On-Demand, and C++17's
# std::to_chars), built here with g++ for the benchmark only. Prints both lines and the
# ratios (above 1: ours is faster).
#   bench/json_compare.sh [MIB]   (default 16 MiB of float32: random values, 8-9 digits each)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-16}
[ -f /usr/include/simdjson.h ] && command -v g++ >/dev/null || scripts/deps.sh libsimdjson-dev g++
make -s build/ctpayload
g++ -std=c++17 -O2 -o build/json_anchors bench/json_anchors.cc -lsimdjson
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ours=$(build/ctpayload --mib "$mib" --dump "$tmp/t")
theirs=$(build/json_anchors "$tmp/t.json" "$tmp/t.f32")
echo "$ours" | grep -E '^(tensor|json)'
echo "$theirs"
rate() { sed -n "s/^$1: \([0-9.]*\) MB\/s.*/\1/p"; }
p_ours=$(echo "$ours" | rate 'json parse'); p_theirs=$(echo "$theirs" | rate 'simdjson parse')
e_ours=$(echo "$ours" | rate 'json encode, 1 thread'); e_theirs=$(echo "$theirs" | rate 'to_chars encode, 1 thread')
awk -v a="$p_ours" -v b="$p_theirs" -v c="$e_ours" -v d="$e_theirs" \
    'BEGIN { printf "parse: ours / simdjson = %.2f; encode: ours / to_chars = %.2f\n", a / b, c / d }'
