#!/usr/bin/env bash
# pair.sh - a finer A/B than ab.sh for this noisy host: the two ctbench binaries run at the
# same time, one thread each, pinned to CPUs 0 and 1, and swap CPUs every round, so both see
# the same host load. Prints per layer the median over rounds of time(A) / time(B): below 1
# means A is faster.
#   bench/pair.sh "dcgan_512_256,dilated_64_64" build/ctbench /tmp/ctbench_old
# Env: ROUNDS (default 10), MIN_TIME (0.3), SUITE (../shared/bench/suite.tsv).
set -eu
only=$1 a=$2 b=$3
suite=${SUITE:-../shared/bench/suite.tsv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq "${ROUNDS:-10}"); do
    ca=$((r % 2)) cb=$(((r + 1) % 2))
    taskset -c "$ca" "$a" "$suite" --only "$only" --threads 1 --min-time "${MIN_TIME:-0.3}" 2>/dev/null |
        tail -n +2 > "$tmp/a$r" &
    taskset -c "$cb" "$b" "$suite" --only "$only" --threads 1 --min-time "${MIN_TIME:-0.3}" 2>/dev/null |
        tail -n +2 > "$tmp/b$r" &
    wait
done
/usr/bin/python3 - "$tmp" "${ROUNDS:-10}" <<'PY'
import statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
ratios = {}
for r in range(1, rounds + 1):
    a = {l.split("\t")[0]: float(l.split("\t")[1]) for l in open(f"{d}/a{r}") if l.strip()}
    b = {l.split("\t")[0]: float(l.split("\t")[1]) for l in open(f"{d}/b{r}") if l.strip()}
    for name in a:
        if name in b:
            ratios.setdefault(name, []).append(a[name] / b[name])
for name, rs in ratios.items():
    rs.sort()
    print(f"{name:18s} A/B median {statistics.median(rs):.3f}  (range {rs[0]:.3f}-{rs[-1]:.3f}, {len(rs)} rounds)")
PY
