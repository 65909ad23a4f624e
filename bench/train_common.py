"""What bench/train_keras.py and bench/train_torch.py share: the IDX reader
(pixels / 255 in double then float32, as soma_idx_load with SOMA_IDX_SCALE),
the machine-load measure of bench/load.c, the common options, and the
inference and epoch timing. Imported by both; runs nothing itself."""
import argparse
import gzip
import os
import statistics
import struct
import time

import numpy as np


def load_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, rank = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_data(d):
    def images(name):
        a = load_idx(os.path.join(d, name))
        return (a.reshape(a.shape[0], -1).astype(np.float64) / 255.0).astype(np.float32)

    def labels(name):
        return load_idx(os.path.join(d, name)).astype(np.int64)

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def read_jiffies():
    """(system busy jiffies, this process' jiffies, wall): bench/load.c's measure."""
    busy = me = 0
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        with open("/proc/self/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        me = int(rest[11]) + int(rest[12])
    except (OSError, ValueError, IndexError):
        pass
    return busy, me, time.perf_counter()


def load_between(a, b):
    tck, wall = os.sysconf("SC_CLK_TCK"), b[2] - a[2]
    if wall <= 0:
        return 0.0, 0.0
    other = max(0, (b[0] - a[0]) - (b[1] - a[1]))
    return other / tck / wall, (b[1] - a[1]) / tck / wall


def int_list(s):
    v = [int(x) for x in s.split(",") if x]
    if not v or min(v) <= 0:
        raise argparse.ArgumentTypeError(f"'{s}' is not a list of positive integers")
    return v


def base_parser(doc):
    """The options both framework scripts take (tools/bench-train passes them)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int_list, default=[32, 128, 256])
    p.add_argument("--threads", type=int_list, default=[1, 2])
    p.add_argument("--infer", action="store_true")
    p.add_argument("--infer-batch", type=int_list, default=[1, 32, 1000])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--max-pass", type=float, default=5.0,
                   help="seconds one inference pass may take before a prefix of the "
                        "test set is used")
    return p


def time_inference(run, n, batch, min_time, max_pass):
    """images/s of run(count, batch) over the first `count` test images: one
    untimed pass on a short prefix, then passes until min_time (at least 3),
    the median reported; a full pass longer than max_pass is cut to a prefix."""
    # Big enough that a per-call cost (model.predict sets up a data adapter
    # each time) does not pass for a per-image one.
    probe = min(n, max(256, 2 * batch))
    run(probe, batch)
    t0 = time.perf_counter()
    run(probe, batch)
    per_image = (time.perf_counter() - t0) / probe
    count = n
    if per_image * n > max_pass:
        count = max(batch, int(max_pass / per_image) // batch * batch)
    passes = []
    j0 = read_jiffies()
    start = time.perf_counter()
    while len(passes) < 64 and (len(passes) < 3 or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        run(count, batch)
        passes.append(time.perf_counter() - t0)
    busy, cpw = load_between(j0, read_jiffies())
    return {"batch": batch, "images": count, "images_per_s": count / statistics.median(passes),
            "passes": len(passes), "busy_cpus": busy, "cpu_per_wall": cpw}


def epoch_summary(epoch_s):
    rest = epoch_s[1:] or epoch_s
    return statistics.median(rest), epoch_s[0]
