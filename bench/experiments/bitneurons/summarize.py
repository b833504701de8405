#!/usr/bin/env python3
"""Tables (mean ± sd over seeds) for the bit-neuron study's Q1 (tie rules) and Q4 (neurons on demand)
from the organize JSON files the sweep scripts write.
  python3 bench/experiments/bitneurons/summarize.py q1|q4 [RUNS_DIR]"""
import glob, json, os, re, statistics, sys

def ms(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3f} ± {sd:.3f}"

def runs(folder, pattern):
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        m = re.match(pattern, os.path.basename(path)[:-5])
        if m:
            out.setdefault(m.groups()[:-1], []).append(json.load(open(path)))
    return out

def q1(folder):
    groups = runs(folder, r"(mnist|fashion-mnist)-(none|thinned|edges|dropout)-(index|blur|distance|ink)-n(\d+)-s(\d+)")
    rules = ["index", "blur", "distance", "ink"]
    print("| dataset | variant | N | " + " | ".join(rules) + " |")
    print("|---|---|---|" + "---|" * len(rules))
    for s in ["mnist", "fashion-mnist"]:
        for v in ["none", "thinned", "edges", "dropout"]:
            for n in ["10", "100"]:
                cells = [ms([r["purity"] for r in groups.get((s, v, t, n), [])]) for t in rules]
                if any(c != "–" for c in cells):
                    print(f"| {s} | {v} | {n} | " + " | ".join(cells) + " |")
    # Mean rank of each rule across the 16 dataset × variant × N cells (1 = best).
    ranks = {t: [] for t in rules}
    for s in ["mnist", "fashion-mnist"]:
        for v in ["none", "thinned", "edges", "dropout"]:
            for n in ["10", "100"]:
                means = {t: statistics.mean([r["purity"] for r in groups[(s, v, t, n)]]) for t in rules if (s, v, t, n) in groups}
                if len(means) == len(rules):
                    for i, t in enumerate(sorted(means, key=lambda t: -means[t])):
                        ranks[t].append(i + 1)
    print()
    print("mean rank over cells (1 = best): " + ", ".join(f"{t} {statistics.mean(r):.2f} (n = {len(r)})" for t, r in ranks.items() if r))

def q4(folder):
    groups = runs(folder, r"(mnist|fashion-mnist)-(fixed|grow)-(single|continual)-n(\d+)-s(\d+)")
    confusable = {"mnist": [3, 4, 5, 8, 9], "fashion-mnist": [0, 2, 4, 6]}
    print("| dataset | N | mode | final neurons | purity | classes with a specialist | confusable classes: purity each | confusable specialists |")
    print("|---|---|---|---|---|---|---|---|")
    for s in ["mnist", "fashion-mnist"]:
        for n in ["10", "20", "50", "100", "200"]:
            for mode in ["fixed", "grow"]:
                rs = groups.get((s, mode, "single", n), [])
                if not rs:
                    continue
                cov = ms([sum(1 for c in r["perClass"] if c["specialists"] > 0) for r in rs])
                per = "; ".join(f"{c}: {ms([next(x['purity'] for x in r['perClass'] if x['label'] == c) for r in rs])}" for c in confusable[s])
                spec = ms([sum(x["specialists"] for x in r["perClass"] if x["label"] in confusable[s]) for r in rs])
                print(f"| {s} | {n} | {mode} | {ms([r['neurons'] for r in rs])} | {ms([r['purity'] for r in rs])} | {cov} | {per} | {spec} |")
    print()
    print("| dataset | N | mode | old classes before | after | retention | new classes |")
    print("|---|---|---|---|---|---|---|")
    for s in ["mnist", "fashion-mnist"]:
        for n in ["10", "20", "50", "100", "200"]:
            for mode in ["fixed", "grow"]:
                rs = groups.get((s, mode, "continual", n), [])
                if rs:
                    c = [r["continual"] for r in rs]
                    print(f"| {s} | {n} | {mode} | {ms([x['oldClassesBefore'] for x in c])} | {ms([x['oldClassesAfter'] for x in c])} | {ms([x['retention'] for x in c])} | {ms([x['newClasses'] for x in c])} |")

if __name__ == "__main__":
    which = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    folder = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "runs", which)
    {"q1": q1, "q4": q4}[which](folder)
