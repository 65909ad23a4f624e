// Keras 3's activations (keras.activations) and their derivatives.
//
// Accuracy: transcendental functions are evaluated in double and rounded
// once to float, so forward results are within 1 ulp of the exact value of
// the float input (softmax: 2), and the formulas are chosen so that no
// cancellation undoes that (erfc for gelu's left tail, x·σ(2u) for its tanh
// form, log1p(e^-|x|) for softplus, a series for tanh_shrink near 0, the
// conjugate for squareplus at x < 0). Piecewise-linear ones are exact or one
// rounding. Keras computes several of these naively in float32 and returns
// NaN at -inf for x·σ(x)-style products; here the limits are returned
// (gelu, silu, mish, hard_silu → 0; softsign → ±1; squareplus → 0; relu
// with a threshold → 0 where Keras' x·(x > t) gives -inf·0), and NaN inputs
// always give NaN (Keras' where()-based ops map NaN to 0 or a default).
// Keras' glu is left out: it halves the last axis, which this
// rows × cols → rows × cols interface cannot express.
//
// Backward works from the output y where that gives f' directly (sigmoid,
// tanh, softmax, log_softmax, elu, selu, softplus, exponential, the
// piecewise-linear ones, ...), as TensorFlow's gradients do, and from the
// input x otherwise (soma_activation_needs_input).
//
// This scalar code is the reference and the fallback. While the AVX2 or NEON
// kernel set is active, soma_activation_forward / _backward first offer the
// call to that set's SLEEF kernels (kernels/<isa>/act_<isa>.c: the relu
// family, sigmoid, tanh, softmax, log_softmax, elu, selu, gelu in both forms,
// softplus, log_sigmoid, softsign, silu, leaky_relu, the hard_* ones, relu6,
// the shrinks, exponential), which stay within 2 ulp and give the same
// special values; the rest (celu, mish, tanh_shrink, sparse*, squareplus,
// threshold, a relu with both a slope and a cap or threshold) run here.
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "base/base.h"
#include "cpu/act.h"
#include "cpu/cpu.h"
#include "plugin/registry.h"

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define SQRT1_2 0.70710678118654752440084436210485
#define SQRT_2_OVER_PI 0.79788456080286535587989211986876
#define INV_SQRT_2PI 0.39894228040143267793994605993438
#define GELU_C 0.044715

// ---- catalogue and parsing ----------------------------------------------------------

#define P_FLOAT(n, d, doc_) {.name = n, .type = SOMA_PARAM_FLOAT, .def_num = d, .doc = doc_}
#define P_INT(n, d, doc_) {.name = n, .type = SOMA_PARAM_INT, .def_num = d, .doc = doc_}
#define P_BOOL(n, d, doc_) {.name = n, .type = SOMA_PARAM_BOOL, .def_num = d, .doc = doc_}
// NAN default: None for relu's max_value; "required" for threshold's two.
#define NONE NAN

static const soma_param_spec relu_params[] = {
    P_FLOAT("negative_slope", 0.0, "slope below the threshold (>= 0)"),
    P_FLOAT("max_value", NONE, "saturation value, >= 0 (None: no cap)"),
    P_FLOAT("threshold", 0.0, "inputs at or below it are damped"),
};
static const soma_param_spec axis_params[] = {
    P_INT("axis", -1, "axis to normalise over (only -1, the last)"),
};
static const soma_param_spec alpha_params[] = {
    P_FLOAT("alpha", 1.0, "scale of the negative part"),
};
static const soma_param_spec gelu_params[] = {
    P_BOOL("approximate", 0, "use the tanh approximation instead of erf"),
};
static const soma_param_spec leaky_params[] = {
    P_FLOAT("negative_slope", 0.2, "slope for x < 0 (>= 0)"),
};
static const soma_param_spec shrink_params[] = {
    P_FLOAT("threshold", 0.5, "|x| at or below it gives 0"),
};
static const soma_param_spec squareplus_params[] = {
    P_FLOAT("b", 4.0, "smoothness, >= 0"),
};
static const soma_param_spec threshold_params[] = {
    P_FLOAT("threshold", NONE, "x above it passes (required)"),
    P_FLOAT("default_value", NONE, "value for x at or below the threshold (required)"),
};

#define ITEM(n, ps, d) {.size = sizeof(soma_item), .kind = SOMA_KIND_ACTIVATION, .name = n, \
                        .doc = d, .params = ps, .n_params = sizeof ps / sizeof ps[0]}
