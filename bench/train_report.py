#!/usr/bin/env python3
"""The training/inference comparison table from the JSON lines that
bench_train (soma), train_keras.py and train_torch.py print; tools/bench-train
runs them and then this. Standard library only.

  train_report.py RAW.jsonl [--summary summary.json]

Speed ratios are soma's speed over the other's (> 1: soma is faster), taken
against the faster of Keras and PyTorch; for Keras the faster of its variants
(fit / loop for training, predict / call for inference, which one is named).
"busy" is the most CPU other processes used during any run of the row
(bench_gemm.c's /proc/stat measure); "!" marks rows above 0.2 CPU, whose
times say more about the neighbours than about the code.
"rtt" is the largest core-to-core round trip (µs) measured around the
multi-threaded runs of the row (bench/load.h); "!" marks rows above 0.2 µs,
where the host had put the two CPUs far apart and every 2-thread number,
soma's above all, is low.
"""
import argparse
import json
import statistics
import sys

BUSY_WARN = 0.2
RTT_WARN = 0.2  # bench/load.h: BENCH_CORE_RTT_SLOW_US
FWS = ("keras", "torch")


def load(path):
    recs, skipped = [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "skipped" in r:
                skipped[r.get("framework", "?")] = r["skipped"]
            elif "kind" in r:
                recs.append(r)
    return recs, skipped


def fmt(v, spec=".3f", none="-"):
    return none if v is None else format(v, spec)


def ratio(a, b):
    return None if not a or not b else a / b


def best(recs, key, pick=min):
    """The record with the smallest (or largest) key, or None."""
    recs = [r for r in recs if r.get(key) is not None]
    return pick(recs, key=lambda r: r[key]) if recs else None


class Table:
    def __init__(self, header):
        self.rows = [header]

    def add(self, row):
        self.rows.append([str(c) for c in row])

    def __str__(self):
        w = [max(len(r[i]) for r in self.rows) for i in range(len(self.rows[0]))]
        out = []
        for k, r in enumerate(self.rows):
            out.append("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)))
            if k == 0:
                out.append("  ".join("-" * x for x in w))
        return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("raw")
    ap.add_argument("--summary", help="write the table's numbers here as JSON")
    args = ap.parse_args()
    recs, skipped = load(args.raw)
    train = [r for r in recs if r["kind"] == "train"]
    infer = [r for r in recs if r["kind"] == "infer"]
    probes = [r for r in recs if r["kind"] == "probe"]
    summary = {"skipped": skipped, "train": [], "infer": [], "targets": []}
    out = []

    def tr(fw, batch, threads=None):
        return [r for r in train if r["framework"] == fw and r["batch"] == batch
                and (threads is None or r["threads"] == threads)]

    for fw, why in skipped.items():
        out.append(f"{fw}: SKIPPED: {why}")
    if skipped:
        out.append("")

    # ---- training -----------------------------------------------------------------
    epochs = sorted({r["epochs"] for r in train})
    out.append("Training: epoch seconds, the median of the epochs after the first "
               f"({'/'.join(map(str, epochs)) or '?'} epochs of 60000 images); "
               "x = soma's speed / the faster framework's")
    t = Table(["batch", "thr", "soma", "keras", "(variant)", "torch", "soma x", "soma µs/step",
               "data", "fwd", "loss", "bwd", "opt", "other", "cpu/wall", "acc soma", "keras",
               "torch", "busy", "rtt"])
    configs = sorted({(r["batch"], r["threads"]) for r in train})
    all_rtts = []
    for batch, threads in configs:
        s = best(tr("soma", batch, threads), "epoch_median_s")
        k = best(tr("keras", batch, threads), "epoch_median_s")
        p = best(tr("torch", batch, threads), "epoch_median_s")
        other = best([x for x in (k, p) if x], "epoch_median_s")
        x = ratio(other and other["epoch_median_s"], s and s["epoch_median_s"])
        busy = max([r["busy_cpus"] for r in train
                    if r["batch"] == batch and r["threads"] == threads] or [0])
        sp = (s or {}).get("split_us") or {}
        rtts = [v for r in train if r["batch"] == batch and r["threads"] == threads
                for v in r.get("core_rtt_us") or [] if v > 0]
        rtts += [r["core_rtt_us"] for r in probes
                 if r["batch"] == batch and r["threads"] == threads and r["core_rtt_us"] > 0]
        rtt = max(rtts) if rtts else None
        all_rtts.extend(rtts)

        def acc(fw):
            v = [r["test_accuracy"] for r in tr(fw, batch, threads)]
            return fmt(statistics.mean(v), ".4f") if v else "-"

        kvar = ",".join(f"{r['variant']} {r['epoch_median_s']:.2f}"
                        for r in tr("keras", batch, threads)) if k else ""
        t.add([batch, threads, fmt(s and s["epoch_median_s"]), fmt(k and k["epoch_median_s"]),
               kvar, fmt(p and p["epoch_median_s"]), fmt(x, ".2f"),
               fmt(s and s["us_per_step"], ".0f"),
               *[fmt(sp.get(f), ".0f") for f in ("data", "forward", "loss", "backward",
                                                 "optimizer", "other")],
               fmt(s and s.get("cpu_per_wall"), ".2f"), acc("soma"), acc("keras"), acc("torch"),
               fmt(busy, ".2f") + ("!" if busy > BUSY_WARN else ""),
               fmt(rtt, ".2f") + ("!" if rtt and rtt > RTT_WARN else "")])
        summary["train"].append({
            "batch": batch, "threads": threads, "busy_cpus": busy, "soma_over_best": x,
            "core_rtt_us": rtt,
            "epoch_s": {fw: r and r["epoch_median_s"] for fw, r in
                        (("soma", s), ("keras", k), ("torch", p))},
            "keras_variant": k and k["variant"], "soma_split_us": sp or None,
            "test_accuracy": {fw: [r["test_accuracy"] for r in tr(fw, batch, threads)]
                              for fw in ("soma",) + FWS}})
    out.append(str(t) if configs else "(no training runs)")
    # PyTorch's split, which is measurable (CPU PyTorch is synchronous).
    tsplit = [r for r in train if r["framework"] == "torch" and r.get("split_us")]
    if tsplit:
        out.append("PyTorch µs/step split (loss backward is inside its backward): " + "; ".join(
            f"b{r['batch']} t{r['threads']}: " + " ".join(
                f"{kk} {vv:.0f}" for kk, vv in r["split_us"].items()) for r in tsplit))

    # ---- inference ------------------------------------------------------------------
    out.append("")
    out.append("Inference: images/s over the 10k test images (median pass); "
               "x = soma / the faster framework")
    ti = Table(["batch", "thr", "soma", "keras", "(variant)", "torch", "soma x", "busy"])
    rows = {}
    for r in infer:
        for res in r["results"]:
            rows.setdefault((res["batch"], r["threads"]), []).append((r, res))
    inf_best = {}
    for (batch, threads) in sorted(rows):
        cell = {}
        busy = 0.0
        for r, res in rows[(batch, threads)]:
            busy = max(busy, res.get("busy_cpus", 0))
            cur = cell.get(r["framework"])
            if cur is None or res["images_per_s"] > cur[1]["images_per_s"]:
                cell[r["framework"]] = (r, res)
        ips = {fw: cell[fw][1]["images_per_s"] if fw in cell else None
               for fw in ("soma",) + FWS}
        others = [v for fw, v in ips.items() if fw != "soma" and v]
        x = ratio(ips["soma"], max(others) if others else None)
        kv = ""
        if "keras" in cell:
            kv = cell["keras"][0]["variant"]
            if cell["keras"][1]["images"] != cell["keras"][0]["images"]:
                kv += f" ({cell['keras'][1]['images']} img)"
        ti.add([batch, threads, fmt(ips["soma"], ".0f"), fmt(ips["keras"], ".0f"), kv,
                fmt(ips["torch"], ".0f"), fmt(x, ".2f"),
                fmt(busy, ".2f") + ("!" if busy > BUSY_WARN else "")])
        summary["infer"].append({"batch": batch, "threads": threads, "images_per_s": ips,
                                 "keras_variant": kv or None, "soma_over_best": x,
                                 "busy_cpus": busy})
        for fw, v in ips.items():
            if v:
                b = inf_best.setdefault((fw, batch), v)
                inf_best[(fw, batch)] = max(b, v)
    out.append(str(ti) if rows else "(no inference runs)")

    # ---- the issue's targets ------------------------------------------------------------
    out.append("")
    out.append("Targets (issue 4; each side at its best thread count, frameworks at their "
               "faster one and faster variant):")

    def target(name, value, goal, met, note=""):
        status = "n/a" if met is None else ("met" if met else "MISSED")
        out.append(f"  {status:6s} {name}: {value} (target {goal}){note}")
        summary["targets"].append({"target": name, "value": value, "goal": goal,
                                   "met": met})

    def epoch_best(fw, batch):
        r = best(tr(fw, batch), "epoch_median_s")
        return r and r["epoch_median_s"]

    def fw_best_epoch(batch):
        v = [(epoch_best(fw, batch), fw) for fw in FWS if epoch_best(fw, batch)]
        return min(v) if v else (None, None)

    for batch, goal in ((32, 6.0), (256, 3.0)):
        s, (o, ofw) = epoch_best("soma", batch), fw_best_epoch(batch)
        x = ratio(o, s)
        target(f"batch {batch} epoch, soma speed / {ofw or 'framework'}",
               f"{fmt(s)} s vs {fmt(o)} s = {fmt(x, '.2f')}x", f">= {goal:g}x",
               None if x is None else x >= goal)
    sacc = [r["test_accuracy"] for r in tr("soma", 32)]
    facc = {fw: statistics.mean(v) for fw in FWS
            if (v := [r["test_accuracy"] for r in tr(fw, 32)])}
    e32 = min([r["epochs"] for r in train if r["batch"] == 32] or [0])
    if sacc and facc:
        ref_fw = max(facc, key=facc.get)
        d = (statistics.mean(sacc) - facc[ref_fw]) * 100
        target("batch 32 test accuracy, soma - best framework (points, means over runs)",
               f"{statistics.mean(sacc):.4f} vs {ref_fw} {facc[ref_fw]:.4f} = {d:+.2f}",
               ">= -0.5 after 10 epochs", None if e32 < 10 else d >= -0.5,
               "" if e32 >= 10 else f" [only {e32} epochs: rerun with --epochs 10]")
    else:
        target("batch 32 test accuracy", "no data", ">= -0.5 points", None)
    s1 = best(tr("soma", 256, 1), "epoch_median_s")
    s2 = best(tr("soma", 256, 2), "epoch_median_s")
    x = ratio(s1 and s1["epoch_median_s"], s2 and s2["epoch_median_s"])
    target("soma batch 256, 2 threads over 1 thread",
           f"{fmt(s1 and s1['epoch_median_s'])} s / {fmt(s2 and s2['epoch_median_s'])} s = "
           f"{fmt(x, '.2f')}x", ">= 1.6x", None if x is None else x >= 1.6)
    for batch, goal in ((1000, 2.0), (1, 10.0)):
        s = inf_best.get(("soma", batch))
        o = [(inf_best[(fw, batch)], fw) for fw in FWS if (fw, batch) in inf_best]
        ov, ofw = max(o) if o else (None, None)
        x = ratio(s, ov)
        target(f"inference batch {batch}, soma / {ofw or 'framework'}",
               f"{fmt(s, '.0f')} vs {fmt(ov, '.0f')} img/s = {fmt(x, '.2f')}x",
               f">= {goal:g}x", None if x is None else x >= goal)
    busy_all = max([r["busy_cpus"] for r in train] +
                   [res.get("busy_cpus", 0) for r in infer for res in r["results"]] or [0])
    out.append("")
    out.append(f"Machine: other processes used up to {busy_all:.2f} CPU during a measurement"
               + (" -- rows marked ! were disturbed; rerun on a quiet machine for numbers "
                  "to quote" if busy_all > BUSY_WARN else " (quiet)"))
    summary["max_busy_cpus"] = busy_all
    if all_rtts:
        slow = max(all_rtts) > RTT_WARN
        out.append(f"Core-to-core round trip around the multi-threaded runs: "
                   f"{min(all_rtts):.2f}-{max(all_rtts):.2f} µs"
                   + (" -- rows marked ! ran with the two CPUs far apart (another die?); "
                      "their 2-thread numbers are low, rerun them" if slow else ""))
    summary["core_rtt_us"] = [min(all_rtts), max(all_rtts)] if all_rtts else None
    print("\n".join(out))
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
