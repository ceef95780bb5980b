#!/usr/bin/python3
"""chart.py - the README's performance chart from a bench/compare.sh run.

    TSV=run.tsv ROUNDS=3 bench/compare.sh
    bench/chart.py run.tsv "AMD EPYC Zen 5, 2 cores, AVX-512, 2026-12-03" > docs/performance.svg

Per suite layer, one group of bars: the speed of convtransposed, torch, oneDNN (plain NCHW and
its blocked layout) and ONNX Runtime, each as a speedup over torch (torch = 1), on a log
scale, with our ms printed above each group. The machine and date go under the chart.
Standard library only; writes SVG to stdout.
"""
import math
import sys

PEERS = [("ours_ms", "convtransposed", "#2c5cc5"), ("torch_ms", "torch 1.13 (OpenBLAS)", "#9aa3b2"),
         ("onednn_plain_ms", "oneDNN 2.6 plain", "#e0a43a"), ("onednn_blocked_ms", "oneDNN 2.6 blocked", "#c0602a"),
         ("ort_ms", "ONNX Runtime 1.30", "#4c9a6a")]


def main():
    path, caption = sys.argv[1], sys.argv[2]
    lines = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    head, rows = lines[0], [dict(zip(lines[0], l)) for l in lines[1:]]
    rows = [r for r in rows if not r["name"].startswith("seed_")]  # sub-microsecond: noise
    bar, gap, left, top, plot_h = 11, 18, 70, 56, 300
    group = bar * len(PEERS) + gap
    width = max(left + group * len(rows) + 70, left + 150 * len(PEERS) + 20)
    lo, hi = math.log10(0.1), math.log10(100)
    y = lambda v: top + plot_h - (math.log10(max(min(v, 100), 0.1)) - lo) / (hi - lo) * plot_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + plot_h + 130}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f'<rect width="100%" height="100%" fill="#fff"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">Speed relative to torch (higher is better, log scale)</text>']
    for i, (_, label, colour) in enumerate(PEERS):
        x = left + i * 150
        out.append(f'<rect x="{x}" y="30" width="10" height="10" fill="{colour}"/><text x="{x + 14}" y="39">{label}</text>')
    for t in (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100):
        out.append(f'<line x1="{left - 4}" x2="{width - 20}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="{"#555" if t == 1 else "#e3e6eb"}"/>'
                   f'<text x="{left - 8}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}x</text>')
    for g, r in enumerate(rows):
        x0 = left + g * group + gap / 2
        torch = float(r["torch_ms"])
        for i, (key, _, colour) in enumerate(PEERS):
            ms = float(r[key]) if r.get(key) not in (None, "", "nan") else float("nan")
            if math.isnan(ms):
                continue
            speed = torch / ms
            out.append(f'<rect x="{x0 + i * bar:.1f}" y="{y(speed):.1f}" width="{bar - 1}" height="{top + plot_h - y(speed):.1f}" fill="{colour}">'
                       f'<title>{r["name"]}: {ms:.4g} ms ({speed:.2f}x torch)</title></rect>')
        ours = float(r["ours_ms"])
        out.append(f'<text x="{x0 + bar * len(PEERS) / 2:.1f}" y="{y(torch / ours) - 4:.1f}" text-anchor="middle" font-size="9">{ours:.3g} ms</text>')
        out.append(f'<text transform="translate({x0 + bar * len(PEERS) / 2:.1f},{top + plot_h + 12}) rotate(30)" font-size="10">{r["name"]}</text>')
    out.append(f'<text x="{left}" y="{top + plot_h + 100}" fill="#555">{caption}</text>')
    out.append(f'<text x="{left}" y="{top + plot_h + 116}" fill="#555">Medians over the rounds of one bench/compare.sh run, 2 threads each; '
               f'the seed layers (under a microsecond) are left out.</text>')
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
