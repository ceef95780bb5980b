#!/usr/bin/env bash
# contention.sh - how much each library slows down when another process keeps one core busy
# (a Kubernetes node's noisy neighbour): bench/compare.sh once quiet and once with HOG=1 (a
# busy loop pinned to the last core), back to back, then per layer each one's contended time
# over its quiet time (lower is better; 1.0 = unaffected) and ours against the best peer in
# both runs. Every library runs on all the cores, as it would in a pod.
#   bench/contention.sh [ROUNDS]   (default 3)
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s build/ctbench build/convtransposed
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p'), $(build/convtransposed --version)"
out=${OUT:-$tmp}   # OUT=DIR keeps both runs' tables and TSVs
mkdir -p "$out"
ROUNDS=$rounds TSV="$out/quiet.tsv" bench/compare.sh | tee "$out/quiet.md"
echo
ROUNDS=$rounds TSV="$out/hog.tsv" HOG=1 bench/compare.sh | tee "$out/hog.md"
echo
/usr/bin/python3 - "$out/quiet.tsv" "$out/hog.tsv" <<'PY'
import math, sys
def load(p):
    rows = {}
    with open(p) as f:
        cols = f.readline().rstrip("\n").split("\t")
        for line in f:
            v = line.rstrip("\n").split("\t")
            rows[v[0]] = {c: float(x) for c, x in zip(cols[1:], v[1:])}
    return rows
quiet, hog = load(sys.argv[1]), load(sys.argv[2])
libs = [("ours", "ours_ms"), ("torch", "torch_ms"), ("oneDNN plain", "onednn_plain_ms"),
        ("oneDNN blocked", "onednn_blocked_ms"), ("ORT", "ort_ms")]
peers = [k for _, k in libs[1:]]
best = lambda r: min(r[k] for k in peers if not math.isnan(r[k]))
print("| layer | " + " | ".join(f"{n} slowdown" for n, _ in libs) + " | vs best peer, quiet | vs best peer, contended |")
print("|" + " --- |" * (len(libs) + 3))
worse = []
for name in quiet:
    if name not in hog or name.startswith("seed"):
        continue
    q, h = quiet[name], hog[name]
    slow = {n: h[k] / q[k] for n, k in libs}
    peer_slow = min(slow[n] for n, _ in libs[1:] if not math.isnan(slow[n]))
    if slow["ours"] > peer_slow * 1.05:
        worse.append(name)
    print(f"| {name} | " + " | ".join(f"{slow[n]:.2f}" for n, _ in libs) +
          f" | {best(q) / q['ours_ms']:.2f} | {best(h) / h['ours_ms']:.2f} |")
print("\nlayers where ours slowed more than the least-slowed peer (by over 5%): " + (", ".join(worse) or "none"))
PY
