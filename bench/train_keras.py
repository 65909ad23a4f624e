#!/usr/bin/env python3
"""Keras 3's side of the training/inference comparison (bench/bench_train.c is
soma's, bench/train_torch.py PyTorch's; tools/bench-train runs all three).

The Keras tutorial model exactly: Input 784 → Dense 128 relu he_normal →
Dense 64 relu he_normal → Dense 10 softmax glorot_uniform; Adam (lr 0.001,
eps 1e-7: Keras' defaults); sparse_categorical_crossentropy; accuracy.
Data: the same IDX files as soma, pixels / 255 in double then float32 (what
soma_idx_load with SOMA_IDX_SCALE computes), held in memory as numpy arrays.

Two ways to train, each from fresh weights, both reported ("variant"):
  fit   model.fit(x, y, batch_size, epochs, shuffle=True) on the numpy arrays:
        what a Keras user writes. Keras runs one compiled step per batch from
        Python, fed by its own tf.data adapter over the arrays.
  loop  a whole epoch inside one tf.function: tf.range over the batches of a
        pre-shuffled in-memory tensor, GradientTape, optimizer.apply, running
        loss and accuracy. No Python and no tf.data per step: the fastest
        plain TensorFlow gets without XLA, so the fairer comparison for speed.
Two ways to infer: "predict" (model.predict(x, batch_size)) and "call" (a
tf.function of the model over slices of a tensor). The table takes the faster
variant of each.
The µs/step split is not measurable inside a compiled step; only the total.

Threads: tf.config.threading intra-op = inter-op = --threads, which can only
be set before TensorFlow starts, so one process per thread count (the script
runs itself again for each when given several).

  train_keras.py [--data DIR] [--epochs N] [--batch 32,128,256] [--threads 1,2]
                 [--infer] [--infer-batch 1,32,1000] [--seed S] [--min-time S]
                 [--variants fit,loop]

stdout: one JSON object per line, the fields of bench_train.c; stderr: words.
Without keras/tensorflow: prints "SKIPPED: <why>" and {"skipped": ...}, exits 0.
"""
import json
import os
import subprocess
import sys
import time

FRAMEWORK = "keras"

# Quiet TensorFlow's start-up banner before it is imported; the JSON goes to
# stdout, so nothing else may.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def skip(why):
    print(f"SKIPPED: {why}", file=sys.stderr)
    print(json.dumps({"framework": FRAMEWORK, "skipped": why}))
    sys.exit(0)


try:
    import numpy as np
except Exception as e:
    skip(f"numpy is not importable by {sys.executable} ({type(e).__name__}: {e})")


from train_common import (base_parser, epoch_summary, load_between, load_data,  # noqa: E402
                          read_jiffies, time_inference)


def parse_args():
    p = base_parser(__doc__)
    p.add_argument("--variants", default="fit,loop",
                   help="training variants: fit, loop or both (comma-separated)")
    return p.parse_args()


def per_thread_processes(args):
    """TensorFlow fixes its thread pools at start-up: one child per count."""
    for t in args.threads:
        argv = [a for a in sys.argv[1:]]
        i = argv.index("--threads") if "--threads" in argv else -1
        if i >= 0:
            del argv[i:i + 2]
        argv = [a for a in argv if not a.startswith("--threads=")]
        rc = subprocess.call([sys.executable, os.path.abspath(__file__), *argv,
                              "--threads", str(t)])
        if rc:
            sys.exit(rc)
    sys.exit(0)


