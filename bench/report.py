#!/usr/bin/env python3
"""Turn soma_bench_gemm's Google Benchmark JSON into the comparison table.

usage: report.py RESULTS.json [--info INFO.txt] [--summary OUT.json]
                 [--plot-dir DIR]

One table per thread count, one row per shape: GFLOP/s and µs per call of
soma, OpenBLAS, BLIS and oneDNN (medians over the repetitions and rounds),
soma / best comparator and soma / OpenBLAS (over interleaved rounds, the
median of the ratios taken within each round; the range of those next to
it), soma's GFLOP/s as a share of the FMA peak measured in the same run
(the benchmark's "peak" line), the worst coefficient of variation in the
row, the CPU other processes used while the row ran ("busy", from the
benchmark's "load" lines) and the issue's target for that shape; a target
that asks for more than the peak (1.2 × OpenBLAS above it) says so.
Standard library only.
"""
import argparse
import json
import os
import statistics
import re
import sys

LIBS = ["soma", "openblas", "blis", "onednn"]
COMPARATORS = LIBS[1:]
TITLES = {"soma": "soma", "openblas": "OpenBLAS", "blis": "BLIS", "onednn": "oneDNN"}
BUSY = 0.2  # CPUs used by other processes beyond which a row is flagged
# soma_bench_gemm's line "peak     FMA avx2: 1 thread 99.1 GFLOP/s, 2 threads ..."
PEAK = re.compile(r"^peak\s+FMA \S+:(?P<rest>.*)$")
PEAK_ITEM = re.compile(r"(\d+) threads? ([\d.]+) GFLOP/s")
# Its paired 1- against N-thread rounds at 1024³ (report_scaling), per library
# and for the FMA loop: "scaling  soma     1024^3: 2 threads / 1 thread 1.87
# (quartiles 1.57-1.96) over 15 paired rounds; ..." and "scaling  FMA loop 2
# threads / 1 thread 1.96 (quartiles 1.89-2.00) in the same rounds".
SCALING = re.compile(r"^scaling\s+(?P<lib>FMA loop|\S+)\s+(?:\S+: )?(?P<t>\d+) threads / 1 thread "
                     r"(?P<med>[\d.]+) \(quartiles (?P<lo>[\d.]+)-(?P<hi>[\d.]+)\)")
NAME = re.compile(
    r"^sgemm/(?P<group>[a-z]+):(?P<label>[^/]+)/(?P<op>[NT]{2})/"
    r"(?P<m>\d+)x(?P<n>\d+)x(?P<k>\d+)/(?P<lib>[a-z]+)/t(?P<t>\d+)$"
)


def cell_name(sh, lib, threads):
    return (f"sgemm/{sh['group']}:{sh['label']}/{sh['op']}/"
            f"{sh['m']}x{sh['n']}x{sh['k']}/{lib}/t{threads}")


def load(path):
    with open(path) as f:
        doc = json.load(f)
    # (shape key, lib, threads) -> {"gflops", "us", "cv"}
    cells = {}
    shapes = {}  # key -> shape dict, in first-seen order
    for b in doc.get("benchmarks", []):
        run = b.get("run_name", b["name"])
        if run.endswith("/real_time"):
            run = run[: -len("/real_time")]
        m = NAME.match(run)
        if not m:
            continue
        kind = b.get("run_type", "iteration")
        agg = b.get("aggregate_name", "")
        key = (m["group"], m["label"])
        shapes.setdefault(key, {
            "group": m["group"], "label": m["label"], "op": m["op"],
            "m": int(m["m"]), "n": int(m["n"]), "k": int(m["k"]),
        })
        cell = cells.setdefault((key, m["lib"], int(m["t"])), {})
        if kind == "aggregate" and agg == "cv":
            # Google Benchmark reports the CV of a time as a fraction.
            cell["cv"] = max(cell.get("cv", 0.0), float(b.get("real_time", 0.0)))  # worst round
            continue
        if kind == "aggregate" and agg != "median":
            continue
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        # One value per process (tools/bench --rounds runs each library
        # several times): its median, or its single run without repetitions.
        src = "median" if kind == "aggregate" else "single"
        vals = cell.setdefault("_" + src, [])
        # The round the value came from (tools/bench tags each one when it
        # merges the rounds); untagged values count in the order they come.
        rnd = int(b.get("soma_round", len(vals) + 1))
        cell["_interleaved"] = "soma_round" not in b
        vals.append((float(b["real_time"]) * scale, float(b.get("GFLOP/s", 0.0)), rnd))
        cell["_reps"] = int(b.get("repetitions", 1))
        if b.get("error_occurred"):
            cell["error"] = b.get("error_message", "error")
    for cell in cells.values():
        # A median beats a single run; over rounds, the median of the values.
        src = "median" if cell.get("_median") else "single" if cell.get("_single") else None
        if src is None:
            continue
        vals = cell["_" + src]
        cell["us"] = statistics.median(v[0] for v in vals)
        cell["gflops"] = statistics.median(v[1] for v in vals)
        cell["_src"] = src
        cell["_rounds"] = len(vals)
        cell["_by_round"] = {v[2]: v[1] for v in vals}
        if "cv" not in cell and len(vals) > 1:
            # Single runs over several rounds (interleaved): the CV of the
            # rounds' times stands in for that of the repetitions.
            times = [v[0] for v in vals]
            cell["cv"] = statistics.stdev(times) / statistics.mean(times)
    return doc.get("context", {}), shapes, cells