#define ITEM0(n, d) {.size = sizeof(soma_item), .kind = SOMA_KIND_ACTIVATION, .name = n, .doc = d}

// Indexed by soma_act_kind; the aliases follow (see item_kind).
static const soma_item act_items[] = {
    [SOMA_ACT_LINEAR] = ITEM0("linear", "x"),
    [SOMA_ACT_RELU] = ITEM("relu", relu_params, "max(x, 0), with Keras' slope/cap/threshold options"),
    [SOMA_ACT_SIGMOID] = ITEM0("sigmoid", "1 / (1 + exp(-x))"),
    [SOMA_ACT_TANH] = ITEM0("tanh", "tanh(x)"),
    [SOMA_ACT_SOFTMAX] = ITEM("softmax", axis_params, "exp(x - max) / sum exp(x - max)"),
    [SOMA_ACT_LOG_SOFTMAX] = ITEM("log_softmax", axis_params, "x - max - log sum exp(x - max)"),
    [SOMA_ACT_ELU] = ITEM("elu", alpha_params, "x > 0 ? x : alpha * expm1(x)"),
    [SOMA_ACT_SELU] = ITEM0("selu", "scale * elu(x, alpha) with the SELU constants"),
    [SOMA_ACT_GELU] = ITEM("gelu", gelu_params, "x * Phi(x)"),
    [SOMA_ACT_SOFTPLUS] = ITEM0("softplus", "log(1 + exp(x))"),
    [SOMA_ACT_SOFTSIGN] = ITEM0("softsign", "x / (1 + |x|)"),
    [SOMA_ACT_SILU] = ITEM0("silu", "x * sigmoid(x)"),
    [SOMA_ACT_LEAKY_RELU] = ITEM("leaky_relu", leaky_params, "x > 0 ? x : negative_slope * x"),
    [SOMA_ACT_HARD_SIGMOID] = ITEM0("hard_sigmoid", "clip(x / 6 + 0.5, 0, 1)"),
    [SOMA_ACT_HARD_SILU] = ITEM0("hard_silu", "x * hard_sigmoid(x)"),
    [SOMA_ACT_EXPONENTIAL] = ITEM0("exponential", "exp(x)"),
    [SOMA_ACT_RELU6] = ITEM0("relu6", "min(max(x, 0), 6)"),
    [SOMA_ACT_CELU] = ITEM("celu", alpha_params, "x > 0 ? x : alpha * expm1(x / alpha)"),
    [SOMA_ACT_HARD_TANH] = ITEM0("hard_tanh", "clip(x, -1, 1)"),
    [SOMA_ACT_HARD_SHRINK] = ITEM("hard_shrink", shrink_params, "|x| > threshold ? x : 0"),
    [SOMA_ACT_SOFT_SHRINK] = ITEM("soft_shrink", shrink_params, "x shrunk towards 0 by threshold"),
    [SOMA_ACT_TANH_SHRINK] = ITEM0("tanh_shrink", "x - tanh(x)"),
    [SOMA_ACT_LOG_SIGMOID] = ITEM0("log_sigmoid", "log(sigmoid(x))"),
    [SOMA_ACT_MISH] = ITEM0("mish", "x * tanh(softplus(x))"),
    [SOMA_ACT_SPARSE_PLUS] = ITEM0("sparse_plus", "0, (x + 1)^2 / 4, x on x <= -1, |x| < 1, x >= 1"),
    [SOMA_ACT_SPARSE_SIGMOID] = ITEM0("sparse_sigmoid", "clip((x + 1) / 2, 0, 1)"),
    [SOMA_ACT_SQUAREPLUS] = ITEM("squareplus", squareplus_params, "(x + sqrt(x^2 + b)) / 2"),
    [SOMA_ACT_THRESHOLD] = ITEM("threshold", threshold_params, "x > threshold ? x : default_value"),
    [SOMA_ACT_SPARSEMAX] = ITEM("sparsemax", axis_params, "Euclidean projection onto the simplex"),
    ITEM0("swish", "alias of silu"),
    ITEM0("hard_swish", "alias of hard_silu"),
};
#define N_ITEMS ((int)(sizeof act_items / sizeof act_items[0]))
_Static_assert(N_ITEMS == SOMA_ACT_COUNT + 2, "one item per kind, then the aliases");

static soma_act_kind item_kind(int i) {
    if (i < SOMA_ACT_COUNT) return (soma_act_kind)i;
    return i == SOMA_ACT_COUNT ? SOMA_ACT_SILU : SOMA_ACT_HARD_SILU;
}

