#!/usr/bin/env bash
# compare.sh - ctbench against PyTorch and oneDNN in one run: ctbench, then the anchors
# (../shared/bench/anchors.py), then ctbench again; prints the README's markdown table with
# ours as the better of the two ctbench runs, and the geometric mean of the speedups.
#   bench/compare.sh [build/ctbench]
# Needs python3-torch, libopenblas0-pthread and libdnnl-dev (benchmarking only).
set -eu
bin=${1:-build/ctbench}
suite=${SUITE:-../shared/bench/suite.tsv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" "$suite" 2>/dev/null > "$tmp/ours1.tsv"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ../shared/bench/anchors.py > "$tmp/anchors.tsv" 2>/dev/null
"$bin" "$suite" 2>/dev/null > "$tmp/ours2.tsv"
/usr/bin/python3 - "$tmp" <<'PY'
import math, sys
d = sys.argv[1]
def read(name):
    rows = {}
    for line in open(f"{d}/{name}"):
        f = line.rstrip("\n").split("\t")
        if f[0] != "name":
            rows[f[0]] = f
    return rows
o1, o2, a = read("ours1.tsv"), read("ours2.tsv"), read("anchors.tsv")
print("| layer | ours ms | ours GFLOP/s | torch ms | oneDNN plain ms | oneDNN blocked ms | vs torch | vs best oneDNN |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
logs = []
for name in a:
    best = min((o1[name], o2[name]), key=lambda r: float(r[1]))
    ours, gflops = float(best[1]), float(best[2])
    torch, plain, blocked = float(a[name][2]), float(a[name][4]), float(a[name][6])
    logs.append(math.log(torch / ours))
    print(f"| {name} | {ours:.4g} | {gflops:.1f} | {torch:.4g} | {plain:.4g} | {blocked:.4g} | "
          f"{torch / ours:.2f} | {min(plain, blocked) / ours:.2f} |")
print(f"\nGeometric mean: **{math.exp(sum(logs) / len(logs)):.2f}x torch**")
PY
