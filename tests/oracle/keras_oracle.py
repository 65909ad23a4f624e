#!/usr/bin/env python3
"""Keras itself as the oracle: the same random inputs go to Keras 3 (TensorFlow
backend, CPU) and to soma's CLI (`soma loss|activation|optimize|init`), case by
case, for every loss, activation, optimizer and initializer soma has.

Usage: keras_oracle.py [--soma PATH] [-k REGEX] [--list] [-v]
  --soma PATH  the soma binary (default: $SOMA_BUILD_DIR/bin/soma, else
               build/bin/soma next to this repository); $SOMA_EMULATOR, if
               set, is put in front of it (e.g. qemu-aarch64 for a cross build)
  -k REGEX     run only the cases whose id matches REGEX (the coverage check
               that every plugin has cases is skipped then)
  --list       print the case ids and exit
  -v           print every case, and full soma command lines for failures

Prints one line per failing case, then `N passed, M failed`; exits 1 if M > 0.
Only the standard library, numpy, keras and tensorflow are used.
"""

import argparse
import concurrent.futures
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
import zlib
from statistics import NormalDist

# ---------------------------------------------------------------------------
# Tolerances, and why.
#
# Every input is a float32 array that is handed to both sides bit for bit
# (printed with %.9g, which round-trips float32). Both sides then compute in
# float32, but not with the same operations: soma evaluates transcendental
# functions in double and rounds once, sums in double, and differentiates by
# hand; TensorFlow chains several float32 ops (each within a few ulps, 1 ulp =
# 1.19e-7 relative) and differentiates by autodiff through them. So:
#   values:    |soma - keras| <= 1e-6 + 1e-5·|keras|
#              (~80 ulps of relative slack for a chain of ~10 float32 ops and a
#              float32 sum of up to ~100 terms; the absolute 1e-6 covers results
#              that are themselves a cancellation of O(1) float32 terms, e.g.
#              log_cosh = x + softplus(-2x) - log 2 near x = 0.)
#   gradients: |soma - keras| <= 1e-5·max|keras| + 1e-4·|keras|
#              (autodiff multiplies the local derivatives of every float32 op,
#              e.g. BCE's -y/p + (1-y)/(1-p), which cancels; the error of such a
#              sum is relative to its largest term, hence the part relative to
#              the largest gradient element.)
#   optimizer: after each step |soma - keras| <= 1e-5·|keras| + 1e-3·max|x_t - x_0|
#              (each step rounds x in float32, a few ulps of |x| over 5-8 steps;
#              the second term allows 0.1% of the distance travelled, because
#              float32 update formulas such as Adam's lr·sqrt(1-β2^t)/(1-β1^t)
#              differ in the last bits between the two; a wrong formula, a wrong
#              default or a misplaced epsilon moves x by far more -- the cases
#              use epsilons and learning rates large enough for that.)
#   initializers: statistics only (the random streams differ by design), each
#              bound one that a correct sampler misses with probability below
#              about 1e-6, from the sample size n: mean and std within 6
#              standard errors of the difference of two independent samples
#              (mean: 6·σ·sqrt(2/n); std: 6·σ·sqrt(1/n), the normal-case SE of a
#              sample std being σ/sqrt(2n), uniforms' smaller); the hard support
#              to 1 ulp and reached within 14/(n·density at the bound); an
#              untruncated normal's extremes beyond the t with (1-Q(t))^n < e^-14
#              and within 7σ. Deterministic initializers compare exactly.
# ---------------------------------------------------------------------------
# SOMA_ORACLE_TOL_SCALE (default 1) multiplies all of them: 0.1 shows how much
# headroom there is, without editing this file.
_TS = float(os.environ.get("SOMA_ORACLE_TOL_SCALE", "1"))
VAL_RTOL, VAL_ATOL = 1e-5 * _TS, 1e-6 * _TS
GRAD_RTOL, GRAD_ATOL_REL = 1e-4 * _TS, 1e-5 * _TS
OPT_RTOL, OPT_ATOL_REL = 1e-5 * _TS, 1e-3 * _TS
INIT_SIGMAS = 6.0 * _TS

