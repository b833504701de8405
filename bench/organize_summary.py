#!/usr/bin/env python3
"""Averages the JSON reports of `bitkernels organize` runs over seeds and prints the tables of
bench/RESULTS.md. Usage: python3 bench/organize_summary.py bench/out/organize"""
import glob
import json
import os
import re
import statistics
import sys
from collections import defaultdict

d = sys.argv[1] if len(sys.argv) > 1 else "bench/out/organize"
runs = defaultdict(list)
for f in glob.glob(os.path.join(d, "*.json")):
    key = re.sub(r"-s\d+\.json$", "", os.path.basename(f))
    runs[key].append(json.load(open(f)))

def mean(key, field):
    vals = []
    for r in runs.get(key, []):
        v = r
        for p in field.split("."):
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None:
            vals.append(float(v))
    return statistics.mean(vals) if vals else float("nan")

for ds in ["mnist", "fashion-mnist"]:
    print(f"\n{ds}: purity on the 10k test split (mean of {len(runs.get(ds + '-rank-n10', []))} seeds)\n")
    print("| encoding | N=10 | N=20 | N=50 | N=100 | N=400 | accuracy N=100 (train labels) | recall ×chance N=10 / N=100 | set bits recovered N=100 (zero-pattern agreement) | AUROC noise / other set N=100 | k images/s N=10 / 100 / 400 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for enc, label in [("rank", "rank, start: spaced inputs"), ("spread", "rank, start: farthest-point inputs"), ("spreadsettle", "rank, farthest-point start, settle after 300 wins"), ("settle150", "**rank, spaced start, settle after 150 wins**"), ("threshold", "threshold, start: spaced inputs")]:
        k = lambda n: f"{ds}-{enc}-n{n}"
        cells = [f"{mean(k(n), 'purity'):.3f}" for n in [10, 20, 50, 100, 400]]
        print(f"| {label} | " + " | ".join(cells) +
              f" | {mean(k(100), 'accuracy'):.3f} | {mean(k(10), 'recall.timesChance'):.2f}× / {mean(k(100), 'recall.timesChance'):.2f}×"
              f" | {mean(k(100), 'recall.setBitsRecovered'):.3f} (bits agreeing {mean(k(100), 'recall.bitsAgreeing'):.3f} vs {mean(k(100), 'recall.zeroPatternAgreeing'):.3f})"
              f" | {mean(k(100), 'noveltyAUROCNoise'):.3f} / {mean(k(100), 'noveltyAUROCOther'):.3f}"
              f" | {mean(k(10), 'imagesPerSecond')/1e3:.0f} / {mean(k(100), 'imagesPerSecond')/1e3:.0f} / {mean(k(400), 'imagesPerSecond')/1e3:.0f} |")
    print(f"\n{ds}: controls, N = 10 unless stated (rank encoding)\n")
    print("| run | purity | mean bits per neuron | mean distance between neurons | recall ×chance |")
    print("|---|---|---|---|---|")
    for name, label in [("rank-n10", "Jaccard, start from inputs"), ("jaccard-dense-n10", "Jaccard, random dense start"),
                        ("basic-inputs-n10", "basic (shared − differing), start from inputs"),
                        ("basic-dense-n10", "basic, random dense start"), ("unbounded-n10", "unbounded control (all learn)"),
                        ("rank-n50", "Jaccard, N = 50"), ("unbounded-n50", "unbounded control, N = 50")]:
        k = f"{ds}-{name}"
        print(f"| {label} | {mean(k, 'purity'):.3f} | {mean(k, 'meanNeuronBits'):.0f} | {mean(k, 'meanPairwiseDistance'):.0f} | {mean(k, 'recall.timesChance'):.2f}× |")
    print(f"\n{ds}: continual learning (classes 0-4, then 5-9; accuracy on the old classes' test images with the labels neurons had after phase 1)\n")
    print("| run | neurons | old classes before → after | retention | new classes |")
    print("|---|---|---|---|---|")
    for name, label in [("continual-n100", "100 neurons (spare)"), ("continual-n5", "5 neurons (fewer than classes)"),
                        ("continual-n5-settle", "5 neurons, settled masks shrink (after 200 wins → 0.02)"),
                        ("continual-n100-settle", "100 neurons, settled masks shrink (after 50 wins → 0.02)"),
                        ("continual-grow", "--grow (novelty < 0.3, up to 400)"),
                        ("continual-grow04-settle", "--grow (novelty < 0.4, up to 1000), settle after 20 wins")]:
        k = f"{ds}-{name}"
        print(f"| {label} | {mean(k, 'neurons'):.0f} | {mean(k, 'continual.oldClassesBefore'):.3f} → {mean(k, 'continual.oldClassesAfter'):.3f}"
              f" | {mean(k, 'continual.retention'):.3f} | {mean(k, 'continual.newClasses'):.3f} |")