static bool is_blank_or_none(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    const char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    size_t n = (size_t)(e - s);
    return n == 0 || (n == 4 && (!strncmp(s, "None", 4) || !strncmp(s, "none", 4)));
}

// Checks the values against what the formulas (and their y-based
// derivatives) assume; Keras' ReLU and LeakyReLU layers reject negative
// slopes and caps the same way.
static int check_params(const soma_obj *o, soma_act_kind k, soma_activation *a) {
    const char *name = act_items[k].name;
    for (uint32_t i = 0; i < o->item->n_params; i++) {
        const soma_param_spec *ps = &o->item->params[i];
        double v = o->values[i].num;
        if (ps->type == SOMA_PARAM_FLOAT && isnan(ps->def_num) && !o->values[i].is_set) {
            if (k == SOMA_ACT_THRESHOLD)
                return soma_error_set(SOMA_E_INVALID, "activation '%s': parameter '%s' is required",
                                      name, ps->name);
            a->p[i] = NAN; // None
            continue;
        }
        if (ps->type == SOMA_PARAM_FLOAT && !isfinite((float)v))
            return soma_error_set(SOMA_E_INVALID, "activation '%s': %s = %g does not fit a float32",
                                  name, ps->name, v);
        a->p[i] = (float)v;
    }
    const char *what = NULL;
    double got = a->p[0];
    switch (k) {
    case SOMA_ACT_RELU:
        if (a->p[0] < 0) what = "negative_slope must be >= 0";
        else if (a->p[1] < 0) what = "max_value must be >= 0 (or None)", got = a->p[1];
        break;
    case SOMA_ACT_LEAKY_RELU:
        if (a->p[0] < 0) what = "negative_slope must be >= 0";
        break;
    case SOMA_ACT_CELU:
        if (a->p[0] == 0) what = "alpha must not be 0";
        break;
    case SOMA_ACT_SQUAREPLUS:
        if (a->p[0] < 0) what = "b must be >= 0";
        break;
    case SOMA_ACT_SOFTMAX:
    case SOMA_ACT_LOG_SOFTMAX:
    case SOMA_ACT_SPARSEMAX:
        if (a->p[0] != -1) what = "only axis=-1 (the last axis) is supported";
        a->p[0] = 0;
        break;
    default: break;
    }
    if (what) return soma_error_set(SOMA_E_INVALID, "activation '%s': %s, got %g", name, what, got);
    return SOMA_OK;
}

int soma_activation_parse(const char *spec, soma_activation *out) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_activation_parse: out is NULL");
    *out = (soma_activation){.kind = SOMA_ACT_LINEAR};
    if (!spec || is_blank_or_none(spec)) return SOMA_OK;
    soma_obj *o = NULL;
    int rc = soma_obj_create_static(SOMA_KIND_ACTIVATION, spec, act_items, N_ITEMS, &o);
    if (rc != SOMA_OK) return rc;
    soma_act_kind k = item_kind((int)(o->item - act_items));
    soma_activation a = {.kind = k};
    rc = check_params(o, k, &a);
    soma_obj_free(o);
    if (rc == SOMA_OK) *out = a;
    return rc;
}

const char *soma_activation_name(const soma_activation *a) {
    return a && (unsigned)a->kind < SOMA_ACT_COUNT ? act_items[a->kind].name : "?";
}

bool soma_activation_needs_input(const soma_activation *a) {
    if (!a) return false;
    switch (a->kind) {
    case SOMA_ACT_RELU: return !(isnan(a->p[1]) && a->p[2] == 0); // plain or leaky: y suffices
    case SOMA_ACT_ELU:
    case SOMA_ACT_CELU: return !(a->p[0] > 0); // else the sign of y no longer tells x's
    case SOMA_ACT_THRESHOLD: return !(a->p[1] <= a->p[0]);
    case SOMA_ACT_GELU:
    case SOMA_ACT_SOFTSIGN: // from y, (1-|y|)^2 loses precision as |y| → 1
    case SOMA_ACT_SILU:
    case SOMA_ACT_HARD_SILU:
    case SOMA_ACT_HARD_TANH: // y = ±1 cannot tell x = ±1 (slope 1) from beyond (0)
    case SOMA_ACT_TANH_SHRINK:
    case SOMA_ACT_MISH:
    case SOMA_ACT_SPARSE_SIGMOID: // y rounds to 1 just below x = 1
        return true;
    default: return false;
    }
}