# ---------------------------------------------------------------------------
# Known mismatches: case-id regex -> why. A matching case that fails counts as
# an expected failure (the suite stays green); one that passes is reported, so
# the marker is removed once soma is fixed. Each entry is a
# KNOWN-MISMATCH: soma is wrong against Keras, to be fixed in soma.
# ---------------------------------------------------------------------------
KNOWN_MISMATCH = {
    # (none: the last one, SCCE with mean_with_sample_weight and no
    # ignore_class, is fixed by soma_loss_vt.mask returning SOMA_NO_MASK)
}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"      # CPU only, same as CI
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain Eigen kernels, and no banner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def import_keras():
    """Imports numpy, tensorflow and keras with absl's pre-init banner silenced."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import numpy as np_
        import tensorflow as tf_
        import keras as keras_
        tf_.config.set_visible_devices([], "GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return np_, tf_, keras_


np, tf, keras = import_keras()
F32 = np.float32


# ---------------------------------------------------------------------------
# Formatting inputs for soma, parsing its output
# ---------------------------------------------------------------------------
def fnum(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return "%.9g" % v


def to_json(a):
    """float32 array (any rank, or a scalar) -> JSON text that round-trips it."""
    a = np.asarray(a, dtype=F32)
    if a.ndim == 0:
        return fnum(a)
    return "[" + ", ".join(to_json(r) if a.ndim > 1 else fnum(r) for r in a) + "]"


def fparam(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "None"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def kv_args(params):
    return ["%s=%s" % (k, fparam(v)) for k, v in params.items()]


def pstr(params):
    return ",".join("%s=%s" % (k, fparam(v)) for k, v in params.items())


def case_rng(case_id):
    """One reproducible random stream per case id, so -k never changes inputs."""
    return np.random.default_rng(zlib.crc32(case_id.encode()))


# ---------------------------------------------------------------------------
# Comparison helpers: each returns None or a one-line description of the
# worst offending element.
# ---------------------------------------------------------------------------
def inputs_at(pairs, row_of):
    """A context for compare(): the inputs behind output index i, as
    name[index]=value, where row_of(i) picks the index into the inputs (the
    whole row for per-row losses, the element for elementwise functions)."""
    def ctx(i):
        parts = []
        for name, a in pairs:
            j = tuple(row_of(i))[: np.ndim(a)]
            try:
                v = np.asarray(a)[j]
            except IndexError:
                continue
            parts.append("%s%s=%s" % (name, list(j), to_json(v)))
        return " ".join(parts)
    return ctx


def compare(label, soma, keras_, rtol, atol, ctx=None):
    """None, or one line about the worst element outside atol + rtol·|keras|."""
    # soma prints float32 results with %.9g: read them back as the float32 they were
    s = np.asarray(soma, dtype=F32).astype(np.float64)
    k = np.asarray(keras_, dtype=np.float64)
    if s.shape != k.shape:
        return "%s: shape soma %s vs keras %s" % (label, s.shape, k.shape)
    if s.size == 0:
        return None
    same_nonfinite = (np.isnan(s) & np.isnan(k)) | (np.isinf(s) & np.isinf(k) & (np.sign(s) == np.sign(k)))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        tol = atol + rtol * np.abs(k)
        diff = np.abs(s - k)
        bad = ~same_nonfinite & ~(diff <= tol)
        if not bad.any():
            return None
        excess = np.where(bad, np.nan_to_num(diff / np.maximum(tol, 1e-300), nan=np.inf), -1.0)
    i = np.unravel_index(int(np.argmax(excess)), s.shape)
    where = ctx(i) if ctx and s.ndim else ""
    return "%s: %d of %d differ; worst at %s: soma %s keras %s |diff| %.3g (tol %.3g)%s" % (
        label, int(bad.sum()), s.size, list(i), fnum(s[i]), fnum(k[i]), diff[i], tol[i],
        ("; inputs " + where) if where else "")


# ---------------------------------------------------------------------------
# Case machinery
# ---------------------------------------------------------------------------
class Case:
    """A soma command line and a check(lines) -> [problems] on its stdout."""

    def __init__(self, family, cid, argv, check, covers):
        self.family, self.id, self.argv, self.check, self.covers = family, cid, argv, check, covers
        # the key=value parameters given to the plugin (they come before the first --option)
        self.params = set()
        for a in argv[2:]:
            if a.startswith("--"):
                break
            self.params.add(a.split("=", 1)[0])


CASES = []
COVERED = {"loss": set(), "optim": set(), "init": set(), "activation": set()}
COVERED_PARAMS = {}  # (family, name) -> parameter names some case sets


def add_case(family, cid, argv, check, covers):
    CASES.append(Case(family, cid, argv, check, covers))


# ---------------------------------------------------------------------------
# 1. Losses
# ---------------------------------------------------------------------------
KL = keras.losses
LOSS_CLASS = {
    "mean_squared_error": KL.MeanSquaredError,
    "mean_absolute_error": KL.MeanAbsoluteError,
    "mean_absolute_percentage_error": KL.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": KL.MeanSquaredLogarithmicError,
    "huber": KL.Huber,
    "log_cosh": KL.LogCosh,
    "cosine_similarity": KL.CosineSimilarity,
    "hinge": KL.Hinge,
    "squared_hinge": KL.SquaredHinge,
    "categorical_hinge": KL.CategoricalHinge,
    "binary_crossentropy": KL.BinaryCrossentropy,
    "binary_focal_crossentropy": KL.BinaryFocalCrossentropy,
    "categorical_crossentropy": KL.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": KL.SparseCategoricalCrossentropy,
    "kl_divergence": KL.KLDivergence,
    "poisson": KL.Poisson,
}
# soma's aliases -> the loss Keras means by them. kullback_leibler_divergence is
# Keras 2's name (Keras 3 keeps it only in its legacy namespace).
LOSS_ALIAS = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
              "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
              "bce": "binary_crossentropy", "kld": "kl_divergence",
              "kullback_leibler_divergence": "kl_divergence"}

REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "none", "mean_with_sample_weight"]
WEIGHTS = ["no", "per-sample", "scalar"]


def softmax_rows(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(F32)


def one_hot(rng, shape):
    lab = rng.integers(0, shape[-1], size=shape[:-1])
    return np.eye(shape[-1], dtype=F32)[lab]


def gen_inputs(kind, rng, shape):
    """(y_true, y_pred) float32 arrays in the valid domain of each loss family."""
    n = int(np.prod(shape))
    N = lambda s=1.0: (rng.standard_normal(shape) * s).astype(F32)
    U = lambda lo, hi: rng.uniform(lo, hi, shape).astype(F32)

    def sprinkle(a, values):
        flat = a.reshape(-1)
        pos = rng.choice(n, size=min(len(values), n), replace=False)
        flat[pos] = np.asarray(values[: len(pos)], dtype=F32)
        return flat.reshape(shape)

    if kind == "real":
        return N(1.5), N(1.5)
    if kind == "real_wide":  # differences up to ±60: huber's linear part, log_cosh's overflow-safe form
        return N(1.0), (rng.uniform(-60, 60, shape)).astype(F32)
    if kind == "mape":  # some labels exactly 0 or tiny: the max(|y|, eps) divisor
        return sprinkle(N(2.0), [0.0, 0.0, 1e-9, -3e-8]), N(2.0)
    if kind == "positive":
        return U(0.0, 5.0), U(0.0, 5.0)
    if kind == "msle_negative":  # negatives and zeros read as eps on both sides
        return sprinkle(N(2.0), [0.0]), sprinkle(N(2.0), [0.0, -1e-9])
    if kind == "poisson":
        return rng.poisson(2.0, shape).astype(F32), sprinkle(U(0.05, 5.0), [0.0, 1e-8])
    if kind == "kld":
        return softmax_rows(N(1.5)), softmax_rows(N(1.5))
    if kind == "kld_edge":  # zeros and values above 1: clipped to [eps, 1]
        return sprinkle(U(0.0, 1.0), [0.0, 0.0, 1.5, 1e-9]), sprinkle(U(0.0, 1.0), [0.0, 1.2, 1e-8])
    if kind == "cos_zero":  # all-zero rows hit the eps² floor of the norm
        yt, yp = N(), N()
        yt[0] = 0.0
        yp[1] = 0.0
        return yt, yp
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], size=shape).astype(F32), N(1.5)
    if kind == "01":  # every label 0/1: Keras converts them to -1/1
        return rng.choice([0.0, 1.0], size=shape).astype(F32), N(1.5)
    if kind == "mixed":  # not all 0/1: used unconverted
        yt = rng.choice([0.0, 1.0], size=shape).astype(F32)
        yt.reshape(-1)[0] = -1.0
        yt.reshape(-1)[1] = 0.5
        return yt, N(1.5)
    if kind == "onehot":
        return one_hot(rng, shape), N(2.0)
    if kind == "bin_prob":
        return rng.choice([0.0, 1.0], size=shape).astype(F32), U(0.02, 0.98)
    if kind == "soft_prob":
        return U(0.0, 1.0), U(0.02, 0.98)
    if kind == "prob_edge":  # exactly 0 and 1, and within eps of them: the clip
        yt = rng.choice([0.0, 1.0], size=shape).astype(F32)
        return yt, sprinkle(U(0.0, 1.0), [0.0, 1.0, 1e-9, 5e-8, 1e-7, 1 - 1e-8, 1 - 5e-8, 0.9999999, 2e-7])
    if kind == "prob_edge_open":  # the clip region without exact 0 and 1 (where p_t can be 1)
        yt = rng.choice([0.0, 1.0], size=shape).astype(F32)
        # (p < 6e-8 would make 1 - p round to 1 and p_t to 1 again)
        return yt, sprinkle(U(0.0, 1.0), [5e-8, 1e-7, 1 - 5e-8, 0.9999999, 2e-7, 6e-8])
    if kind == "bin_logits":
        return rng.choice([0.0, 1.0], size=shape).astype(F32), sprinkle(N(3.0), [30.0, -30.0, 0.0])
    if kind == "soft_logits":
        return U(0.0, 1.0), N(3.0)
    if kind == "mod_logits":  # focal with logits: |x| < 8 (see README: TF's logits shortcut)
        return rng.choice([0.0, 1.0], size=shape).astype(F32), np.clip(N(2.5), -7.5, 7.5)
    if kind == "cat_prob":
        return one_hot(rng, shape), softmax_rows(N(1.5))
    if kind == "cat_unnorm":  # Keras divides by the row sum first
        return one_hot(rng, shape), U(0.05, 2.0)
    if kind == "cat_soft":
        return softmax_rows(N(1.0)), softmax_rows(N(1.5))
    if kind == "cat_edge":
        yt = one_hot(rng, shape)
        yp = softmax_rows(N(1.5))
        flat = yp.reshape(-1, shape[-1])
        flat[0] = [1.0] + [0.0] * (shape[-1] - 1)         # a zero and an exact 1
        flat[1, :2] = [1e-9, 0.0]                           # below eps after normalising
        return yt, yp
    if kind == "cat_logits":
        return one_hot(rng, shape), sprinkle(N(3.0), [40.0, -40.0])
    if kind == "cat_soft_logits":
        return softmax_rows(N(1.0)), N(3.0)
    raise ValueError(kind)


def sparse_inputs(kind, rng, shape, label_shape, ignore):
    """Integer labels (as floats) of shape label_shape, predictions of shape."""
    C = shape[-1]
    lab = rng.integers(0, C, size=shape[:-1]).astype(F32)
    if ignore is not None:
        flat = lab.reshape(-1)
        flat[rng.choice(flat.size, size=2, replace=False)] = ignore
    if label_shape == "(N,1)":
        lab = lab[..., None]
    if kind == "prob":
        yp = softmax_rows(rng.standard_normal(shape) * 1.5)
    elif kind == "unnorm":
        yp = rng.uniform(0.05, 2.0, shape).astype(F32)
    else:
        yp = (rng.standard_normal(shape) * 3.0).astype(F32)
    return lab, yp


def keras_loss(kname, params, reduction, yt, yp, sw):
    obj = LOSS_CLASS[kname](reduction=reduction, **params)
    x = tf.constant(yp)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = obj(tf.constant(yt), x, sample_weight=None if sw is None else tf.constant(sw))
    g = tape.gradient(out, x)
    return out.numpy(), (np.zeros_like(yp) if g is None else g.numpy())


def loss_case(name, params, kind, yt, yp, shape_tag, kname=None):
    """Adds the reduction × weight cases of one (loss, parameters, inputs)."""
    kname = kname or name
    n_samples = yp.shape[0]
    # Per-sample weights of a rank-3 (N, T, C) loss are given as (N, 1): Keras
    # cannot broadcast (N,) against the (N, T) per-step values (soma can, an
    # extension not tested here); (N, T) weighs every step.
    wshape = (n_samples,) if yp.ndim <= 2 else (n_samples, 1)
    weights = WEIGHTS + (["per-step"] if yp.ndim > 2 else [])
    for red in REDUCTIONS:
        for wk in weights:
            cid = "loss %s(%s) %s %s red=%s sw=%s" % (name, pstr(params), kind, shape_tag, red, wk)
            rng = case_rng(cid)
            if wk == "per-sample":
                sw = rng.uniform(0.0, 2.0, n_samples).astype(F32)
                sw[min(1, n_samples - 1)] = 0.0  # a zero weight still counts in sum_over_batch_size
                sw = sw.reshape(wshape)
            elif wk == "per-step":
                sw = rng.uniform(0.0, 2.0, yp.shape[:-1]).astype(F32)
            elif wk == "scalar":
                sw = np.asarray(rng.uniform(0.3, 3.0), dtype=F32)
            else:
                sw = None
            argv = ["loss", name] + kv_args(params) + ["--y-true", to_json(yt), "--y-pred", to_json(yp), "--grad"]
            if red != "sum_over_batch_size":  # the default is exercised by leaving it out
                argv += ["--reduction", red]
            if sw is not None:
                argv += ["--sample-weight", to_json(sw)]

            def check(lines, kname=kname, params=params, red=red, yt=yt, yp=yp, sw=sw):
                kv, kg = keras_loss(kname, params, red, yt, yp, sw)
                if len(lines) != 2:
                    return ["expected 2 output lines, got %d" % len(lines)]
                sv, sg = np.asarray(json.loads(lines[0])), np.asarray(json.loads(lines[1]))
                pairs = [("y_true", yt), ("y_pred", yp)]
                probs = [compare("value", sv, kv, VAL_RTOL, VAL_ATOL, inputs_at(pairs, lambda i: i)),
                         compare("grad", sg, kg, GRAD_RTOL,
                                 GRAD_ATOL_REL * float(np.max(np.abs(kg[np.isfinite(kg)]), initial=0.0)),
                                 inputs_at(pairs, lambda i: i[:-1]))]
                return [p for p in probs if p]

            add_case("loss", cid, argv, check, name)


def build_loss_cases():
    R = lambda tag: case_rng("loss-inputs " + tag)
    s2 = (6, 5)
    s3 = (3, 4, 5)

    def simple(name, kinds, params_list=({},), shapes=(s2,)):
        for params in params_list:
            for kind in kinds:
                for shape in shapes:
                    tag = "x".join(map(str, shape))
                    yt, yp = gen_inputs(kind, R("%s %s %s %s" % (name, pstr(params), kind, tag)), shape)
                    loss_case(name, params, kind, yt, yp, tag)

    simple("mean_squared_error", ["real"], shapes=(s2, s3))
    simple("mean_absolute_error", ["real"])
    simple("mean_absolute_percentage_error", ["real", "mape"])
    simple("mean_squared_logarithmic_error", ["positive", "msle_negative"])
    simple("huber", ["real", "real_wide"], [{}, {"delta": 0.5}, {"delta": 2.5}])
    simple("log_cosh", ["real", "real_wide"])
    simple("cosine_similarity", ["real", "cos_zero"], [{}, {"axis": -1}])
    simple("hinge", ["pm1", "01", "mixed"])
    simple("squared_hinge", ["pm1", "01", "mixed"])
    simple("categorical_hinge", ["onehot", "real"])
    simple("kl_divergence", ["kld", "kld_edge"])
    simple("poisson", ["poisson"])

    for ls in (0.0, 0.1, 0.3):
        p = {"label_smoothing": ls} if ls else {}
        simple("binary_crossentropy", ["bin_prob", "soft_prob", "prob_edge"], [p], shapes=(s2, s3) if not ls else (s2,))
        simple("binary_crossentropy", ["bin_logits", "soft_logits"], [dict(p, from_logits=True)])
    # rank alignment: y_true (N,) against y_pred (N, 1)
    yt, yp = gen_inputs("bin_prob", R("bce rank1"), (7, 1))
    loss_case("binary_crossentropy", {}, "bin_prob", yt[:, 0].copy(), yp, "7|7x1")
    yt, yp = gen_inputs("real", R("mse rank1"), (7, 1))
    loss_case("mean_squared_error", {}, "real", yt[:, 0].copy(), yp, "7|7x1")

    focal = []
    for gamma in (2.0, 0.0, 1.5):
        focal.append({"gamma": gamma} if gamma != 2.0 else {})
    focal += [{"apply_class_balancing": True}, {"apply_class_balancing": True, "alpha": 0.6, "gamma": 1.0},
              {"alpha": 0.6}]  # alpha without balancing must change nothing
    for p in focal:
        # gamma < 1 at p_t = 1 (p exactly 0 or 1): TF differentiates (1-p_t)^gamma
        # there as gamma·0^(gamma-1) = NaN (0·inf for gamma = 0); soma returns the limit 0
        edge = "prob_edge" if p.get("gamma", 2.0) >= 1 else "prob_edge_open"
        simple("binary_focal_crossentropy", ["bin_prob", edge], [p])
        simple("binary_focal_crossentropy", ["mod_logits"], [dict(p, from_logits=True)])
    for p in ({"label_smoothing": 0.2}, {"label_smoothing": 0.2, "apply_class_balancing": True, "gamma": 3.0}):
        simple("binary_focal_crossentropy", ["soft_prob"], [p])
        simple("binary_focal_crossentropy", ["mod_logits"], [dict(p, from_logits=True)])

    for ls in (0.0, 0.1, 0.4):
        p = {"label_smoothing": ls} if ls else {}
        simple("categorical_crossentropy", ["cat_prob", "cat_unnorm", "cat_soft", "cat_edge"], [p],
               shapes=(s2, s3) if not ls else (s2,))
        simple("categorical_crossentropy", ["cat_logits", "cat_soft_logits"], [dict(p, from_logits=True)])
    simple("categorical_crossentropy", ["cat_prob"], [{"axis": -1}])

    for from_logits in (False, True):
        for ignore in (None, -1, 2):
            for lshape in ("(N,)", "(N,1)"):
                # Only normalised probabilities: on unnormalised ones Keras' TF backend
                # clips before it normalises, its other backends (and soma) after.
                for kind in (["logits"] if from_logits else ["prob"]):
                    params = {}
                    if from_logits:
                        params["from_logits"] = True
                    if ignore is not None:
                        params["ignore_class"] = ignore
                    tag = "6x5|%s" % lshape
                    yt, yp = sparse_inputs(kind, R("scce %s %s %s" % (pstr(params), kind, lshape)), s2, lshape, ignore)
                    loss_case("sparse_categorical_crossentropy", params, kind, yt, yp, tag)
    yt, yp = sparse_inputs("logits", R("scce axis"), s2, "(N,)", None)
    loss_case("sparse_categorical_crossentropy", {"from_logits": True, "axis": -1}, "logits", yt, yp, "6x5|(N,)")
    yt, yp = sparse_inputs("prob", R("scce rank3"), s3, "(N,)", None)
    loss_case("sparse_categorical_crossentropy", {}, "prob", yt, yp, "3x4x5")
    yt, yp = sparse_inputs("logits", R("scce rank3 ignore"), s3, "(N,)", 0)
    loss_case("sparse_categorical_crossentropy", {"from_logits": True, "ignore_class": 0}, "logits", yt, yp, "3x4x5")

    # aliases: one reduction/weight sweep each on the canonical loss' inputs
    for alias, canon in LOSS_ALIAS.items():
        kind = {"binary_crossentropy": "bin_prob", "kl_divergence": "kld",
                "mean_squared_logarithmic_error": "positive"}.get(canon, "real")
        yt, yp = gen_inputs(kind, R("alias " + alias), s2)
        for red in ("sum_over_batch_size", "none"):
            cid = "loss %s() [alias of %s] %s red=%s" % (alias, canon, kind, red)
            argv = ["loss", alias, "--y-true", to_json(yt), "--y-pred", to_json(yp), "--grad", "--reduction", red]

            def check(lines, canon=canon, red=red, yt=yt, yp=yp):
                kv, kg = keras_loss(canon, {}, red, yt, yp, None)
                sv, sg = np.asarray(json.loads(lines[0])), np.asarray(json.loads(lines[1]))
                probs = [compare("value", sv, kv, VAL_RTOL, VAL_ATOL),
                         compare("grad", sg, kg, GRAD_RTOL, GRAD_ATOL_REL * float(np.max(np.abs(kg)))) ]
                return [p for p in probs if p]

            add_case("loss", cid, argv, check, alias)


# ---------------------------------------------------------------------------
# 2. Activations
# ---------------------------------------------------------------------------
# name -> list of parameter sets (soma and Keras spell them the same).
ACT_PARAMS = {
    "linear": [{}], "sigmoid": [{}], "tanh": [{}], "selu": [{}], "softplus": [{}], "softsign": [{}],
    "silu": [{}], "swish": [{}], "hard_sigmoid": [{}], "hard_silu": [{}], "hard_swish": [{}],
    "exponential": [{}], "relu6": [{}], "hard_tanh": [{}], "tanh_shrink": [{}], "log_sigmoid": [{}],
    "mish": [{}], "sparse_plus": [{}], "sparse_sigmoid": [{}],
    "relu": [{}, {"negative_slope": 0.1}, {"max_value": 6.0}, {"threshold": 0.5},
             {"negative_slope": 0.1, "max_value": 4.0, "threshold": -0.5},
             {"negative_slope": 0.3, "threshold": 1.0}, {"max_value": 2.5, "threshold": 1.0}],
    "softmax": [{}, {"axis": -1}],
    "log_softmax": [{}, {"axis": -1}],
    "sparsemax": [{}, {"axis": -1}],
    "elu": [{}, {"alpha": 0.5}, {"alpha": 2.0}],
    "celu": [{}, {"alpha": 0.5}, {"alpha": 2.0}],
    "gelu": [{"approximate": False}, {"approximate": True}, {}],
    "leaky_relu": [{}, {"negative_slope": 0.01}, {"negative_slope": 0.0}],
    "hard_shrink": [{}, {"threshold": 1.5}],
    "soft_shrink": [{}, {"threshold": 1.5}],
    "squareplus": [{}, {"b": 0.0}, {"b": 1.0}],
    "threshold": [{"threshold": 0.5, "default_value": -1.0}, {"threshold": -1.0, "default_value": 2.0}],
}
# x where piecewise definitions switch (0, ±1, ±3, ±6, ±0.5, ±1.5, thresholds):
# kept apart from the random x so a convention at a kink shows as its own case.
ACT_KINKS = [0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 0.5, -0.5, 1.5, -1.5, 4.0, 2.5, 2.0, -2.0, 0.25]
ACT_LARGE = [-100.0, -80.0, -50.0, -30.0, -20.0, -17.0, -10.0, 10.0, 17.0, 20.0, 30.0, 50.0, 80.0, 100.0,
             -1e-20, 1e-20, -1e-6, 1e-6, 88.0, -88.0, 1e3, -1e3]


# Inputs left out per activation, where Keras' own result is an artifact of
# TensorFlow's float32 formula or autodiff rather than the function (README):
ACT_SKIP_X = {
    # max(x,0) + alpha·expm1(min(x,0)/alpha): at x = 0 autodiff passes the
    # gradient through both max and min, giving 2 where the derivative is 1
    "celu": lambda p: [0.0],
    # (x + sqrt(x² + 0))/2 = relu: d sqrt(x²)/dx at 0 is 0/0 = NaN in TF
    "squareplus": lambda p: [0.0] if p.get("b", 4.0) == 0.0 else [],
    # TF's selu uses exp(x) - 1, which is 0 for -6e-8 < x < 0, and then takes
    # the derivative of the x > 0 branch from that 0 (scale instead of scale·alpha)
    "selu": lambda p: [-1e-20],
}


def sparsemax_reference(x):
    """Sparsemax as Martins & Astudillo define it, in TF ops so the tape
    differentiates it: tau = (sum of the k largest - 1) / k over the support.
    Used only while the installed Keras has keras-team/keras#23425 (its tau
    sums the cumulative sums, fixed by #23469)."""
    z = tf.sort(x, direction="DESCENDING", axis=-1)
    r = tf.range(1, tf.shape(x)[-1] + 1, dtype=x.dtype)
    support = 1.0 + r * z > tf.cumsum(z, axis=-1)
    k = tf.reduce_sum(tf.cast(support, x.dtype), axis=-1, keepdims=True)
    tau = (tf.reduce_sum(tf.where(support, z, tf.zeros_like(z)), axis=-1, keepdims=True) - 1.0) / k
    return tf.maximum(x - tau, 0.0)