def target(shape, soma, ratio_best, ratio_ob):
    """The issue's targets: (text of the target, met?) or None."""
    g, label = shape["group"], shape["label"]
    if g == "square" and 512 <= shape["m"] <= 2048:
        return ">=1.0 best", ratio_best is not None and ratio_best >= 1.0
    if g == "step":
        b = int(label.split(".")[0][1:])
        if b == 1 and label.endswith("L1.fwd"):
            return "<=10us", soma is not None and soma["us"] <= 10.0
        if 32 <= b <= 256:
            ok = (ratio_best is not None and ratio_best >= 1.0
                  and ratio_ob is not None and ratio_ob >= 1.2)
            return ">=1.2 OB,1.0 best", ok
    return None


def fmt_us(us):
    if us < 10:
        return f"{us:.2f}"
    if us < 100:
        return f"{us:.1f}"
    return f"{us:.0f}"


def paired(a, b):
    """a's GFLOP/s over b's in each round both ran, in round order."""
    if not a or not b:
        return []
    ra, rb = a["_by_round"], b["_by_round"]
    return [ra[r] / rb[r] for r in sorted(ra) if r in rb and rb[r] > 0]


def ratio(a, b, per_round):
    """a / b: the median of the per-round ratios over interleaved rounds
    (the libraries of one round ran within a second), else the ratio of the
    medians (with tools/bench --rounds, the libraries of a round ran minutes
    apart, and pairing them removes nothing)."""
    if not a or not b:
        return None
    if len(per_round) > 1 and a.get("_interleaved") and b.get("_interleaved"):
        return statistics.median(per_round)
    return a["gflops"] / b["gflops"] if b["gflops"] > 0 else None


# From this many rounds on, the table's range is the middle half of the
# per-round ratios (25th to 75th percentile) rather than all of them: over
# many short rounds one disturbed round says little.
QUARTILES_FROM = 8


def spread(per_round):
    """(low, high, kind) of the per-round ratios, or None for fewer than 2."""
    if len(per_round) < 2:
        return None
    if len(per_round) < QUARTILES_FROM:
        return min(per_round), max(per_round), "min-max"
    q = statistics.quantiles(per_round, n=4)
    return q[0], q[2], "p25-p75"


def beyond_peak(shape, libs, peak):
    """True where the step target's OpenBLAS half asks for more than the FMA
    peak: 1.2 × OpenBLAS's GFLOP/s above what the machine can compute."""
    ob = libs.get("openblas")
    return (shape["group"] == "step" and peak is not None and ob is not None
            and 1.2 * ob["gflops"] > peak)


def build_rows(shapes, cells, threads, load, peak=None):
    rows = []
    for key, sh in shapes.items():
        got = {lib: cells.get((key, lib, threads)) for lib in LIBS}
        got = {lib: c for lib, c in got.items() if c and "gflops" in c}
        if not got:
            continue
        soma = got.get("soma")
        best_lib = max((l for l in COMPARATORS if l in got),
                       key=lambda l: got[l]["gflops"], default=None)
        # soma / best comparator (the one with the highest median) within
        # each round: the libraries of a round ran one after another, so the
        # ratio inside a round is what the machine's drift between rounds
        # moves least; interleaved, the ratios reported are their medians.
        per_round = paired(soma, got.get(best_lib))
        per_round_ob = paired(soma, got.get("openblas"))
        rb = ratio(soma, got.get(best_lib), per_round)
        ro = ratio(soma, got.get("openblas"), per_round_ob)
        cvs = [c["cv"] for c in got.values() if "cv" in c]
        loads = [load[n] for n in (cell_name(sh, l, threads) for l in got) if n in load]
        rows.append({
            "shape": sh, "threads": threads, "libs": got,
            "best_comparator": best_lib,
            "soma_over_best": rb, "soma_over_openblas": ro,
            "soma_over_best_rounds": per_round,
            "soma_over_peak": soma["gflops"] / peak if soma and peak else None,
            "beyond_peak": beyond_peak(sh, got, peak),
            "max_cv": max(cvs) if cvs else None,
            "busy": max(loads) if loads else None,
            "target": target(sh, soma, rb, ro),
        })
    return rows