// ---- scalar pieces --------------------------------------------------------------------

static inline double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

// Keras' relu with options, its four steps; the leaky and plain cases are
// handled before this is reached.
static inline float relu_general(float x, float ns, float cap, float t) {
    float r = (x > t || x != x) ? x : 0.0f;
    if (!isnan(cap)) r = r < 0 ? 0.0f : (r > cap ? cap : r);
    if (ns != 0 && x < t) r = (float)(-(double)ns * ((double)t - (double)x)); // r was 0
    return r;
}

static inline float gelu_f(float xf, bool approximate) {
    double x = xf;
    if (isinf(x)) return x > 0 ? xf : -0.0f;
    if (approximate) {
        // 0.5·x·(1 + tanh u) = x·σ(2u), without the cancellation at x ≪ 0.
        double u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
        return (float)(x / (1.0 + exp(-2.0 * u)));
    }
    // 1 + erf(z) = erfc(-z) keeps full relative precision in the left tail.
    return (float)(0.5 * x * erfc(-x * SQRT1_2));
}

static inline float mish_f(float xf) {
    double x = xf;
    // Past 20, tanh(softplus(x)) is 1 to double precision.
    if (x > 20) return xf;
    if (isinf(x)) return -0.0f;
    // tanh(log(1 + e)) = n / (n + 2) with n = e(e + 2): no cancellation anywhere.
    double e = exp(x), n = e * (e + 2.0);
    return (float)(x * n / (n + 2.0));
}

static inline float tanh_shrink_f(float xf) {
    double x = xf, ax = fabs(x);
    if (ax < 0.125) {
        // x - tanh x = x³/3 - 2x⁵/15 + ... ; the terms left out are < 1e-13 relative.
        double z = x * x;
        double s = -21844.0 / 6081075.0;
        s = s * z + 1382.0 / 155925.0;
        s = s * z - 62.0 / 2835.0;
        s = s * z + 17.0 / 315.0;
        s = s * z - 2.0 / 15.0;
        s = s * z + 1.0 / 3.0;
        return (float)(x * z * s);
    }
    return (float)(x - tanh(x));
}

static inline float squareplus_f(float xf, double b) {
    double x = xf, s = sqrt(x * x + b);
    // At x < 0, x + s cancels; its conjugate b / (s - x) does not.
    return x >= 0 ? (float)(0.5 * (x + s)) : (float)(0.5 * b / (s - x));
}

// ---- forward --------------------------------------------------------------------------

// y[i] = EXPR(v) with v = x[i], over all n elements.
#define MAP(EXPR)                                      \
    for (int64_t i = 0; i < n; i++) {                  \
        const float v = x[i];                          \
        y[i] = (EXPR);                                 \
    }

static void softmax_row(float *y, const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    // NaN, +inf (inf - inf) and an all -inf row all end up NaN, as in Keras.
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        double e = exp((double)x[j] - m); // x - m is exact in double
        sum += e;
        y[j] = (float)e;
    }
    double inv = 1.0 / sum;
    for (int64_t j = 0; j < n; j++) y[j] = (float)(y[j] * inv);
}

static void log_softmax_row(float *y, const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    // Σ exp(x - m) = k + rest, k the count of maxima; log1p(rest) keeps the
    // precision of results near 0 when one logit dominates.
    double rest = 0;
    int64_t k = 0;
    for (int64_t j = 0; j < n; j++) {
        double d = (double)x[j] - m;
        if (d < 0) rest += exp(d);
        else if (d == 0) k++;
        else rest = NAN; // NaN, or inf - inf
    }
    double lse = k == 1 ? log1p(rest) : log((double)k + rest);
    for (int64_t j = 0; j < n; j++) y[j] = (float)(((double)x[j] - m) - lse);
}

