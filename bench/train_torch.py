#!/usr/bin/env python3
"""PyTorch's side of the training/inference comparison (bench/bench_train.c
is soma's, bench/train_keras.py Keras'; tools/bench-train runs all three).

The Keras tutorial model, built the way a PyTorch user writes it: Linear 784→128,
ReLU, Linear 128→64, ReLU, Linear 64→10, trained on logits with
F.cross_entropy (softmax and sparse categorical cross-entropy fused, which is
what PyTorch offers; Keras and soma apply softmax in the last layer and take the
loss of the probabilities: the same function of the weights). Weights start
as Keras initialises them (he_normal: normal truncated at 2σ with σ =
sqrt(2/fan_in)/0.87962566; glorot_uniform: U(±sqrt(6/(fan_in+fan_out)));
zero biases). Adam lr 0.001, betas 0.9/0.999, eps 1e-7 as in Keras, but
PyTorch adds eps to sqrt(v̂) (bias-corrected) where Keras adds it to sqrt(v),
so PyTorch's 1e-7 acts as a Keras eps of 1e-7·sqrt(1-β2^t), smaller in the
first thousands of steps (KERAS.md §7.1); next to sqrt(v) of gradients this
size the difference is in the last bits.

Data: the same IDX files as soma, pixels / 255 in double then float32 (what
soma_idx_load with SOMA_IDX_SCALE computes), held in memory as tensors. An
epoch is a new torch.randperm and, per step, index_select of the batch rows
(soma's fit gathers rows the same way), forward, loss plus running training
loss and accuracy (Keras and soma compute both every step), backward, step.
The split (data/forward/loss/backward/optimizer) is timed around each call;
CPU PyTorch runs synchronously, so the phases are what they say, except that
the loss gradient is computed inside backward().

  train_torch.py [--data DIR] [--epochs N] [--batch 32,128,256] [--threads 1,2]
                 [--infer] [--infer-batch 1,32,1000] [--seed S] [--min-time S]

stdout: one JSON object per line, the fields of bench_train.c; stderr: words.
Without torch: prints "SKIPPED: <why>" and {"skipped": ...}, exits 0.
"""
import json
import sys
import time

FRAMEWORK = "torch"


def skip(why):
    print(f"SKIPPED: {why}", file=sys.stderr)
    print(json.dumps({"framework": FRAMEWORK, "skipped": why}))
    sys.exit(0)


try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except Exception as e:  # ImportError, or a broken install raising anything
    skip(f"PyTorch is not importable by {sys.executable} ({type(e).__name__}: {e}); "
         "apt-get install python3-torch, or set SOMA_TORCH_PYTHON")


from train_common import (base_parser, epoch_summary, load_between, load_data,  # noqa: E402
                          read_jiffies, time_inference)


def parse_args():
    return base_parser(__doc__).parse_args()


def make_model():
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))
    with torch.no_grad():
        for layer, kind in ((model[0], "he"), (model[2], "he"), (model[4], "glorot")):
            out_f, in_f = layer.weight.shape
            if kind == "he":
                s = (2.0 / in_f) ** 0.5 / 0.87962566103423978
                torch.nn.init.trunc_normal_(layer.weight, 0.0, s, -2 * s, 2 * s)
            else:
                lim = (6.0 / (in_f + out_f)) ** 0.5
                torch.nn.init.uniform_(layer.weight, -lim, lim)
            layer.bias.zero_()
    return model


