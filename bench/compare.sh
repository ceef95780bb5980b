#!/usr/bin/env bash
# compare.sh - ctbench against PyTorch and oneDNN (../shared/bench/anchors.py) on the suite.
# This host's speed drifts by tens of percent between minutes, so the two are run back to
# back one layer at a time (their order swapping every round), for ROUNDS rounds (default 3):
# each ratio in the table is the median over rounds of that round's ratio, measured within
# seconds; the ms columns are medians over rounds. Prints the README's markdown table and the
# geometric mean of the speedups over torch.
#   bench/compare.sh [build/ctbench]
# Needs python3-torch, libopenblas0-pthread and libdnnl-dev (benchmarking only).
set -eu
bin=${1:-build/ctbench}
suite=${SUITE:-../shared/bench/suite.tsv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
layers=$(grep -v '^#' "$suite" | cut -f1 | grep -v '^$')
ours() { "$bin" "$suite" --only "$1" 2>/dev/null | tail -n +2 >> "$tmp/ours$2.tsv"; }
anchors() {
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ../shared/bench/anchors.py --only "$1" \
        2>/dev/null | tail -n +2 >> "$tmp/anchors$2.tsv"
}
for r in $(seq "${ROUNDS:-3}"); do
    for layer in $layers; do
        if [ $((r % 2)) = 1 ]; then ours "$layer" "$r"; anchors "$layer" "$r"; else anchors "$layer" "$r"; ours "$layer" "$r"; fi
    done
done
/usr/bin/python3 - "$tmp" "${ROUNDS:-3}" <<'PY'
import math, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def rows(path, cols):
    out = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) > max(cols):
            out[f[0]] = [float(f[c]) for c in cols]
    return out
per_round = []
for r in range(1, rounds + 1):
    ours = rows(f"{d}/ours{r}.tsv", [1])                  # median ms
    anchors = rows(f"{d}/anchors{r}.tsv", [1, 2, 4, 6])   # nominal GFLOP, torch, oneDNN plain, oneDNN blocked ms
    per_round.append((ours, anchors))
names = [n for n in per_round[0][1] if all(n in o and n in a for o, a in per_round)]
med = statistics.median
print("| layer | ours ms | ours GFLOP/s | torch ms | oneDNN plain ms | oneDNN blocked ms | vs torch | vs best oneDNN |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
logs = []
for name in names:
    ms = med(o[name][0] for o, a in per_round)
    gflop = per_round[0][1][name][0]
    torch, plain, blocked = (med(a[name][i] for o, a in per_round) for i in (1, 2, 3))
    vs_torch = med(a[name][1] / o[name][0] for o, a in per_round)
    vs_dnn = med(min(a[name][2], a[name][3]) / o[name][0] for o, a in per_round)
    logs.append(math.log(vs_torch))
    print(f"| {name} | {ms:.4g} | {gflop / ms * 1e3:.1f} | {torch:.4g} | {plain:.4g} | {blocked:.4g} | "
          f"{vs_torch:.2f} | {vs_dnn:.2f} |")
print(f"\nGeometric mean: **{math.exp(sum(logs) / len(logs)):.2f}x torch**")
PY