def main():
    args = parse_args()
    import importlib.util
    missing = [m for m in ("keras", "tensorflow") if importlib.util.find_spec(m) is None]
    if missing:  # said once here, not by every per-thread child
        skip(f"{' and '.join(missing)} not installed for {sys.executable}; pip install keras "
             "tensorflow-cpu, or set SOMA_KERAS_PYTHON")
    if len(args.threads) > 1:
        per_thread_processes(args)
    threads = args.threads[0]
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in ("fit", "loop")]
    if bad:
        sys.exit(f"train_keras.py: unknown variant(s) {bad}; fit and loop exist")

    try:
        import tensorflow as tf
        import keras
    except Exception as e:
        skip(f"keras/tensorflow are not importable by {sys.executable} "
             f"({type(e).__name__}: {e}); pip install keras tensorflow-cpu, or set "
             "SOMA_KERAS_PYTHON")
    if keras.backend.backend() != "tensorflow":
        skip(f"Keras backend is {keras.backend.backend()}, this compares TensorFlow")
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.get_logger().setLevel("ERROR")
    version = f"keras {keras.__version__}, tensorflow {tf.__version__}"

    xtr, ytr, xte, yte = load_data(args.data)
    n = xtr.shape[0]

    def make_model():
        keras.utils.set_random_seed(args.seed)
        model = keras.Sequential([
            keras.Input(shape=(784,)),
            keras.layers.Dense(128, activation="relu", kernel_initializer="he_normal"),
            keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal"),
            keras.layers.Dense(10, activation="softmax", kernel_initializer="glorot_uniform"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_s = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_s.append(time.perf_counter() - self.t0)

    def train_fit(model, batch):
        clock = EpochClock()
        h = model.fit(xtr, ytr, batch_size=batch, epochs=args.epochs, shuffle=True,
                      verbose=0, callbacks=[clock])
        return clock.epoch_s, h.history["loss"][-1], h.history["accuracy"][-1]

    def train_loop(model, batch):
        steps = (n + batch - 1) // batch
        x_all = tf.constant(xtr)
        y_all = tf.constant(ytr)
        opt = model.optimizer
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        variables = model.trainable_variables
        opt.build(variables)

        @tf.function
        def epoch(perm):
            xs = tf.gather(x_all, perm)
            ys = tf.gather(y_all, perm)
            loss_sum = tf.constant(0.0, tf.float64)
            correct = tf.constant(0, tf.int64)
            for s in tf.range(steps):
                lo = s * batch
                hi = tf.minimum(lo + batch, n)
                xb, yb = xs[lo:hi], ys[lo:hi]
                with tf.GradientTape() as tape:
                    p = model(xb, training=True)
                    loss = loss_fn(yb, p)
                grads = tape.gradient(loss, variables)
                opt.apply(grads, variables)
                loss_sum += tf.cast(loss, tf.float64) * tf.cast(hi - lo, tf.float64)
                correct += tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, 1), yb), tf.int64))
            return loss_sum / n, tf.cast(correct, tf.float64) / n

        epoch_s = []
        rng = np.random.default_rng(args.seed)
        for _ in range(args.epochs):
            t0 = time.perf_counter()
            loss, acc = epoch(tf.constant(rng.permutation(n)))
            loss, acc = float(loss), float(acc)  # waits for the epoch to finish
            epoch_s.append(time.perf_counter() - t0)
        return epoch_s, loss, acc

    model = None
    for batch in args.batch if args.epochs > 0 else []:
        for variant in variants:
            model = make_model()
            j0 = read_jiffies()
            f0 = time.perf_counter()
            epoch_s, train_loss, train_acc = (train_fit if variant == "fit" else train_loop)(
                model, batch)
            fit_s = time.perf_counter() - f0
            busy, cpw = load_between(j0, read_jiffies())
            test_loss, test_acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
            steps = (n + batch - 1) // batch
            med, first = epoch_summary(epoch_s)
            rec = {"framework": FRAMEWORK, "kind": "train", "variant": variant, "batch": batch,
                   "threads": threads, "epochs": args.epochs, "steps_per_epoch": steps,
                   "epoch_s": epoch_s, "epoch_median_s": med, "first_epoch_s": first,
                   "fit_s": fit_s, "us_per_step": med * 1e6 / steps, "split_us": None,
                   "test_accuracy": float(test_acc), "test_loss": float(test_loss),
                   "train_loss": float(train_loss), "train_accuracy": float(train_acc),
                   "busy_cpus": busy, "cpu_per_wall": cpw, "seed": args.seed,
                   "version": version}
            print(json.dumps(rec), flush=True)
            print(f"keras batch {batch:4d} threads {threads} {variant:4s}: epoch {med:.3f} s "
                  f"(first {first:.3f} s), {rec['us_per_step']:.1f} us/step; test acc "
                  f"{test_acc:.4f}; busy {busy:.2f} CPU, cpu/wall {cpw:.2f}",
                  file=sys.stderr, flush=True)

    if not args.infer:
        return
    if model is None:
        model = make_model()
    x_tensor = tf.constant(xte)
    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([None, 784], tf.float32)])

    def run_predict(count, batch):
        return model.predict(xte[:count], batch_size=batch, verbose=0)

    def run_call(count, batch):
        outs = [forward(x_tensor[i:min(i + batch, count)]) for i in range(0, count, batch)]
        return tf.concat(outs, 0).numpy()

    for variant, run in (("predict", run_predict), ("call", run_call)):
        results = [time_inference(run, xte.shape[0], b, args.min_time, args.max_pass)
                   for b in args.infer_batch]
        rec = {"framework": FRAMEWORK, "kind": "infer", "variant": variant, "threads": threads,
               "images": xte.shape[0], "results": results, "version": version}
        print(json.dumps(rec), flush=True)
        print(f"keras inference threads {threads} {variant}: "
              + "; ".join(f"batch {r['batch']} {r['images_per_s']:.0f} img/s"
                          f"{'' if r['images'] == xte.shape[0] else ' (first %d images)' % r['images']}"
                          f" (busy {r['busy_cpus']:.2f})" for r in results),
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