def keras_sparsemax_is_fixed():
    got = keras.activations.sparsemax(tf.constant([[0.0, 0.5, 1.0]])).numpy()
    return bool(np.allclose(got, [[0.0, 0.25, 0.75]], atol=1e-6))


SPARSEMAX_FIXED = None


def keras_activation(name, params, x, dy):
    global SPARSEMAX_FIXED
    fn = getattr(keras.activations, name)
    if name == "sparsemax":
        if SPARSEMAX_FIXED is None:
            SPARSEMAX_FIXED = keras_sparsemax_is_fixed()
        if not SPARSEMAX_FIXED:
            fn = lambda t, axis=-1: sparsemax_reference(t)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt, **params)
    g = tape.gradient(y, xt, output_gradients=tf.constant(dy))
    return y.numpy(), (np.zeros_like(x) if g is None else g.numpy())


def build_activation_cases():
    for name, plist in ACT_PARAMS.items():
        for params in plist:
            for xkind in ("random", "large", "kinks"):
                cid = "activation %s(%s) x=%s" % (name, pstr(params), xkind)
                rng = case_rng(cid)
                if xkind == "random":
                    x = np.concatenate([rng.standard_normal((2, 32)) * 1.0, rng.standard_normal((2, 32)) * 4.0,
                                        rng.uniform(-12, 12, (2, 32))]).astype(F32)
                elif xkind == "large":
                    # exponential overflows to inf beyond 88.7 on both sides; keep its inputs finite
                    vals = [v for v in ACT_LARGE if not (name == "exponential" and v > 88)]
                    x = np.asarray([vals, list(reversed(vals))], dtype=F32)
                else:
                    x = np.asarray([ACT_KINKS, [-v for v in ACT_KINKS]], dtype=F32)
                skip = ACT_SKIP_X.get(name, lambda p: [])(params)
                if skip and xkind != "random":
                    keep = ~np.isin(x[0], np.asarray(skip, dtype=F32)) & ~np.isin(x[1], np.asarray(skip, dtype=F32))
                    x = np.ascontiguousarray(x[:, keep])
                dy = rng.uniform(-2.0, 2.0, x.shape).astype(F32)
                argv = ["activation", name] + kv_args(params) + ["--x", to_json(x), "--dy", to_json(dy)]

                def check(lines, name=name, params=params, x=x, dy=dy):
                    ky, kg = keras_activation(name, params, x, dy)
                    if len(lines) != 2:
                        return ["expected 2 output lines, got %d" % len(lines)]
                    sy, sg = np.asarray(json.loads(lines[0])), np.asarray(json.loads(lines[1]))
                    ctx = inputs_at([("x", x), ("dy", dy)], lambda i: i)
                    fin = np.isfinite(kg)
                    vatol, gatol = VAL_ATOL, VAL_ATOL
                    if name in ("softmax", "log_softmax", "sparsemax"):
                        # a row's Jacobian-vector product sums terms as large as the largest
                        gatol = max(VAL_ATOL, GRAD_ATOL_REL * float(np.max(np.abs(kg[fin]), initial=0.0)))
                    if name == "squareplus":
                        # Keras' float32 x + sqrt(x² + b) cancels for x << 0: one rounding
                        # of the sqrt, ulp(|x|)/2, survives (soma uses the conjugate form)
                        vatol = VAL_ATOL + np.spacing(np.abs(x))
                    if name == "gelu" and params.get("approximate"):
                        # Keras' float32 1 - tanh² is 0 once tanh rounds to ±1 (|x| > ~4.5);
                        # its error there is ~|dy|·|x|·(1 + 0.134x²)·1e-7
                        gatol = VAL_ATOL + np.abs(dy) * (1.0 + np.abs(x)) ** 3 * 1e-7
                    probs = [compare("value", sy, ky, VAL_RTOL, vatol, ctx),
                             compare("grad", sg, kg, GRAD_RTOL, gatol, ctx)]
                    return [p for p in probs if p]

                add_case("activation", cid, argv, check, name)