def train(args, data, threads, batch):
    xtr, ytr, xte, yte = data
    torch.manual_seed(args.seed)
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    n = xtr.shape[0]
    steps = (n + batch - 1) // batch
    split = dict.fromkeys(("data", "forward", "loss", "backward", "optimizer"), 0.0)
    epoch_s = []
    clk = time.perf_counter
    model.train()
    j0 = read_jiffies()
    fit0 = clk()
    for _ in range(args.epochs):
        e0 = clk()
        perm = torch.randperm(n)
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        for s in range(steps):
            t0 = clk()
            idx = perm[s * batch:(s + 1) * batch]
            xb = xtr.index_select(0, idx)
            yb = ytr.index_select(0, idx)
            t1 = clk()
            logits = model(xb)
            t2 = clk()
            loss = F.cross_entropy(logits, yb)
            with torch.no_grad():
                loss_sum += loss.detach() * yb.shape[0]
                correct += (logits.argmax(1) == yb).sum()
            t3 = clk()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t4 = clk()
            opt.step()
            t5 = clk()
            split["data"] += t1 - t0
            split["forward"] += t2 - t1
            split["loss"] += t3 - t2
            split["backward"] += t4 - t3
            split["optimizer"] += t5 - t4
        epoch_s.append(clk() - e0)
    fit_s = clk() - fit0
    busy, cpw = load_between(j0, read_jiffies())
    total_steps = steps * args.epochs
    per = 1e6 / total_steps
    split_us = {k: v * per for k, v in split.items()}
    split_us["other"] = (fit_s - sum(split.values())) * per
    model.eval()
    with torch.inference_mode():
        logits = torch.cat([model(xte[i:i + 1000]) for i in range(0, xte.shape[0], 1000)])
        test_loss = F.cross_entropy(logits, yte).item()
        test_acc = (logits.argmax(1) == yte).double().mean().item()
    med, first = epoch_summary(epoch_s)
    rec = {"framework": FRAMEWORK, "kind": "train", "variant": "loop", "batch": batch,
           "threads": threads, "threads_reported": torch.get_num_threads(),
           "epochs": args.epochs, "steps_per_epoch": steps, "epoch_s": epoch_s,
           "epoch_median_s": med, "first_epoch_s": first, "fit_s": fit_s,
           "us_per_step": med * 1e6 / steps, "split_us": split_us,
           "test_accuracy": test_acc, "test_loss": test_loss,
           "train_loss": (loss_sum / n).item(), "train_accuracy": correct.item() / n,
           "busy_cpus": busy, "cpu_per_wall": cpw, "seed": args.seed,
           "version": torch.__version__}
    print(json.dumps(rec), flush=True)
    print(f"torch batch {batch:4d} threads {threads}: epoch {med:.3f} s (first {first:.3f} s), "
          f"{rec['us_per_step']:.1f} us/step = "
          + " + ".join(f"{k} {v:.1f}" for k, v in split_us.items())
          + f"; test acc {test_acc:.4f}; busy {busy:.2f} CPU, cpu/wall {cpw:.2f}",
          file=sys.stderr, flush=True)
    return model


def infer(args, model, xte, threads):
    model.eval()
    n = xte.shape[0]

    def run(count, batch):
        # Slices of a contiguous tensor are views: nothing is copied going in.
        with torch.inference_mode():
            outs = [model(xte[i:min(i + batch, count)]) for i in range(0, count, batch)]
            return torch.cat(outs)

    results = [time_inference(run, n, b, args.min_time, args.max_pass) for b in args.infer_batch]
    rec = {"framework": FRAMEWORK, "kind": "infer", "variant": "loop", "threads": threads,
           "images": n, "results": results, "version": torch.__version__}
    print(json.dumps(rec), flush=True)
    print(f"torch inference threads {threads}: "
          + "; ".join(f"batch {r['batch']} {r['images_per_s']:.0f} img/s"
                      f"{'' if r['images'] == n else ' (first %d images)' % r['images']}"
                      f" (busy {r['busy_cpus']:.2f})" for r in results),
          file=sys.stderr, flush=True)


def main():
    args = parse_args()
    xtr, ytr, xte, yte = load_data(args.data)
    data = tuple(torch.from_numpy(a) for a in (xtr, ytr, xte, yte))
    # Inter-op threads serve only asynchronous graph work, which eager
    # training does not do; one, so the thread count is what --threads says.
    torch.set_num_interop_threads(1)
    for threads in args.threads:
        torch.set_num_threads(threads)
        model = None
        if args.epochs > 0:
            for batch in args.batch:
                model = train(args, data, threads, batch)
        if args.infer:
            if model is None:
                torch.manual_seed(args.seed)
                model = make_model()
            infer(args, model, data[2], threads)


if __name__ == "__main__":
    main()