// Sparsemax: y = max(x - τ, 0) with τ such that Σ y = 1. τ is found with
// Michelot's iteration (τ from the current support, the support from τ),
// which converges from below in at most n steps and needs no sort or buffer.
// With the support's mean μ and size c, τ = μ - 1/c; comparing and
// subtracting x - μ against 1/c keeps the 1 when the logits dwarf it.
static void sparsemax_row(float *y, const float *x, int64_t n) {
    double sum = 0;
    int64_t k = 0;
    bool bad = false;
    for (int64_t j = 0; j < n; j++) {
        if (isnan(x[j]) || x[j] == INFINITY) bad = true;
        else if (x[j] > -INFINITY) sum += x[j], k++;
    }
    if (bad || k == 0) {
        for (int64_t j = 0; j < n; j++) y[j] = NAN;
        return;
    }
    double mu = sum / (double)k, inv = 1.0 / (double)k;
    for (;;) {
        double s = 0;
        int64_t c = 0;
        for (int64_t j = 0; j < n; j++)
            if (x[j] - mu > -inv) s += x[j], c++;
        // The support only shrinks, so the same size is the same set; c == 0
        // can only come from rounding in μ.
        if (c == k || c == 0) break;
        k = c;
        mu = s / (double)c;
        inv = 1.0 / (double)c;
    }
    for (int64_t j = 0; j < n; j++) {
        double d = ((double)x[j] - mu) + inv;
        y[j] = d > 0 ? (float)d : 0.0f;
    }
}

void soma_activation_forward_scalar(const soma_activation *a, float *y, const float *x,
                                    int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    const int64_t n = rows * cols;
    const float p0 = a->p[0], p1 = a->p[1], p2 = a->p[2];
    switch (a->kind) {
    case SOMA_ACT_LINEAR:
        if (y != x) memmove(y, x, (size_t)n * sizeof *y);
        break;
    case SOMA_ACT_RELU:
        if (isnan(p1) && p2 == 0) {
            if (p0 == 0) {
                MAP(v < 0 ? 0.0f : v);
            } else {
                // Keras' step 1: leaky_relu. Piecewise as TF/JAX/torch (numpy's
                // max(x, ns·x) differs only for ns > 1).
                MAP(v > 0 ? v : p0 * v);
            }
        } else {
            MAP(relu_general(v, p0, p1, p2));
        }
        break;
    case SOMA_ACT_SIGMOID: MAP((float)sigmoid_d(v)); break;
    case SOMA_ACT_TANH: MAP((float)tanh((double)v)); break;
    case SOMA_ACT_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) softmax_row(y + r * cols, x + r * cols, cols);
        break;
    case SOMA_ACT_LOG_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) log_softmax_row(y + r * cols, x + r * cols, cols);
        break;
    case SOMA_ACT_ELU: {
        const double al = p0;
        MAP(v > 0 ? v : (float)(al * expm1((double)v)));
        break;
    }
    case SOMA_ACT_SELU:
        MAP(v > 0 ? (float)(SELU_SCALE * v) : (float)(SELU_SCALE * SELU_ALPHA * expm1((double)v)));
        break;
    case SOMA_ACT_GELU: {
        const bool approx = p0 != 0;
        MAP(gelu_f(v, approx));
        break;
    }
    case SOMA_ACT_SOFTPLUS:
        // logaddexp(x, 0) = max(x, 0) + log1p(exp(-|x|))
        MAP((float)((v > 0 ? (double)v : 0.0) + log1p(exp(-fabs((double)v)))));
        break;
    case SOMA_ACT_LOG_SIGMOID:
        // -l rather than 0 - l for x >= 0: results that underflow (x > 103,
        // +inf) are -0, the side log_sigmoid approaches 0 from.
        MAP(v < 0 ? (float)((double)v - log1p(exp((double)v))) : (float)-log1p(exp(-(double)v)));
        break;
    case SOMA_ACT_SOFTSIGN:
        MAP(isinf(v) ? copysignf(1.0f, v) : (float)((double)v / (1.0 + fabs((double)v))));
        break;
    case SOMA_ACT_SILU:
        MAP(isinf(v) ? (v > 0 ? v : -0.0f) : (float)((double)v * sigmoid_d(v)));
        break;
    case SOMA_ACT_LEAKY_RELU: MAP(v > 0 ? v : p0 * v); break;
    case SOMA_ACT_HARD_SIGMOID:
        MAP(v <= -3 ? 0.0f : v >= 3 ? 1.0f : (float)(((double)v + 3.0) / 6.0));
        break;
    case SOMA_ACT_HARD_SILU:
        MAP(v <= -3 ? -0.0f : v >= 3 ? v : (float)((double)v * ((double)v + 3.0) / 6.0));
        break;
    case SOMA_ACT_EXPONENTIAL: MAP(expf(v)); break;
    case SOMA_ACT_RELU6: MAP(v < 0 ? 0.0f : v > 6 ? 6.0f : v); break;
    case SOMA_ACT_CELU: {
        const double al = p0;
        MAP(v > 0 ? v : (float)(al * expm1((double)v / al)));
        break;
    }
    case SOMA_ACT_HARD_TANH: MAP(v < -1 ? -1.0f : v > 1 ? 1.0f : v); break;
    case SOMA_ACT_HARD_SHRINK: MAP(!(fabsf(v) <= p0) ? v : 0.0f); break;
    case SOMA_ACT_SOFT_SHRINK:
        MAP(v > p0 ? v - p0 : v < -p0 ? v + p0 : (v == v ? 0.0f : v));
        break;
    case SOMA_ACT_TANH_SHRINK: MAP(tanh_shrink_f(v)); break;
    case SOMA_ACT_MISH: MAP(mish_f(v)); break;
    case SOMA_ACT_SPARSE_PLUS:
        MAP(v <= -1 ? 0.0f : v >= 1 ? v : (float)(0.25 * ((double)v + 1.0) * ((double)v + 1.0)));
        break;
    case SOMA_ACT_SPARSE_SIGMOID:
        MAP(v <= -1 ? 0.0f : v >= 1 ? 1.0f : (float)(0.5 * ((double)v + 1.0)));
        break;
    case SOMA_ACT_SQUAREPLUS: {
        const double b = p0;
        MAP(squareplus_f(v, b));
        break;
    }
    case SOMA_ACT_THRESHOLD: MAP(v > p0 ? v : (v == v ? p1 : v)); break;
    case SOMA_ACT_SPARSEMAX:
        for (int64_t r = 0; r < rows; r++) sparsemax_row(y + r * cols, x + r * cols, cols);
        break;
    default:
        for (int64_t i = 0; i < n; i++) y[i] = NAN;
        break;
    }
}

