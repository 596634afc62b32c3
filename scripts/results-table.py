#!/usr/bin/env python3
"""Markdown for docs/RESULTS.md from a `train --compare --seeds ... --report FILE` report.

    python3 scripts/results-table.py REPORT.json

Prints the accuracy table (each seed, mean ± sample std, gap to FP32 seed by seed with its
spread) and, for each INT8 policy at the end of the first seed's run, what its methods chose
over the quantized layers: the range of dY's clip ratio, UI8's cosine distance and φ, and
DAI8's Gaussian / inverted-T channel counts in total.
"""

import json
import sys

NAMES = {"fp32": "FP32", "naive": "naive INT8", "ui8": "UI8", "dai8": "DAI8"}


def spread(s):
    return f"{s['mean']:.2f} ± {s['std']:.2f}"


def main(path):
    report = json.load(open(path))
    print("| policy | " + " | ".join(f"seed {s}" for s in report["summary"][0]["seeds"])
          + " | mean ± std | gap to FP32 (points), mean ± std |")
    print("|---" * (len(report["summary"][0]["seeds"]) + 3) + "|")
    for row in report["summary"]:
        accs = " | ".join(f"{a:.2f}" for a in row["test_accuracy"])
        gap = "—" if row["quant"] == "fp32" else (
            f"{round(row['gap_to_fp32']['mean'], 2) + 0.0:+.2f} ± {row['gap_to_fp32']['std']:.2f}")
        print(f"| {NAMES[row['quant']]} | {accs} | {spread(row['test_accuracy_spread'])} | {gap} |")
    print()
    seeds = {r["seed"] for r in report["runs"]}
    first = min(seeds)
    print("| policy (seed %d, last epoch) | dY clip / max\\|dY\\| | cosine distance | φ "
          "| Gaussian / inverted-T channels |" % first)
    print("|---|---|---|---|---|")
    for run in report["runs"]:
        if run["seed"] != first or run["quant"] == "fp32":
            continue
        layers = [q for q in run["per_epoch"][-1]["quant_state"] if q["quantized"]]
        span = lambda key, fmt: (f"{min(q[key] for q in layers):{fmt}} – "
                                 f"{max(q[key] for q in layers):{fmt}}")
        ui8 = run["quant"] == "ui8"
        dai8 = run["quant"] == "dai8"
        gauss = sum(q["gaussian_channels"] for q in layers)
        inv = sum(q["inverted_t_channels"] for q in layers)
        print(f"| {NAMES[run['quant']]} ({len(layers)} layers) | {span('clip_ratio_dy', '.2f')} "
              f"| {span('cosine_distance', '.1e') if ui8 else '—'} "
              f"| {span('phi', '.3f') if ui8 else '1'} "
              f"| {f'{gauss} / {inv}' if dai8 else '—'} |")


if __name__ == "__main__":
    main(sys.argv[1])
