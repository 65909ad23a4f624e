#!/usr/bin/env python3
"""Several runs of tools/bench as one table: the median over runs.

usage: runs.py RUN [RUN ...] [--json OUT.json]

Each RUN is a tools/bench results directory (or its summary.json). One row
per shape and thread count: soma's GFLOP/s (median over runs), the
comparator that was best most often, soma / best and soma / OpenBLAS (the
median over runs of each run's ratio, with the lowest and highest run),
soma / FMA peak, and the issue's target judged on the medians, beside in how
many runs it was met. A host whose speed drifts by minutes moves one run's
ratios by several percent; the median of three or more runs is what a note
should quote. Above the table: the FMA peak of each run, and each run's
paired 2-thread speed-up at 1024³ for soma and the FMA loop (the
benchmark's "scaling" lines). Standard library only.
"""
import argparse
import collections
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (the targets: report.target)


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "summary.json")
    with open(path) as f:
        return json.load(f)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def span(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else None


def target_met(row, soma_us, over_best, over_ob):
    """report.py's target for the row's shape, judged on the medians."""
    group, label = row["shape"].split(":", 1)
    shape = {"group": group, "label": label, "m": row["m"]}
    soma = {"us": soma_us} if soma_us is not None else None
    t = report.target(shape, soma, over_best, over_ob)
    return t[1] if t else None


def combine(docs):
    rows = collections.OrderedDict()  # (threads, shape) -> list of per-run rows
    for d in docs:
        for r in d["rows"]:
            rows.setdefault((r["threads"], r["shape"]), []).append(r)
    out = []
    for (threads, shape), rs in rows.items():
        soma = [r["libs"].get("soma") for r in rs]
        best = collections.Counter(r["best_comparator"] for r in rs if r["best_comparator"])
        over_best = [r["soma_over_best"] for r in rs]
        over_ob = [r["soma_over_openblas"] for r in rs]
        row = {
            "threads": threads, "shape": shape, "op": rs[0]["op"],
            "mnk": f"{rs[0]['m']}x{rs[0]['n']}x{rs[0]['k']}", "runs": len(rs),
            "soma_gflops": med(s["gflops"] for s in soma if s),
            "soma_us": med(s["us"] for s in soma if s),
            "best_comparator": best.most_common(1)[0][0] if best else None,
            "soma_over_best": med(over_best), "soma_over_best_runs": span(over_best),
            "soma_over_openblas": med(over_ob), "soma_over_openblas_runs": span(over_ob),
            "soma_over_peak": med(r.get("soma_over_peak") for r in rs),
            "target": rs[0]["target"],
            "met_in_runs": sum(1 for r in rs if r["target_met"]),
            "beyond_peak_in_runs": sum(1 for r in rs if r.get("target_beyond_peak")),
        }
        row["target_met"] = target_met(rs[0], row["soma_us"], row["soma_over_best"],
                                       row["soma_over_openblas"])
        out.append(row)
    return out


def fmt(x, spec):
    """x in spec ("9.1f"), or a dash as wide."""
    return format(x, spec) if x is not None else "-".rjust(int(spec.split(".")[0]))


def print_table(rows, nruns, out):
    for threads in sorted({r["threads"] for r in rows}):
        rs = [r for r in rows if r["threads"] == threads]
        out.write(f"\n== {threads} thread{'s' if threads > 1 else ''}: median of {nruns} runs "
                  f"(lowest-highest run) ==\n")
        out.write(f"{'shape':17} {'op':2} {'m x n x k':>14} | {'soma GF/s':>9} {'us':>8} | "
                  f"{'best':>8} {'soma/best':>9} {'runs':>9} | {'soma/OB':>7} {'runs':>9} | "
                  f"{'soma/pk':>7} | target\n")
        out.write("-" * 130 + "\n")
        for r in rs:
            sb, so = r["soma_over_best_runs"], r["soma_over_openblas_runs"]
            t = r["target"]
            tt = ""
            if t:
                tt = (f"{t} {'ok' if r['target_met'] else 'MISS'}, met in {r['met_in_runs']}/"
                      f"{r['runs']}")
                if r["beyond_peak_in_runs"]:
                    tt += f", 1.2 OB > peak in {r['beyond_peak_in_runs']}"
            out.write(
                f"{r['shape']:17} {r['op']:2} {r['mnk']:>14} | {fmt(r['soma_gflops'], '9.1f')} "
                f"{fmt(r['soma_us'], '8.2f')} | {r['best_comparator'] or '-':>8} "
                f"{fmt(r['soma_over_best'], '9.2f')} "
                f"{(f'{sb[0]:.2f}-{sb[1]:.2f}' if sb else '-'):>9} | "
                f"{fmt(r['soma_over_openblas'], '7.2f')} "
                f"{(f'{so[0]:.2f}-{so[1]:.2f}' if so else '-'):>9} | "
                f"{fmt(r['soma_over_peak'], '7.2f')} | {tt}".rstrip() + "\n")
        with_t = [r for r in rs if r["target"]]
        if with_t:
            ok = sum(1 for r in with_t if r["target_met"])
            high = sum(1 for r in with_t if not r["target_met"]
                       and r["beyond_peak_in_runs"] * 2 > r["runs"])
            out.write(f"targets met on the medians: {ok}/{len(with_t)}")
            if high:
                out.write(f"; of the missed, {high} ask in most runs for more than the FMA peak "
                          "(1.2 × OpenBLAS above it)")
            out.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="tools/bench results directories or summary.json")
    ap.add_argument("--json", help="write the combined rows here")
    a = ap.parse_args()
    docs = []
    for p in a.runs:
        try:
            docs.append(load(p))
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"runs.py: {p}: {e}")
    rows = combine(docs)
    if not rows:
        sys.exit("runs.py: no rows in " + ", ".join(a.runs))
    peaks = collections.defaultdict(list)
    for d in docs:
        for t, g in d.get("fma_peak_gflops", {}).items():
            peaks[int(t)].append(g)
    for t in sorted(peaks):
        out = f"FMA peak on {t} thread{'s' if t > 1 else ''}: " + ", ".join(
            f"{g:.1f}" for g in peaks[t]) + " GF/s in the runs"
        print(out)
    scal = [d.get("scaling_1024", {}) for d in docs]
    for lib in ("soma", "fma"):
        got = [sc[lib] for sc in scal if lib in sc]
        if got:
            who = "the FMA loop" if lib == "fma" else lib
            print(f"{got[0]['threads']} threads / 1 thread, {who} at 1024^3 (paired rounds): "
                  + ", ".join(f"{g['speedup']:.2f}" for g in got) + " in the runs")
    print_table(rows, len(docs), sys.stdout)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": a.runs, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