// ---- backward -------------------------------------------------------------------------

// dx[i] = DERIV · dy[i] with xv = x[i] (when x is given), yv = y[i].
#define MAP_Y(DERIV)                                   \
    for (int64_t i = 0; i < n; i++) {                  \
        const float yv = y[i];                         \
        dx[i] = dy[i] * (DERIV);                       \
    }
#define MAP_X(DERIV)                                   \
    for (int64_t i = 0; i < n; i++) {                  \
        const float xv = x[i];                         \
        dx[i] = (float)((double)dy[i] * (DERIV));      \
    }

static inline double relu_general_grad(float x, float ns, float cap, float t) {
    // TF's gradients of the ops Keras composes: x·(x > t) (or relu, or relu6
    // when cap is 6 and t is 0), clip_by_value (inclusive), -ns·relu(t - x).
    bool pass = x > t;
    if (pass && !isnan(cap)) pass = (t == 0 && cap == 6) ? x < 6 : x <= cap && x >= 0;
    return (pass ? 1.0 : 0.0) + (ns != 0 && x < t ? ns : 0.0);
}

static inline double gelu_grad(float xf, bool approximate) {
    double x = xf;
    if (isinf(x)) return x > 0 ? 1.0 : 0.0;
    if (approximate) {
        double u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
        double du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
        double s = 1.0 / (1.0 + exp(-2.0 * u)), sm = 1.0 / (1.0 + exp(2.0 * u)); // σ(2u), 1-σ(2u)
        return s + 2.0 * x * du * s * sm;
    }
    return 0.5 * erfc(-x * SQRT1_2) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
}

static inline double silu_grad(float xf) {
    double x = xf;
    if (isinf(x)) return x > 0 ? 1.0 : 0.0;
    double s = sigmoid_d(x), sm = sigmoid_d(-x); // σ(x), 1 - σ(x) without cancellation
    return s * (1.0 + x * sm);
}

static inline double mish_grad(float xf) {
    double x = xf;
    if (x > 20) return 1.0; // the rest is below x·4e^{-2x}
    if (isinf(x)) return 0.0;
    // mish' = tanh(sp) + x·sech²(sp)·σ(x); with n = e(e + 2), tanh(sp) = n/(n+2)
    // and sech²(sp) = 4(n + 1)/(n + 2)².
    double e = exp(x), n = e * (e + 2.0), d = n + 2.0;
    return n / d + x * 4.0 * (n + 1.0) / (d * d) * (e / (1.0 + e));
}

static void fill_nan(float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = NAN;
}

