#!/usr/bin/env bash
# ab.sh - compares ctbench binaries on a noisy machine: runs them alternately ROUNDS times
# and keeps each binary's best median per layer.
#   bench/ab.sh "dcgan_512_256,fcn_256_128" build/ctbench /tmp/ctbench_old [...]
# Env: ROUNDS (default 5), THREADS (2), MIN_TIME (0.15), SUITE (../shared/bench/suite.tsv).
set -eu
only=$1; shift
rounds=${ROUNDS:-5}
tmp=$(mktemp -d)
for r in $(seq "$rounds"); do
    i=0
    for bin in "$@"; do
        "$bin" "${SUITE:-../shared/bench/suite.tsv}" --only "$only" --threads "${THREADS:-2}" \
            --min-time "${MIN_TIME:-0.15}" 2>/dev/null | tail -n +2 >> "$tmp/$i"
        i=$((i + 1))
    done
done
i=0
for bin in "$@"; do
    echo "== $bin (best of $rounds)"
    sort -t$'\t' -k1,1 -k2,2g "$tmp/$i" | awk -F'\t' '!seen[$1]++ {printf "%-18s %9.3f ms %7.1f GFLOP/s\n", $1, $2, $3}'
    i=$((i + 1))
done
rm -rf "$tmp"
