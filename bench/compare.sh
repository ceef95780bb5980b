#!/usr/bin/env bash
# compare.sh - ctbench against PyTorch and oneDNN (../shared/bench/anchors.py) and ONNX
# Runtime (../shared/bench/ort_anchor.sh) on the suite.
# This host's speed drifts by tens of percent between minutes, so the two are run back to
# back one layer at a time (their order swapping every round), for ROUNDS rounds (default 3):
# each ratio in the table is the median over rounds of that round's ratio, measured within
# seconds; the ms columns are medians over rounds. Prints the README's markdown table and the
# geometric mean of the speedups over torch; with TSV=FILE, also every layer's medians
# (ms) for bench/chart.py. ORT=0 leaves ONNX Runtime out. HOG=1 keeps a busy loop pinned to
# the last core for the whole run, as a noisy neighbour would (bench/contention.sh).
#   bench/compare.sh [build/ctbench]
# Needs python3-torch, libopenblas0-pthread, libdnnl-dev and python3-onnx + npm's
# onnxruntime-node (ort_anchor.sh installs those two; benchmarking only).
set -eu
bin=${1:-build/ctbench}
suite=${SUITE:-../shared/bench/suite.tsv}
tmp=$(mktemp -d)
hog=""
trap 'rm -rf "$tmp"; [ -z "$hog" ] || kill "$hog" 2>/dev/null || true' EXIT
if [ "${HOG:-0}" = 1 ]; then
    taskset -c "$(($(nproc) - 1))" sh -c 'while :; do :; done' &
    hog=$!
fi
layers=$(grep -v '^#' "$suite" | cut -f1 | grep -v '^$')
ours() { "$bin" "$suite" --only "$1" 2>/dev/null | tail -n +2 >> "$tmp/ours$2.tsv"; }
anchors() {
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ../shared/bench/anchors.py --only "$1" \
        2>/dev/null | tail -n +2 >> "$tmp/anchors$2.tsv"
}
ort() {
    [ "${ORT:-1}" = 1 ] || return 0
    ../shared/bench/ort_anchor.sh --only "$1" "$(realpath "$suite")" 2>/dev/null | grep -v '^name' >> "$tmp/ort$2.tsv" || true
}
for r in $(seq "${ROUNDS:-3}"); do
    for layer in $layers; do
        if [ $((r % 2)) = 1 ]; then ours "$layer" "$r"; anchors "$layer" "$r"; ort "$layer" "$r"
        else ort "$layer" "$r"; anchors "$layer" "$r"; ours "$layer" "$r"; fi
    done
done
/usr/bin/python3 - "$tmp" "${ROUNDS:-3}" "${TSV:-}" <<'PY'
import math, os, statistics, sys
d, rounds, tsv = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
    ort = rows(f"{d}/ort{r}.tsv", [1]) if os.path.exists(f"{d}/ort{r}.tsv") else {}
    per_round.append((ours, anchors, ort))
names = [n for n in per_round[0][1] if all(n in o and n in a for o, a, _ in per_round)]
med = statistics.median
print("| layer | ours ms | ours GFLOP/s | torch ms | oneDNN plain ms | oneDNN blocked ms | ORT ms | vs torch | vs best peer |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
logs = []
out = open(tsv, "w") if tsv else None
if out:
    out.write("name\tgflop\tours_ms\ttorch_ms\tonednn_plain_ms\tonednn_blocked_ms\tort_ms\n")
for name in names:
    ms = med(o[name][0] for o, a, _ in per_round)
    gflop = per_round[0][1][name][0]
    torch, plain, blocked = (med(a[name][i] for o, a, _ in per_round) for i in (1, 2, 3))
    has_ort = all(name in t for _, _, t in per_round)
    ort_ms = med(t[name][0] for _, _, t in per_round) if has_ort else float("nan")
    vs_torch = med(a[name][1] / o[name][0] for o, a, _ in per_round)
    best = lambda a, t: min(a[name][1], a[name][2], a[name][3], t[name][0] if has_ort else float("inf"))
    vs_best = med(best(a, t) / o[name][0] for o, a, t in per_round)
    logs.append(math.log(vs_torch))
    print(f"| {name} | {ms:.4g} | {gflop / ms * 1e3:.1f} | {torch:.4g} | {plain:.4g} | {blocked:.4g} | {ort_ms:.4g} | "
          f"{vs_torch:.2f} | {vs_best:.2f} |")
    if out:
        out.write(f"{name}\t{gflop}\t{ms}\t{torch}\t{plain}\t{blocked}\t{ort_ms}\n")
print(f"\nGeometric mean: **{math.exp(sum(logs) / len(logs)):.2f}x torch**")
PY