void soma_activation_backward_scalar(const soma_activation *a, float *dx, const float *x,
                                     const float *y, const float *dy, int64_t rows,
                                     int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    const int64_t n = rows * cols;
    if (!x && soma_activation_needs_input(a)) {
        fill_nan(dx, n);
        return;
    }
    const float p0 = a->p[0], p1 = a->p[1], p2 = a->p[2];
    switch (a->kind) {
    case SOMA_ACT_LINEAR:
        if (dx != dy) memmove(dx, dy, (size_t)n * sizeof *dx);
        break;
    case SOMA_ACT_RELU:
        if (isnan(p1) && p2 == 0) {
            // relu'(0) = 0; leaky: TF's max(ns·x, x) sends the tie at 0 to ns·x.
            // y > 0 exactly when x > 0, also when ns·x underflows to -0.
            MAP_Y(yv > 0 ? 1.0f : p0);
        } else {
            MAP_X(relu_general_grad(xv, p0, p1, p2));
        }
        break;
    case SOMA_ACT_SIGMOID: MAP_Y(yv * (1.0f - yv)); break;
    case SOMA_ACT_TANH: MAP_Y((1.0f - yv) * (1.0f + yv)); break;
    case SOMA_ACT_SOFTMAX:
        // Jacobian product y ⊙ (dy - Σ dy·y)
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *gr = dy + r * cols;
            float *dr = dx + r * cols;
            double dot = 0;
            for (int64_t j = 0; j < cols; j++) dot += (double)gr[j] * yr[j];
            for (int64_t j = 0; j < cols; j++) dr[j] = (float)(yr[j] * ((double)gr[j] - dot));
        }
        break;
    case SOMA_ACT_LOG_SOFTMAX:
        // dy - softmax ⊙ Σ dy, with softmax = exp(y)
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *gr = dy + r * cols;
            float *dr = dx + r * cols;
            double s = 0;
            for (int64_t j = 0; j < cols; j++) s += gr[j];
            for (int64_t j = 0; j < cols; j++) dr[j] = (float)(gr[j] - exp((double)yr[j]) * s);
        }
        break;
    case SOMA_ACT_ELU:
        if (p0 > 0) {
            // x < 0: α·e^x = y + α. At x = 0 the α branch, as TF's where(x > 0, ...).
            MAP_Y(yv > 0 ? 1.0f : yv + p0);
        } else {
            MAP_X(xv > 0 ? 1.0 : (double)p0 * exp((double)xv));
        }
        break;
    case SOMA_ACT_SELU:
        // TF's SeluGrad: y < 0 ? y + scale·α : scale
        MAP_Y(yv < 0 ? (float)(yv + SELU_SCALE * SELU_ALPHA) : (float)SELU_SCALE);
        break;
    case SOMA_ACT_GELU: {
        const bool approx = p0 != 0;
        MAP_X(gelu_grad(xv, approx));
        break;
    }
    case SOMA_ACT_SOFTPLUS: MAP_Y(-expm1f(-yv)); break;   // σ(x) = 1 - e^{-softplus(x)}
    case SOMA_ACT_LOG_SIGMOID: MAP_Y(-expm1f(yv)); break; // 1 - σ(x) = 1 - e^{y}
    case SOMA_ACT_SOFTSIGN: {
        MAP_X(1.0 / ((1.0 + fabs((double)xv)) * (1.0 + fabs((double)xv))));
        break;
    }
    case SOMA_ACT_SILU: MAP_X(silu_grad(xv)); break;
    case SOMA_ACT_LEAKY_RELU: MAP_Y(yv > 0 ? 1.0f : p0); break;
    case SOMA_ACT_HARD_SIGMOID: MAP_Y(yv > 0 && yv < 1 ? 1.0f / 6.0f : 0.0f); break;
    case SOMA_ACT_HARD_SILU:
        // hs(x) + x·hs'(x), hs' = 1/6 strictly inside (-3, 3)
        MAP_X(xv <= -3 ? 0.0 : xv >= 3 ? 1.0 : (2.0 * xv + 3.0) / 6.0);
        break;
    case SOMA_ACT_EXPONENTIAL: MAP_Y(yv); break;
    case SOMA_ACT_RELU6: MAP_Y(yv > 0 && yv < 6 ? 1.0f : 0.0f); break;
    case SOMA_ACT_CELU:
        if (p0 > 0) {
            MAP_Y(yv < 0 ? 1.0f + yv / p0 : 1.0f); // e^{x/α} = 1 + y/α
        } else {
            MAP_X(xv > 0 ? 1.0 : exp((double)xv / p0));
        }
        break;
    case SOMA_ACT_HARD_TANH: MAP_X(xv >= -1 && xv <= 1 ? 1.0 : 0.0); break;
    case SOMA_ACT_HARD_SHRINK:
    case SOMA_ACT_SOFT_SHRINK:
        // y ≠ 0 exactly when |x| > threshold; a negative threshold passes all.
        MAP_Y(yv != 0 || p0 < 0 ? 1.0f : 0.0f);
        break;
    case SOMA_ACT_TANH_SHRINK: {
        MAP_X(tanh((double)xv) * tanh((double)xv));
        break;
    }
    case SOMA_ACT_MISH: MAP_X(mish_grad(xv)); break;
    case SOMA_ACT_SPARSE_PLUS: MAP_Y(yv >= 1 ? 1.0f : sqrtf(yv)); break; // (x + 1)/2 = √y
    case SOMA_ACT_SPARSE_SIGMOID: MAP_X(xv > -1 && xv < 1 ? 0.5 : 0.0); break;
    case SOMA_ACT_SQUAREPLUS: {
        // f' = (1 + x/s)/2 = 4y²/(4y² + b) = 1/(1 + b/(4y²))
        const double b = p0;
        if (b > 0) {
            MAP_Y((float)(1.0 / (1.0 + b / (4.0 * (double)yv * yv))));
        } else {
            MAP_Y(yv > 0 ? 1.0f : 0.0f);
        }
        break;
    }
    case SOMA_ACT_THRESHOLD:
        if (p1 <= p0) {
            MAP_Y(yv > p0 ? 1.0f : 0.0f);
        } else {
            MAP_X(xv > p0 ? 1.0 : 0.0);
        }
        break;
    case SOMA_ACT_SPARSEMAX:
        // J = diag(s) - s·sᵀ/|S| with s the support (y > 0)
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *gr = dy + r * cols;
            float *dr = dx + r * cols;
            double s = 0;
            int64_t k = 0;
            for (int64_t j = 0; j < cols; j++)
                if (yr[j] > 0) s += gr[j], k++;
            double mean = k ? s / (double)k : 0.0;
            for (int64_t j = 0; j < cols; j++) dr[j] = yr[j] > 0 ? (float)(gr[j] - mean) : 0.0f;
        }
        break;
    default: fill_nan(dx, n); break;
    }
}