# ---------------------------------------------------------------------------
# 3. Optimizers
# ---------------------------------------------------------------------------
KO = keras.optimizers
OPT_CLASS = {"sgd": KO.SGD, "adam": KO.Adam, "adamw": KO.AdamW, "rmsprop": KO.RMSprop,
             "adagrad": KO.Adagrad, "adadelta": KO.Adadelta, "adamax": KO.Adamax, "nadam": KO.Nadam,
             "ftrl": KO.Ftrl, "lion": KO.Lion}
KS = KO.schedules
SCHEDULES = {
    "exponential_decay": (KS.ExponentialDecay,
                          [{"initial_learning_rate": 0.1, "decay_steps": 2.0, "decay_rate": 0.5},
                           {"initial_learning_rate": 0.1, "decay_steps": 3.0, "decay_rate": 0.7, "staircase": True}]),
    "piecewise_constant_decay": (KS.PiecewiseConstantDecay,
                                 [{"boundaries": [1, 4], "values": [0.1, 0.05, 0.01]},
                                  {"boundaries": [2], "values": [0.2, 0.02]}]),
    "polynomial_decay": (KS.PolynomialDecay,
                         [{"initial_learning_rate": 0.1, "decay_steps": 5.0},
                          {"initial_learning_rate": 0.1, "decay_steps": 3.0, "end_learning_rate": 0.01,
                           "power": 2.0, "cycle": True}]),
    "inverse_time_decay": (KS.InverseTimeDecay,
                           [{"initial_learning_rate": 0.1, "decay_steps": 2.0, "decay_rate": 0.5},
                            {"initial_learning_rate": 0.1, "decay_steps": 3.0, "decay_rate": 1.5, "staircase": True}]),
    "cosine_decay": (KS.CosineDecay,
                     [{"initial_learning_rate": 0.1, "decay_steps": 6.0},
                      {"initial_learning_rate": 0.1, "decay_steps": 5.0, "alpha": 0.1},
                      {"initial_learning_rate": 0.0, "decay_steps": 4.0, "warmup_target": 0.2, "warmup_steps": 3.0,
                       "alpha": 0.05}]),
    "cosine_decay_restarts": (KS.CosineDecayRestarts,
                              [{"initial_learning_rate": 0.1, "first_decay_steps": 2.0},
                               {"initial_learning_rate": 0.1, "first_decay_steps": 2.0, "t_mul": 1.0, "m_mul": 0.5,
                                "alpha": 0.1}]),
}