def print_table(rows, threads, out, what, peak=None):
    libs = [l for l in LIBS if any(l in r["libs"] for r in rows)]
    head1 = f"{'':17} {'op':2} {'m x n x k':>14} "
    head2 = f"{'shape':17} {'':2} {'':>14} "
    for l in libs:
        head1 += f"| {TITLES[l]:^15} "
        head2 += f"| {'GF/s':>6} {'us':>8} "
    kinds = {sp[2] for sp in (spread(r["soma_over_best_rounds"]) for r in rows) if sp}
    kind = kinds.pop() if len(kinds) == 1 else "range"
    head1 += (f"| {'soma/':>6} {'per round':>9} {'soma/':>6} {'soma/':>5} {'cv':>5} {'busy':>4} "
              f"| target")
    head2 += f"| {'best':>6} {kind:>9} {'OBLAS':>6} {'peak':>5} {'max':>5} {'CPUs':>4} |"
    out.write(f"\n== {threads} thread{'s' if threads > 1 else ''} "
              f"({what}; GF/s on real time, us per call) ==\n")
    if peak:
        out.write(f"FMA peak {peak:.1f} GF/s on {threads} thread{'s' if threads > 1 else ''} "
                  "(measured in this run; no GEMM exceeds it)\n")
    out.write(head1 + "\n" + head2 + "\n" + "-" * len(head1) + "\n")
    for r in rows:
        sh = r["shape"]
        line = (f"{sh['group'] + ':' + sh['label']:17} {sh['op']:2} "
                f"{str(sh['m']) + 'x' + str(sh['n']) + 'x' + str(sh['k']):>14} ")
        for l in libs:
            c = r["libs"].get(l)
            if c:
                mark = "*" if l == r["best_comparator"] else " "
                line += f"| {c['gflops']:6.1f}{mark}{fmt_us(c['us']):>8} "
            else:
                line += f"| {'-':>6} {'-':>8} "
        rb, ro = r["soma_over_best"], r["soma_over_openblas"]
        line += f"| {rb:6.2f} " if rb is not None else f"| {'-':>6} "
        sp = spread(r["soma_over_best_rounds"])
        line += f"{sp[0]:4.2f}-{sp[1]:4.2f} " if sp else f"{'-':>9} "
        line += f"{ro:6.2f} " if ro is not None else f"{'-':>6} "
        pk = r["soma_over_peak"]
        line += f"{pk:5.2f} " if pk is not None else f"{'-':>5} "
        line += f"{100 * r['max_cv']:4.1f}% " if r["max_cv"] is not None else f"{'-':>5} "
        b = r["busy"]
        line += f"{b:3.1f}{'!' if b > BUSY else ' '} " if b is not None else f"{'-':>4} "
        t = r["target"]
        line += (f"| {t[0]} {'ok' if t[1] else 'MISS'}"
                 f"{' (1.2 OB > peak)' if not t[1] and r['beyond_peak'] else ''}" if t else "|")
        out.write(line.rstrip() + "\n")
    met = [r for r in rows if r["target"]]
    if met:
        n_ok = sum(1 for r in met if r["target"][1])
        out.write(f"targets met: {n_ok}/{len(met)}   (* = best comparator)\n")
        # A target missed on soma / best < 1.0 whose per-round range reaches
        # 1.0: the gap is inside the round-to-round spread of this machine,
        # not a settled result. (A row can also miss on the OpenBLAS half.)
        close = [r for r in met if not r["target"][1] and r["target"][0].startswith(">=1")
                 and r["soma_over_best"] is not None and r["soma_over_best"] < 1.0
                 and (spread(r["soma_over_best_rounds"]) or (0, 0))[1] >= 1.0]
        if close:
            which = "at least a quarter of the rounds" if kind == "p25-p75" else \
                "at least one round"
            out.write(f"of the {len(met) - n_ok} missed, {len(close)} are below soma/best 1.0 but "
                      f"reached it in {which} (per round {kind})\n")
        high = [r for r in met if not r["target"][1] and r["beyond_peak"]]
        if high:
            out.write(f"of the {len(met) - n_ok} missed, {len(high)} ask for more than the FMA peak: "
                      "1.2 × OpenBLAS's GF/s is above it\n")
    noisy = sum(1 for r in rows if r["busy"] is not None and r["busy"] > BUSY)
    if noisy:
        out.write(f"{noisy} row(s) marked ! ran while other processes used > {BUSY} CPU: "
                  "rerun them when the machine is quiet\n")