// ---- dispatch to the vector kernels -------------------------------------------------

// Which CPU kernel sets (soma_cpu_name()) the activation kernels of this
// build serve: the AVX-512 set runs 16-lane kernels of the same body.
static const struct {
    const char *cpu;
    const soma_act_kernels *kernels;
} serving[] = {
#if defined(__x86_64__)
    {"avx2", &soma_act_kernels_avx2},
    {"avx512", &soma_act_kernels_avx512},
#elif defined(__aarch64__)
    {"neon", &soma_act_kernels_neon},
#endif
    {NULL, NULL},
};
#define N_SERVING (sizeof serving / sizeof *serving - 1)

// The activation kernels for the active CPU kernel set, or NULL (scalar).
// dispatch.c hands out one name pointer per set, so the pointer that matched
// entry i is remembered there and later calls compare pointers; switching
// sets (soma_cpu_force) is seen on the next call.
static const soma_act_kernels *vector_kernels(void) {
    static _Atomic(const char *) seen[N_SERVING + 1];
    const char *name = soma_cpu_name();
    for (size_t i = 0; i < N_SERVING; i++)
        if (name == atomic_load_explicit(&seen[i], memory_order_relaxed))
            return serving[i].kernels;
    for (size_t i = 0; i < N_SERVING; i++)
        if (strcmp(name, serving[i].cpu) == 0) {
            atomic_store_explicit(&seen[i], name, memory_order_relaxed);
            return serving[i].kernels;
        }
    return NULL;
}

const char *soma_activation_kernels_name(void) {
    const soma_act_kernels *vk = vector_kernels();
    return vk ? vk->name : "scalar";
}

void soma_activation_forward(const soma_activation *a, float *y, const float *x, int64_t rows,
                             int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    const soma_act_kernels *vk = vector_kernels();
    if (vk && vk->forward(a, y, x, rows, cols)) return;
    soma_activation_forward_scalar(a, y, x, rows, cols);
}

void soma_activation_backward(const soma_activation *a, float *dx, const float *x,
                              const float *y, const float *dy, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    if (!x && soma_activation_needs_input(a)) {
        fill_nan(dx, rows * cols);
        return;
    }
    const soma_act_kernels *vk = vector_kernels();
    if (vk && vk->backward(a, dx, x, y, dy, rows, cols)) return;
    soma_activation_backward_scalar(a, dx, x, y, dy, rows, cols);
}