def schedule_spec(name, params):
    parts = []
    for k, v in params.items():
        if isinstance(v, list):
            parts.append("%s='%s'" % (k, ",".join(repr(float(e)) if k == "values" else str(e) for e in v)))
        else:
            parts.append("%s=%s" % (k, fparam(v)))
    return "%s(%s)" % (name, ", ".join(parts))


def keras_schedule(name, params):
    cls = SCHEDULES[name][0]
    p = dict(params)
    for k in ("decay_steps", "first_decay_steps", "warmup_steps"):
        if k in p:
            p[k] = int(p[k])
    return cls(**p)


def keras_optimize(name, params, x0, grads, schedule=None):
    p = dict(params)
    if schedule is not None:
        p["learning_rate"] = keras_schedule(*schedule)
    opt = OPT_CLASS[name](**p)
    var = keras.Variable(x0, dtype="float32")
    traj = []
    for g in grads:
        opt.apply([tf.constant(g)], [var])
        traj.append(np.array(var.numpy()))
    return traj


def opt_case(name, params, tag="", steps=5, scale=1.0, schedule=None, gscale=1.0, shape=(3, 4)):
    sched_txt = "" if schedule is None else "learning_rate=" + schedule_spec(*schedule)
    cid = "optim %s(%s)%s%s" % (name, ", ".join(filter(None, [pstr(params).replace(",", ", "), sched_txt])),
                                " " + tag if tag else "", "" if steps == 5 else " steps=%d" % steps)
    rng = case_rng(cid)
    x0 = (rng.standard_normal(shape) * scale).astype(F32)
    grads = [(rng.standard_normal(shape) * gscale * (0.5 + i % 3)).astype(F32) for i in range(steps)]
    argv = ["optimize", name] + kv_args(params) + ([sched_txt] if sched_txt else []) + ["--param", to_json(x0)]
    for g in grads:
        argv += ["--grad", to_json(g)]

    def check(lines):
        ktraj = keras_optimize(name, params, x0, grads, schedule)
        if len(lines) != steps:
            return ["expected %d output lines (one per step), got %d" % (steps, len(lines))]
        travel = max(float(np.max(np.abs(k - x0))) for k in ktraj)
        for i, (line, k) in enumerate(zip(lines, ktraj)):
            s = np.asarray(json.loads(line))
            p = compare("step %d" % (i + 1), s, k, OPT_RTOL, OPT_ATOL_REL * travel + 1e-30,
                        inputs_at([("x0", x0), ("grad", grads[i])], lambda j: j))
            if p:
                return [p + " (distance travelled %.3g)" % travel]
        return []

    add_case("optim", cid, argv, check, name)


