#!/usr/bin/env bash
# compare.sh - ctbench against PyTorch and oneDNN in one run. This host's speed drifts by tens of
# percent between minutes, so ctbench and the anchors (../shared/bench/anchors.py) alternate
# for ROUNDS rounds (default 3) and every column keeps its best median; prints the README's
# markdown table and the geometric mean of the speedups over torch.
#   bench/compare.sh [build/ctbench]
# Needs python3-torch, libopenblas0-pthread and libdnnl-dev (benchmarking only).
set -eu
bin=${1:-build/ctbench}
suite=${SUITE:-../shared/bench/suite.tsv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq "${ROUNDS:-3}"); do
    "$bin" "$suite" 2>/dev/null > "$tmp/ours$r.tsv"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ../shared/bench/anchors.py > "$tmp/anchors$r.tsv" 2>/dev/null
done
/usr/bin/python3 - "$tmp" <<'PY'
import glob, math, sys
d = sys.argv[1]
def best(pattern, cols):
    rows = {}
    for path in sorted(glob.glob(f"{d}/{pattern}")):
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if f[0] == "name":
                continue
            vals = [float(f[c]) for c in cols]
            old = rows.get(f[0])
            rows[f[0]] = vals if old is None else [min(a, b) for a, b in zip(old, vals)]
    return rows
ours = best("ours*.tsv", [1])             # median ms
anchors = best("anchors*.tsv", [1, 2, 4, 6])  # nominal GFLOP, torch, oneDNN plain, oneDNN blocked ms
print("| layer | ours ms | ours GFLOP/s | torch ms | oneDNN plain ms | oneDNN blocked ms | vs torch | vs best oneDNN |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
logs = []
for name, (gflop, torch, plain, blocked) in anchors.items():
    ms = ours[name][0]
    logs.append(math.log(torch / ms))
    print(f"| {name} | {ms:.4g} | {gflop / ms * 1e3:.1f} | {torch:.4g} | {plain:.4g} | {blocked:.4g} | "
          f"{torch / ms:.2f} | {min(plain, blocked) / ms:.2f} |")
print(f"\nGeometric mean: **{math.exp(sum(logs) / len(logs)):.2f}x torch**")
PY