def write_plot_data(shapes, cells, threads_list, plot_dir):
    """square.dat / odd.dat: size vs GF/s per lib and thread count; step.dat:
    one row per training-step GEMM. Columns: x/label, then lib×threads in
    LIBS order."""
    cols = [(l, t) for t in threads_list for l in LIBS]
    header = "# " + " ".join(f"{l}_t{t}" for l, t in cols)

    def val(key, l, t):
        c = cells.get((key, l, t))
        return f"{c['gflops']:.3f}" if c and "gflops" in c else "NaN"

    for group in ("square", "odd"):
        sq = sorted((sh["m"], key) for key, sh in shapes.items() if sh["group"] == group)
        with open(os.path.join(plot_dir, group + ".dat"), "w") as f:
            f.write("# n " + header[2:] + "\n")
            for n, key in sq:
                f.write(f"{n} " + " ".join(val(key, l, t) for l, t in cols) + "\n")
    with open(os.path.join(plot_dir, "step.dat"), "w") as f:
        f.write("# label " + header[2:] + "\n")
        for key, sh in shapes.items():
            if sh["group"] == "step":
                f.write(f"{sh['label']} " + " ".join(val(key, l, t) for l, t in cols) + "\n")
    with open(os.path.join(plot_dir, "columns.txt"), "w") as f:
        f.write(" ".join(f"{l}_t{t}" for l, t in cols) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--info", help="library/self-check lines written by the benchmark")
    ap.add_argument("--summary", help="write the table's numbers as JSON here")
    ap.add_argument("--plot-dir", help="write gnuplot data files here")
    a = ap.parse_args()

    ctx, shapes, cells = load(a.results)
    if not shapes:
        sys.exit(f"report.py: no sgemm/... results in {a.results}")
    out = sys.stdout
    host = ctx.get("host_name", "?")
    out.write(f"host {host}: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
              f"{ctx.get('date', '')}\n")
    srcs = {c.get("_src") for c in cells.values() if c.get("_src")}
    what = "medians" if srcs == {"median"} else "single runs" if srcs == {"single"} \
        else "medians or single runs"
    reps = max((c.get("_reps", 1) for c in cells.values()), default=1)
    rounds = max((c.get("_rounds", 1) for c in cells.values()), default=1)
    over = f", median over {rounds} rounds" if rounds > 1 else ""
    out.write(f"values: {what} of {reps} repetition{'s' if reps > 1 else ''}{over}\n")
    info, busy, peaks, scaling = [], {}, {}, {}
    if a.info and os.path.exists(a.info):
        with open(a.info) as f:
            for line in f:
                w = line.split()
                if len(w) == 3 and w[0] == "load":
                    busy[w[1]] = float(w[2])
                    continue
                p = PEAK.match(line.strip())
                if p:
                    peaks.update((int(t), float(g)) for t, g in PEAK_ITEM.findall(p["rest"]))
                sc = SCALING.match(line.strip())
                if sc:
                    scaling["fma" if sc["lib"] == "FMA loop" else sc["lib"]] = {
                        "threads": int(sc["t"]), "speedup": float(sc["med"]),
                        "quartiles": [float(sc["lo"]), float(sc["hi"])]}
                if line.strip():
                    info.append(line.rstrip("\n"))
        for line in info:
            out.write(f"  {line}\n")
    threads_list = sorted({t for (_, _, t) in cells})
    all_rows = []
    for t in threads_list:
        rows = build_rows(shapes, cells, t, busy, peaks.get(t))
        all_rows += rows
        print_table(rows, t, out, what, peaks.get(t))

    if a.summary:
        def clean(c):
            return {k: v for k, v in c.items() if not k.startswith("_")}
        doc = {
            "context": ctx, "info": info,
            "fma_peak_gflops": {str(t): g for t, g in sorted(peaks.items())},
            "scaling_1024": scaling,
            "rows": [{
                "shape": f"{r['shape']['group']}:{r['shape']['label']}",
                "op": r["shape"]["op"], "m": r["shape"]["m"], "n": r["shape"]["n"],
                "k": r["shape"]["k"], "threads": r["threads"],
                "libs": {l: clean(c) for l, c in r["libs"].items()},
                "best_comparator": r["best_comparator"],
                "soma_over_best": r["soma_over_best"],
                "soma_over_openblas": r["soma_over_openblas"],
                "soma_over_best_rounds": r["soma_over_best_rounds"],
                "soma_over_peak": r["soma_over_peak"],
                "target_beyond_peak": r["beyond_peak"],
                "max_cv": r["max_cv"], "busy_cpus": r["busy"],
                "target": r["target"][0] if r["target"] else None,
                "target_met": r["target"][1] if r["target"] else None,
            } for r in all_rows],
        }
        with open(a.summary, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False,
                      default=lambda x: None)
    if a.plot_dir:
        write_plot_data(shapes, cells, threads_list, a.plot_dir)


if __name__ == "__main__":
    main()