def build_optimizer_cases():
    opt_case("sgd", {})
    opt_case("sgd", {"learning_rate": 0.1, "momentum": 0.9})
    opt_case("sgd", {"learning_rate": 0.05, "momentum": 0.5, "nesterov": True})
    opt_case("sgd", {"learning_rate": 0.05, "nesterov": True})
    opt_case("adam", {})
    opt_case("adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 0.1})
    opt_case("adam", {"learning_rate": 0.05, "amsgrad": True}, gscale=1.0)
    opt_case("adam", {"learning_rate": 0.05, "amsgrad": True, "epsilon": 0.01}, steps=8)
    opt_case("adamw", {})
    opt_case("adamw", {"learning_rate": 0.01, "weight_decay": 0.1, "beta_1": 0.85, "beta_2": 0.95, "epsilon": 0.05})
    opt_case("adamw", {"learning_rate": 0.02, "weight_decay": 0.0, "amsgrad": True})
    opt_case("rmsprop", {})
    opt_case("rmsprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "epsilon": 0.1})
    opt_case("rmsprop", {"learning_rate": 0.01, "centered": True})
    opt_case("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.9, "rho": 0.7, "epsilon": 0.01})
    opt_case("adagrad", {})
    opt_case("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 0.1})
    opt_case("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.0})
    # Adadelta's default step is ~lr·sqrt(eps) = 3e-7: small parameters make it visible
    opt_case("adadelta", {}, scale=1e-3)
    opt_case("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-3})
    opt_case("adadelta", {"learning_rate": 0.5, "rho": 0.5, "epsilon": 0.1})
    opt_case("adamax", {})
    opt_case("adamax", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.1})
    opt_case("nadam", {})
    opt_case("nadam", {"learning_rate": 0.01, "beta_1": 0.85, "beta_2": 0.99, "epsilon": 0.1}, steps=8)
    opt_case("ftrl", {})
    opt_case("ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
                      "l2_shrinkage_regularization_strength": 0.03, "beta": 0.5, "learning_rate_power": -0.7,
                      "initial_accumulator_value": 0.2})
    opt_case("ftrl", {"learning_rate": 0.05, "learning_rate_power": 0.0, "l2_regularization_strength": 0.1})
    opt_case("ftrl", {"learning_rate": 0.5, "l1_regularization_strength": 0.5}, tag="(l1 zeroes some)")
    opt_case("lion", {})
    opt_case("lion", {"learning_rate": 0.01, "beta_1": 0.95, "beta_2": 0.98})
    opt_case("lion", {"learning_rate": 0.01, "beta_1": 1.0, "beta_2": 0.5})

    # core options, the same for every optimizer
    opt_case("sgd", {"learning_rate": 0.1, "clipnorm": 0.5}, gscale=2.0)
    opt_case("adam", {"learning_rate": 0.01, "clipnorm": 0.5}, gscale=2.0)
    opt_case("sgd", {"learning_rate": 0.1, "clipvalue": 0.3})
    opt_case("rmsprop", {"learning_rate": 0.01, "clipvalue": 0.3})
    opt_case("sgd", {"learning_rate": 0.1, "global_clipnorm": 0.7}, gscale=2.0)
    opt_case("adagrad", {"learning_rate": 0.1, "global_clipnorm": 0.7}, gscale=2.0)
    opt_case("sgd", {"learning_rate": 0.1, "weight_decay": 0.05})
    opt_case("adam", {"learning_rate": 0.01, "weight_decay": 0.3})
    opt_case("rmsprop", {"learning_rate": 0.01, "weight_decay": 0.2, "momentum": 0.5})
    opt_case("lion", {"learning_rate": 0.01, "weight_decay": 0.5})
    opt_case("sgd", {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True})
    opt_case("sgd", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
             steps=7)
    opt_case("adam", {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3},
             steps=7)
    opt_case("adamw", {"learning_rate": 0.05, "weight_decay": 0.1, "clipnorm": 1.0, "use_ema": True,
                       "ema_momentum": 0.8, "ema_overwrite_frequency": 1}, gscale=2.0)
    opt_case("nadam", {"learning_rate": 0.05, "clipvalue": 0.5, "weight_decay": 0.1})

    # every schedule, with plain SGD (lr enters linearly: the schedule itself
    # is what is compared) and with SGD momentum / Adam (Keras stores SGD's
    # velocity pre-multiplied by lr, and Adam folds lr into its step size)
    for sname, (_, plist) in SCHEDULES.items():
        for i, sp in enumerate(plist):
            opt_case("sgd", {}, schedule=(sname, sp), steps=8)
            if i == 0:
                opt_case("sgd", {"momentum": 0.9}, schedule=(sname, sp), steps=8)
                opt_case("adam", {}, schedule=(sname, sp), steps=8)


# ---------------------------------------------------------------------------
# 4. Initializers
# ---------------------------------------------------------------------------
KI = keras.initializers
TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def fans(shape):
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = int(np.prod(shape[:-2]))
    return shape[-2] * rf, shape[-1] * rf


def vs_dist(scale, mode, distribution, shape):
    """(kind, parameter): the distribution VarianceScaling draws from (KERAS.md §1.4)."""
    fi, fo = fans(shape)
    n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2.0}[mode]
    n = max(1.0, n)
    if distribution in ("truncated_normal", "normal"):
        return "trunc", math.sqrt(scale / n) / TRUNC_STD, 0.0
    if distribution == "untruncated_normal":
        return "normal", math.sqrt(scale / n), 0.0
    return "uniform", math.sqrt(3.0 * scale / n), 0.0


PRESETS = {"glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
           "he_normal": (2.0, "fan_in", "truncated_normal"), "he_uniform": (2.0, "fan_in", "uniform"),
           "lecun_normal": (1.0, "fan_in", "truncated_normal"), "lecun_uniform": (1.0, "fan_in", "uniform")}
INIT_CLASS = {"random_normal": KI.RandomNormal, "random_uniform": KI.RandomUniform,
              "truncated_normal": KI.TruncatedNormal, "variance_scaling": KI.VarianceScaling,
              "glorot_uniform": KI.GlorotUniform, "glorot_normal": KI.GlorotNormal, "he_normal": KI.HeNormal,
              "he_uniform": KI.HeUniform, "lecun_normal": KI.LecunNormal, "lecun_uniform": KI.LecunUniform,
              "orthogonal": KI.Orthogonal, "zeros": KI.Zeros, "ones": KI.Ones, "constant": KI.Constant,
              "identity": KI.Identity}
INIT_SHAPES = [(64, 32), (784, 128), (3, 3, 16, 32)]


def dist_of(name, params, shape):
    """(kind, sigma-or-limit, mean) of the distribution the initializer draws from."""
    if name == "random_normal":
        return "normal", params.get("stddev", 0.05), params.get("mean", 0.0)
    if name == "truncated_normal":
        return "trunc", params.get("stddev", 0.05), params.get("mean", 0.0)
    if name == "random_uniform":
        lo, hi = params.get("minval", -0.05), params.get("maxval", 0.05)
        return "uniform", (hi - lo) / 2.0, (hi + lo) / 2.0
    if name == "variance_scaling":
        return vs_dist(params.get("scale", 1.0), params.get("mode", "fan_in"),
                       params.get("distribution", "truncated_normal"), shape)
    return vs_dist(*PRESETS[name], shape)


def stats_of(a):
    a = np.asarray(a, dtype=np.float64)
    return {"mean": a.mean(), "std": a.std(), "min": a.min(), "max": a.max(), "count": a.size}


def check_random_stats(s, k, kind, par, mean, n):
    """soma's and Keras' sample statistics against each other and the support.

    Every bound is one a correct sampler misses with probability < 1e-6."""
    if kind == "uniform":
        sigma, lo, hi = par / math.sqrt(3.0), mean - par, mean + par
        density_at_bound = 1.0 / (hi - lo)
    elif kind == "trunc":
        sigma, lo, hi = par * TRUNC_STD, mean - 2 * par, mean + 2 * par
        density_at_bound = NormalDist().pdf(2.0) / (0.9544997361 * par)  # φ(2)/(P(|z|<2)·σ_raw)
    else:
        sigma, lo, hi = par, -math.inf, math.inf
    probs = []
    if s["count"] != n:
        probs.append("count: soma %d, expected %d" % (s["count"], n))
    tol_mean = INIT_SIGMAS * sigma * math.sqrt(2.0 / n)
    tol_std = INIT_SIGMAS * sigma * math.sqrt(1.0 / n)
    if not abs(s["mean"] - k["mean"]) <= tol_mean:
        probs.append("mean: soma %.6g keras %.6g |diff| %.3g (tol %.3g)" % (s["mean"], k["mean"],
                                                                          abs(s["mean"] - k["mean"]), tol_mean))
    if not abs(s["std"] - k["std"]) <= tol_std:
        probs.append("std: soma %.6g keras %.6g |diff| %.3g (tol %.3g; expected %.6g)" % (
            s["std"], k["std"], abs(s["std"] - k["std"]), tol_std, sigma))
    if math.isfinite(lo):
        # hard support, to float32 rounding of the bound
        ulp = 2.0 * float(np.spacing(F32(max(abs(lo), abs(hi)))))
        for who, st in (("soma", s), ("keras", k)):
            if not (st["min"] >= lo - ulp and st["max"] <= hi + ulp):
                probs.append("%s range [%.6g, %.6g] outside the support [%.6g, %.6g]" % (
                    who, st["min"], st["max"], lo, hi))
        # and reaching it: no draw within `near` of a bound has probability
        # (1 - near·density)^n < e^-14 (the density only grows inwards)
        near = 14.0 / (n * density_at_bound)
        if not (s["min"] <= lo + near and s["max"] >= hi - near):
            probs.append("soma range [%.6g, %.6g] does not reach the support [%.6g, %.6g] within %.3g "
                         "(keras [%.6g, %.6g])" % (s["min"], s["max"], lo, hi, near, k["min"], k["max"]))
    else:
        # untruncated: some draw beyond t·sigma on each side (t with P(none) =
        # (1 - Q(t))^n < e^-14; it rules out a sampler truncated at 2.27·sigma
        # for n >= 2048) and none beyond 7·sigma (P = n·2.6e-12)
        t = NormalDist().inv_cdf(1.0 - 14.0 / n)
        for who, st in (("soma", s), ("keras", k)):
            lo_z, hi_z = (st["min"] - mean) / sigma, (st["max"] - mean) / sigma
            if not (lo_z <= -t and hi_z >= t and lo_z >= -7.0 and hi_z <= 7.0):
                probs.append("%s extremes [%.3g, %.3g] sigma from the mean; an untruncated normal of %d "
                             "draws reaches beyond ±%.3g and stays within ±7" % (who, lo_z, hi_z, n, t))
    return probs


def init_case_random(name, params, shape, seed, soma_name=None):
    soma_name = soma_name or name
    cid = "init %s(%s) shape=%s seed=%d" % (soma_name, pstr(params), ",".join(map(str, shape)), seed)
    argv = ["init", soma_name] + kv_args(params) + ["--shape", ",".join(map(str, shape)), "--seed", str(seed), "--stats"]
    n = int(np.prod(shape))

    def check(lines):
        kobj = INIT_CLASS[name](seed=seed + 1000, **{k: v for k, v in params.items() if k != "seed"})
        k = stats_of(kobj(shape, dtype="float32"))
        s = json.loads(lines[0])
        kind, par, mean = dist_of(name, params, shape)
        return check_random_stats(s, k, kind, par, mean, n)

    add_case("init", cid, argv, check, soma_name)


def init_case_exact(name, params, shape, soma_name=None):
    soma_name = soma_name or name
    cid = "init %s(%s) shape=%s" % (soma_name, pstr(params), ",".join(map(str, shape)))
    argv = ["init", soma_name] + kv_args(params) + ["--shape", ",".join(map(str, shape))]

    def check(lines):
        k = np.asarray(INIT_CLASS[name](**params)(shape, dtype="float32"))
        s = np.asarray(json.loads(lines[0]))
        p = compare("tensor", s, k, 0.0, 0.0)
        return [p] if p else []

    add_case("init", cid, argv, check, soma_name)


def init_case_orthogonal(params, shape, seed, soma_name="orthogonal"):
    cid = "init %s(%s) shape=%s seed=%d" % (soma_name, pstr(params), ",".join(map(str, shape)), seed)
    argv = ["init", soma_name] + kv_args(params) + ["--shape", ",".join(map(str, shape)), "--seed", str(seed)]
    gain = params.get("gain", 1.0)

    def gram(a):
        m = np.asarray(a, dtype=np.float64).reshape(-1, shape[-1])
        # rows >= cols: orthonormal columns (QᵀQ = gain²·I); else orthonormal rows
        return m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T

    def check(lines):
        s = np.asarray(json.loads(lines[0]))
        kp = {k: v for k, v in params.items() if k != "seed"}
        k = np.asarray(KI.Orthogonal(seed=seed + 1000, **kp)(shape, dtype="float32"))
        probs = []
        if s.shape != tuple(shape):
            return ["shape: soma %s expected %s" % (s.shape, tuple(shape))]
        gs, gk = gram(s), gram(k)
        eye = gain * gain * np.eye(gs.shape[0])
        # float32 entries: a Gram entry is a sum of rows float32 products, ~sqrt(rows)·ulp
        tol = 1e-5 * gain * gain
        for who, g in (("soma", gs), ("keras", gk)):
            err = float(np.max(np.abs(g - eye)))
            if not err <= tol:
                probs.append("%s: max|QᵀQ - gain²·I| = %.3g (tol %.3g)" % (who, err, tol))
        # the same norm structure as Keras': Frobenius norm gain·sqrt(min(rows, cols)),
        # and the same element distribution (a Haar matrix's entries are close to
        # N(0, gain²/max(rows, cols)); bounds as for the random initializers)
        m = max(int(np.prod(shape[:-1])), shape[-1])
        fro = gain * math.sqrt(min(int(np.prod(shape[:-1])), shape[-1]))
        for who, a in (("soma", s), ("keras", k)):
            f = float(np.sqrt(np.sum(np.asarray(a, dtype=np.float64) ** 2)))
            if not abs(f - fro) <= 1e-5 * fro:
                probs.append("%s: Frobenius norm %.7g, expected %.7g" % (who, f, fro))
        ss, sk, sd, n = stats_of(s), stats_of(k), gain / math.sqrt(m), s.size
        if not abs(ss["mean"] - sk["mean"]) <= INIT_SIGMAS * sd * math.sqrt(2.0 / n):
            probs.append("mean: soma %.6g keras %.6g" % (ss["mean"], sk["mean"]))
        if not abs(ss["std"] - sk["std"]) <= INIT_SIGMAS * sd / math.sqrt(n):
            probs.append("element std: soma %.6g keras %.6g (about %.6g)" % (ss["std"], sk["std"], sd))
        return probs

    add_case("init", cid, argv, check, soma_name)


def build_init_cases():
    for shape in INIT_SHAPES:
        for i, (name, plist) in enumerate([
            ("random_normal", [{}, {"mean": 0.3, "stddev": 0.2}]),
            ("random_uniform", [{}, {"minval": -0.2, "maxval": 0.6}]),
            ("truncated_normal", [{}, {"mean": -0.1, "stddev": 0.3}]),
            ("glorot_uniform", [{}]), ("glorot_normal", [{}]), ("he_normal", [{}]), ("he_uniform", [{}]),
            ("lecun_normal", [{}]), ("lecun_uniform", [{}]),
        ]):
            for params in plist:
                init_case_random(name, params, shape, seed=7 + i)
        vs = [{}]
        for mode in ("fan_in", "fan_out", "fan_avg"):
            for dist in ("truncated_normal", "normal", "untruncated_normal", "uniform"):
                vs.append({"scale": 2.5, "mode": mode, "distribution": dist})
        vs.append({"scale": 0.1, "mode": "fan_out", "distribution": "uniform"})
        for j, params in enumerate(vs):
            init_case_random("variance_scaling", params, shape, seed=31 + j)
    init_case_random("random_normal", {"stddev": 0.3}, (64, 32), 3, soma_name="normal")
    init_case_random("random_uniform", {"minval": 0.0, "maxval": 1.0}, (64, 32), 4, soma_name="uniform")
    # the seed given as a parameter (it overrides --seed)
    for name in ("random_normal", "random_uniform", "truncated_normal", "variance_scaling", "glorot_uniform",
                 "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform"):
        init_case_random(name, {"seed": 123}, (784, 128), 0)

    for shape in [(4, 6), (6, 4), (5, 5), (3, 3, 16, 32)]:
        init_case_exact("zeros", {}, shape)
        init_case_exact("ones", {}, shape)
        init_case_exact("constant", {}, shape)
        init_case_exact("constant", {"value": -0.37}, shape)
    init_case_exact("zeros", {}, (3, 2), soma_name="zero")
    init_case_exact("ones", {}, (3, 2), soma_name="one")
    for shape in [(4, 6), (6, 4), (5, 5)]:
        init_case_exact("identity", {}, shape)
        init_case_exact("identity", {"gain": 2.5}, shape)
    init_case_exact("identity", {"gain": 0.5}, (3, 4), soma_name="identity_initializer")

    for j, shape in enumerate([(64, 32), (32, 64), (8, 8), (3, 3, 16, 32), (3, 3, 32, 16), (1, 7)]):
        init_case_orthogonal({}, shape, 11 + j)
        init_case_orthogonal({"gain": 1.7}, shape, 21 + j)
    init_case_orthogonal({"gain": 0.5}, (20, 10), 5, soma_name="orthogonal_initializer")
    init_case_orthogonal({"seed": 99}, (48, 16), 0)


# ---------------------------------------------------------------------------
# Coverage: every name soma has must have cases
# ---------------------------------------------------------------------------
def soma_catalogue(prefix, env):
    """({family: every name and alias soma offers}, {(family, name): its
    parameters}), from `soma plugins` and the activation names in
    `soma activation --help` (activation parameters are the core's, listed
    nowhere; ACT_PARAMS follows Keras' signatures)."""
    out = subprocess.run(prefix + ["plugins"], capture_output=True, text=True, env=env, check=True).stdout
    names = {"loss": set(), "optim": set(), "init": set(), "activation": set()}
    params = {}
    kind = name = None
    in_params = False
    for line in out.splitlines():
        # "KIND NAME" headers; a kind this suite does not know yet (a metric
        # plugin, say) is listed too, so that it fails the coverage check
        m = re.match(r"^([a-z_]+) ([A-Za-z_][A-Za-z0-9_]*)\s*$", line)
        if m:
            kind, name = m.group(1), m.group(2)
            names.setdefault(kind, set()).add(name)
            params[(kind, name)] = set()
            in_params = False
            continue
        if re.match(r"^\s+params:\s*$", line):
            in_params = True
            continue
        m = re.match(r"^\s{4,}([A-Za-z_][A-Za-z0-9_]*): \w+", line)
        if in_params and m and kind:
            params[(kind, name)].add(m.group(1))
            continue
        if re.match(r"^\s+\w+:", line):
            in_params = False
        m = re.match(r"^\s+aliases:\s*(.*)$", line)
        if m and kind:
            names[kind].update(a.strip() for a in m.group(1).split(",") if a.strip())
    helptext = subprocess.run(prefix + ["activation", "--help"], capture_output=True, text=True, env=env).stdout
    m = re.search(r"Names:(.*?)\n\s*(e\.g\.|$)", helptext, re.S)
    if m:
        for tok in re.findall(r"[a-z_0-9]+", m.group(1)):
            names["activation"].add(tok)
    return names, params


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--soma")
    ap.add_argument("-k", dest="filter")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", dest="verbose", action="store_true")
    args = ap.parse_args()

    soma = args.soma
    if not soma:
        bd = os.environ.get("SOMA_BUILD_DIR") or os.path.join(REPO, "build")
        soma = os.path.join(bd, "bin", "soma")
    if not os.access(soma, os.X_OK):
        print("keras_oracle: no soma binary at %s (build it, or pass --soma / set SOMA_BUILD_DIR)" % soma)
        return 2
    env = dict(os.environ)
    if not env.get("SOMA_PLUGIN_PATH"):
        plug = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(soma))), "lib", "soma", "plugins")
        if os.path.isdir(plug):
            env["SOMA_PLUGIN_PATH"] = plug

    prefix = shlex.split(os.environ.get("SOMA_EMULATOR", "")) + [soma]
    t0 = time.time()
    build_loss_cases()
    build_activation_cases()
    build_optimizer_cases()
    build_init_cases()

    ids = [c.id for c in CASES]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, "duplicate case ids: %s" % sorted(dup)[:5]

    cases = CASES
    if args.filter:
        rx = re.compile(args.filter)
        cases = [c for c in CASES if rx.search(c.id)]
    if args.list:
        for c in cases:
            print(c.id)
        return 0

    known = [(re.compile(rx), why) for rx, why in KNOWN_MISMATCH.items()]

    def run_soma(c):
        r = subprocess.run(prefix + c.argv, capture_output=True, text=True, env=env)
        return r.returncode, r.stdout, r.stderr

    passed = failed = xfailed = 0
    per_family = {}
    workers = max(2, (os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_soma, c) for c in cases]
        for c, fut in zip(cases, futures):
            rc, out, err = fut.result()
            if rc != 0:
                problems = ["soma exited %d: %s" % (rc, err.strip().replace("\n", " | "))]
            else:
                try:
                    problems = c.check(out.strip().splitlines())
                except Exception as e:  # a Keras-side failure is a failed case, not a crash
                    problems = ["oracle raised %s: %s" % (type(e).__name__, e)]
            why = next((w for rx, w in known if rx.search(c.id)), None)
            fam = per_family.setdefault(c.family, [0, 0, 0])
            if problems and why:
                xfailed += 1
                fam[2] += 1
                if args.verbose:
                    print("XFAIL %s: %s [KNOWN-MISMATCH: %s]" % (c.id, "; ".join(problems), why))
            elif problems:
                failed += 1
                fam[1] += 1
                cmd = " ".join(shlex.quote(a) for a in ["soma"] + c.argv)
                if not args.verbose and len(cmd) > 400:
                    cmd = cmd[:400] + "... (-v for the full command)"
                print("FAIL %s: %s; cmd: %s" % (c.id, "; ".join(problems), cmd))
            elif why:
                failed += 1
                fam[1] += 1
                print("FAIL %s: passes now; remove its KNOWN-MISMATCH entry (%s)" % (c.id, why))
            else:
                passed += 1
                fam[0] += 1
                if args.verbose:
                    print("ok   %s" % c.id)
            COVERED[c.family].add(c.covers)
            COVERED_PARAMS.setdefault((c.family, c.covers), set()).update(c.params)

    if not args.filter:
        catalogue, declared = soma_catalogue(prefix, env)
        for fam in sorted(set(catalogue) | set(COVERED)):
            missing = sorted(catalogue.get(fam, set()) - COVERED.get(fam, set()))
            for name in missing:
                failed += 1
                print("FAIL coverage: soma has %s '%s' but the suite has no case for it" % (fam, name))
            if not catalogue.get(fam):
                failed += 1
                print("FAIL coverage: soma lists no %s names (is the plugin path right?)" % fam)
        for (fam, name), plist in sorted(declared.items()):
            for p in sorted(plist - COVERED_PARAMS.get((fam, name), set())):
                failed += 1
                print("FAIL coverage: no case sets parameter '%s' of %s '%s'" % (p, fam, name))
    for fam, (p, f, x) in sorted(per_family.items()):
        print("  %-10s %4d cases: %d passed, %d failed, %d known mismatches (%d names)" % (
            fam, p + f + x, p, f, x, len(COVERED[fam])))
    print("keras_oracle: %.1f s; %d known mismatches (expected failures, KNOWN_MISMATCH)" % (
        time.time() - t0, xfailed))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
