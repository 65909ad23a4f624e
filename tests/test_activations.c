// Keras' activation catalogue (core/cpu/act.c): every activation and
// parameter combination against long-double references of Keras' formulas
// over a sweep with ±88, ±20, ±1e-30, 0, ±inf, NaN and denormals (ulp
// bounds), Keras' documented values, softmax / log_softmax / sparsemax rows,
// backward against central differences in long double (and from y alone,
// and in place), TF's conventions at the kinks, and parse errors.
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cpu/act.h"

typedef long double LD;

#define SELU_A 1.6732632423543772848170429916717L
#define SELU_S 1.0507009873554804934193349852946L
#define PI_L 3.141592653589793238462643383279503L

// ---- references: Keras' definitions (KERAS.md §5, keras/src/backend/*/nn.py) ----------
// Parameters arrive as the float32 values Keras casts them to. Where Keras'
// own float formula would give NaN at ±inf (x·σ(x) and the like) the
// reference gives the limit, which is what the implementation promises.

static LD r_linear(LD x, const float *P) { (void)P; return x; }
static LD r_relu(LD x, const float *P) {
    LD ns = P[0], cap = P[1], t = P[2];
    if (isnan(x)) return x;
    if (ns != 0 && isnan(cap) && t == 0) return x > 0 ? x : ns * x; // step 1: leaky_relu
    LD neg = ns != 0 ? fmaxl(t - x, 0) : 0;
    LD r = x > t ? x : 0;                                   // step 2
    if (!isnan(cap)) r = r < 0 ? 0 : (r > cap ? cap : r);   // step 3
    return r - ns * neg;                                    // step 4
}
static LD r_sigmoid(LD x, const float *P) { (void)P; return 1 / (1 + expl(-x)); }
static LD r_tanh(LD x, const float *P) { (void)P; return tanhl(x); }
static LD r_elu(LD x, const float *P) { return x > 0 ? x : (LD)P[0] * expm1l(x); }
static LD r_selu(LD x, const float *P) { (void)P; return SELU_S * (x > 0 ? x : SELU_A * expm1l(x)); }
static LD r_gelu(LD x, const float *P) {
    if (isinf(x)) return x > 0 ? x : 0;
    if (P[0] == 0) return 0.5L * x * erfcl(-x / sqrtl(2.0L));
    LD u = sqrtl(2 / PI_L) * (x + 0.044715L * x * x * x);
    // 1 + tanh(u) = 2e^{2u}/(1 + e^{2u}) once 1 + tanh(u) would cancel.
    return u > -5 ? 0.5L * x * (1 + tanhl(u)) : x * expl(2 * u) / (1 + expl(2 * u));
}
static LD sp(LD x) { return x > 30 ? x + log1pl(expl(-x)) : log1pl(expl(x)); }
static LD r_softplus(LD x, const float *P) { (void)P; return isnan(x) ? x : sp(x); }
static LD r_softsign(LD x, const float *P) {
    (void)P;
    return isinf(x) ? (x > 0 ? 1 : -1) : x / (1 + fabsl(x));
}
static LD r_silu(LD x, const float *P) {
    (void)P;
    return isinf(x) ? (x > 0 ? x : 0) : x / (1 + expl(-x));
}
static LD r_leaky(LD x, const float *P) { return x > 0 ? x : (LD)P[0] * x; }
static LD r_hard_sigmoid(LD x, const float *P) {
    (void)P;
    LD r = x / 6 + 0.5L;
    return r <= 0 ? 0 : r >= 1 ? 1 : r;
}
static LD r_hard_silu(LD x, const float *P) {
    return isinf(x) && x < 0 ? 0 : x * r_hard_sigmoid(x, P);
}
static LD r_exponential(LD x, const float *P) { (void)P; return expl(x); }
static LD r_relu6(LD x, const float *P) { (void)P; return x < 0 ? 0 : x > 6 ? 6 : x; }
static LD r_celu(LD x, const float *P) {
    if (isnan(x)) return x;
    LD a = P[0];
    return fmaxl(x, 0) + a * expm1l(fminl(x, 0) / a);
}
static LD r_hard_tanh(LD x, const float *P) { (void)P; return x < -1 ? -1 : x > 1 ? 1 : x; }
static LD r_hard_shrink(LD x, const float *P) {
    return isnan(x) ? x : fabsl(x) > (LD)P[0] ? x : 0;
}
static LD r_soft_shrink(LD x, const float *P) {
    LD t = P[0];
    return isnan(x) ? x : x > t ? x - t : x < -t ? x + t : 0;
}
static LD r_tanh_shrink(LD x, const float *P) {
    (void)P;
    if (fabsl(x) < 1e-4L) return x * x * x / 3 - 2 * x * x * x * x * x / 15;
    return x - tanhl(x);
}
static LD r_log_sigmoid(LD x, const float *P) { (void)P; return isnan(x) ? x : -sp(-x); }
static LD r_mish(LD x, const float *P) {
    (void)P;
    return isinf(x) && x < 0 ? 0 : x * tanhl(sp(x));
}
static LD r_sparse_plus(LD x, const float *P) {
    (void)P;
    return x <= -1 ? 0 : x < 1 ? 0.25L * (x + 1) * (x + 1) : x;
}
static LD r_sparse_sigmoid(LD x, const float *P) {
    (void)P;
    return x <= -1 ? 0 : x >= 1 ? 1 : 0.5L * (x + 1);
}
static LD r_squareplus(LD x, const float *P) {
    LD b = P[0];
    if (isinf(x) && x < 0) return 0;
    LD s = sqrtl(x * x + b);
    // The naive form is fine in long double up to |x| = 1e5; beyond, its conjugate.
    return (x > -1e5L) ? (x + s) / 2 : b / (2 * (s - x));
}
static LD r_threshold(LD x, const float *P) { return isnan(x) ? x : x > (LD)P[0] ? x : (LD)P[1]; }

typedef LD (*ref_fn)(LD, const float *);

typedef struct {
    const char *spec;
    ref_fn ref;
    float P[3];      // the parameters the spec should parse to
    int ulp;         // forward bound, in float ulps from the rounded reference
    bool needs_x;    // expected soma_activation_needs_input
    float kinks[4];  // where f' jumps (NaN: unused); FD points stay away
} act_case;

#define NK {NAN, NAN, NAN, NAN}
static const act_case cases[] = {
    {"linear", r_linear, {0}, 0, false, NK},
    {"relu", r_relu, {0, NAN, 0}, 0, false, {0, NAN, NAN, NAN}},
    {"relu(negative_slope=0.1)", r_relu, {0.1f, NAN, 0}, 0, false, {0, NAN, NAN, NAN}},
    {"relu(negative_slope=2)", r_relu, {2, NAN, 0}, 0, false, {0, NAN, NAN, NAN}},
    {"relu(max_value=6)", r_relu, {0, 6, 0}, 0, true, {0, 6, NAN, NAN}},
    {"relu(max_value=2.5)", r_relu, {0, 2.5f, 0}, 0, true, {0, 2.5f, NAN, NAN}},
    {"relu(threshold=0.5)", r_relu, {0, NAN, 0.5f}, 0, true, {0.5f, NAN, NAN, NAN}},
    {"relu(threshold=-1)", r_relu, {0, NAN, -1}, 0, true, {-1, NAN, NAN, NAN}},
    {"relu(negative_slope=0.1, max_value=2.5)", r_relu, {0.1f, 2.5f, 0}, 0, true, {0, 2.5f, NAN, NAN}},
    {"relu(negative_slope=0.1, threshold=0.5)", r_relu, {0.1f, NAN, 0.5f}, 0, true, {0.5f, NAN, NAN, NAN}},
    {"relu(negative_slope=0.3, max_value=4, threshold=1)", r_relu, {0.3f, 4, 1}, 0, true, {1, 4, NAN, NAN}},
    {"relu(max_value=2, threshold=-1)", r_relu, {0, 2, -1}, 0, true, {-1, 0, 2, NAN}},
    {"sigmoid", r_sigmoid, {0}, 1, false, NK},
    {"tanh", r_tanh, {0}, 1, false, NK},
    {"elu", r_elu, {1}, 1, false, {0, NAN, NAN, NAN}},
    {"elu(alpha=0.5)", r_elu, {0.5f}, 1, false, {0, NAN, NAN, NAN}},
    {"elu(alpha=-0.5)", r_elu, {-0.5f}, 1, true, {0, NAN, NAN, NAN}},
    {"selu", r_selu, {0}, 1, false, {0, NAN, NAN, NAN}},
    {"gelu", r_gelu, {0}, 1, true, NK},
    {"gelu(approximate=true)", r_gelu, {1}, 1, true, NK},
    {"softplus", r_softplus, {0}, 1, false, NK},
    {"softsign", r_softsign, {0}, 1, true, NK},
    {"silu", r_silu, {0}, 1, true, NK},
    {"swish", r_silu, {0}, 1, true, NK},
    {"leaky_relu", r_leaky, {0.2f}, 0, false, {0, NAN, NAN, NAN}},
    {"LeakyReLU(negative_slope=0.01)", r_leaky, {0.01f}, 0, false, {0, NAN, NAN, NAN}},
    {"hard_sigmoid", r_hard_sigmoid, {0}, 1, false, {-3, 3, NAN, NAN}},
    {"hard_silu", r_hard_silu, {0}, 1, true, {-3, 3, NAN, NAN}},
    {"hard_swish", r_hard_silu, {0}, 1, true, {-3, 3, NAN, NAN}},
    {"exponential", r_exponential, {0}, 1, false, NK},
    {"relu6", r_relu6, {0}, 0, false, {0, 6, NAN, NAN}},
    {"celu", r_celu, {1}, 1, false, NK},
    {"celu(alpha=0.5)", r_celu, {0.5f}, 1, false, NK},
    {"celu(alpha=-2)", r_celu, {-2}, 1, true, {0, NAN, NAN, NAN}},
    {"hard_tanh", r_hard_tanh, {0}, 0, true, {-1, 1, NAN, NAN}},
    {"hard_shrink", r_hard_shrink, {0.5f}, 0, false, {-0.5f, 0.5f, NAN, NAN}},
    {"hard_shrink(threshold=1.5)", r_hard_shrink, {1.5f}, 0, false, {-1.5f, 1.5f, NAN, NAN}},
    {"hard_shrink(threshold=-1)", r_hard_shrink, {-1}, 0, false, NK},
    {"soft_shrink", r_soft_shrink, {0.5f}, 0, false, {-0.5f, 0.5f, NAN, NAN}},
    {"soft_shrink(threshold=2)", r_soft_shrink, {2}, 0, false, {-2, 2, NAN, NAN}},
    {"tanh_shrink", r_tanh_shrink, {0}, 1, true, NK},
    {"log_sigmoid", r_log_sigmoid, {0}, 1, false, NK},
    {"mish", r_mish, {0}, 1, true, NK},
    {"sparse_plus", r_sparse_plus, {0}, 1, false, {-1, 1, NAN, NAN}},
    {"sparse_sigmoid", r_sparse_sigmoid, {0}, 1, true, {-1, 1, NAN, NAN}},
    {"squareplus", r_squareplus, {4}, 1, false, NK},
    {"squareplus(b=1)", r_squareplus, {1}, 1, false, NK},
    {"squareplus(b=0)", r_squareplus, {0}, 1, false, {0, NAN, NAN, NAN}},
    {"threshold(threshold=0.5, default_value=-1)", r_threshold, {0.5f, -1}, 0, false, {0.5f, NAN, NAN, NAN}},
    {"threshold(threshold=0, default_value=2)", r_threshold, {0, 2}, 0, true, {0, NAN, NAN, NAN}},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static soma_activation parse_ok(const char *spec) {
    soma_activation a;
    int rc = soma_activation_parse(spec, &a);
    cr_assert_eq(rc, SOMA_OK, "parse('%s') -> %d: %s", spec, rc, soma_last_error());
    return a;
}

// ---- helpers --------------------------------------------------------------------------

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { // xorshift64*, [0, 1)
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

// Floats in order as integers, so that the difference counts ulps (±0 are 0).
static int64_t ord(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? (int64_t)INT32_MIN - i : i;
}
static int64_t ulps(float got, LD want) {
    float w = (float)want;
    if (isnan(w) || isnan(got)) return isnan(w) && isnan(got) ? 0 : INT64_MAX;
    if (isinf(w) || isinf(got)) return w == got ? 0 : INT64_MAX;
    int64_t d = ord(got) - ord(w);
    return d < 0 ? -d : d;
}

// The forward sweep: the named points, a log-spaced sweep of magnitudes
// through the denormals up to 1e6, and a dense uniform sweep of [-12, 12].
#define N_LOG 3000
#define N_UNI 3000
static float sweep[256 + 2 * N_LOG + N_UNI];
static int n_sweep;

static void add(float v) { sweep[n_sweep++] = v; }
static void add_pm(float v) {
    add(v);
    add(-v);
    add(nextafterf(v, INFINITY));
    add(nextafterf(v, -INFINITY));
    add(-nextafterf(v, INFINITY));
    add(-nextafterf(v, -INFINITY));
}
static void build_sweep(void) {
    if (n_sweep) return;
    const float named[] = {1e-30f, 1e-40f, FLT_TRUE_MIN, FLT_MIN, 0.01f, 0.125f, 0.5f, 1, 1.5f,
                           2, 2.5f, 3, 4, 6, 9, 20, 30, 88, 89, 100, 104, 1e4f, 1e30f, FLT_MAX};
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) add_pm(named[i]);
    add(0);
    add(-0.0f);
    add(INFINITY);
    add(-INFINITY);
    add(NAN);
    for (int i = 0; i < N_LOG; i++) {
        float v = (float)pow(10.0, -40.0 + 46.0 * i / (N_LOG - 1));
        add(v);
        add(-v);
    }
    for (int i = 0; i < N_UNI; i++) add((float)(-12 + 24 * urand()));
}

// ---- forward --------------------------------------------------------------------------

Test(activations, ulp_helper_counts_floats) {
    cr_assert_eq(ulps(nextafterf(1, 2), 1.0L), 1);
    cr_assert_eq(ulps(-0.0f, 0.0L), 0);
    cr_assert_eq(ulps(FLT_TRUE_MIN, -FLT_TRUE_MIN), 2);
    cr_assert_eq(ulps(1.0f, 1.0L + 0x1p-23L), 1);
    cr_assert_eq(ulps(NAN, 1.0L), INT64_MAX);
    cr_assert_eq(ulps(INFINITY, (LD)FLT_MAX), INT64_MAX);
}

Test(activations, parse_gives_the_expected_kind_and_parameters) {
    for (size_t c = 0; c < N_CASES; c++) {
        soma_activation a = parse_ok(cases[c].spec);
        for (int i = 0; i < 3; i++)
            cr_assert(a.p[i] == cases[c].P[i] || (isnan(a.p[i]) && isnan(cases[c].P[i])),
                      "%s: p[%d] = %g, want %g", cases[c].spec, i, a.p[i], cases[c].P[i]);
        cr_assert_eq(soma_activation_needs_input(&a), cases[c].needs_x, "%s: needs_input",
                     cases[c].spec);
    }
}

Test(activations, forward_within_ulp_bounds_over_the_sweep) {
    build_sweep();
    int n = n_sweep - n_sweep % 3; // as 3 rows
    float *y = malloc((size_t)n * sizeof *y), *y2 = malloc((size_t)n * sizeof *y2);
    cr_assert(y && y2);
    fprintf(stderr, "forward max error over %d points (float ulps from the rounded reference):\n", n);
    for (size_t c = 0; c < N_CASES; c++) {
        soma_activation a = parse_ok(cases[c].spec);
        soma_activation_forward(&a, y, sweep, 3, n / 3);
        int64_t worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            LD want = cases[c].ref(sweep[i], cases[c].P);
            int64_t u = ulps(y[i], want);
            cr_assert(u <= cases[c].ulp, "%s(%.9g) = %.9g, want %.12Lg (%lld ulp > %d)",
                      cases[c].spec, sweep[i], y[i], want, (long long)u, cases[c].ulp);
            if (u > worst) worst = u, at = sweep[i];
        }
        fprintf(stderr, "  %-52s %lld ulp (at %g; bound %d)\n", cases[c].spec, (long long)worst,
                at, cases[c].ulp);
        // In place gives the same bits.
        memcpy(y2, sweep, (size_t)n * sizeof *y2);
        soma_activation_forward(&a, y2, y2, 3, n / 3);
        cr_assert(memcmp(y, y2, (size_t)n * sizeof *y) == 0, "%s: in place differs", cases[c].spec);
    }
    free(y);
    free(y2);
}

static float f1(const char *spec, float x) {
    soma_activation a = parse_ok(spec);
    float y;
    soma_activation_forward(&a, &y, &x, 1, 1);
    return y;
}

#define ASSERT_NEAR_F(got, want) \
    cr_assert(ulps((got), (want)) <= 1, "%s = %.9g, want %.17Lg", #got, (got), (LD)(want))

Test(activations, keras_documented_values) {
    ASSERT_NEAR_F(f1("selu", 1), 1.0507009873554805L);
    ASSERT_NEAR_F(f1("hard_sigmoid", 1), 0.6666667L);
    cr_assert_eq(f1("hard_sigmoid", 1), 0.6666667f);
    ASSERT_NEAR_F(f1("gelu", 1), 0.8413447460685429L);
    ASSERT_NEAR_F(f1("gelu(approximate=True)", 1), 0.8411919906082768L);
    ASSERT_NEAR_F(f1("softplus", 0), 0.69314718055994530942L);
    ASSERT_NEAR_F(f1("log_sigmoid", 0), -0.69314718055994530942L);
    ASSERT_NEAR_F(f1("elu", -1), -0.63212055882855767840L); // expm1(-1)
    ASSERT_NEAR_F(f1("celu", -1), -0.63212055882855767840L);
    ASSERT_NEAR_F(f1("silu", 1), 0.7310585786300049L);
    ASSERT_NEAR_F(f1("mish", 1), 0.8650983882673103L);
    ASSERT_NEAR_F(f1("tanh_shrink", 1), 0.2384058440442351L);
    cr_assert_eq(f1("softsign", 1), 0.5f);
    cr_assert_eq(f1("squareplus", 0), 1.0f);
    cr_assert_eq(f1("sigmoid", 0), 0.5f);
    cr_assert_eq(f1("exponential", 0), 1.0f);
    cr_assert_eq(f1("sparse_plus", 0), 0.25f);
    cr_assert_eq(f1("sparse_sigmoid", 0), 0.5f);

    // keras.activations.relu's docstring examples.
    const float x[5] = {-10, -5, 0, 5, 10};
    struct { const char *spec; float want[5]; } docs[] = {
        {"relu", {0, 0, 0, 5, 10}},
        {"relu(negative_slope=0.5)", {-5, -2.5f, 0, 5, 10}},
        {"relu(max_value=5.)", {0, 0, 0, 5, 5}},
        {"relu(threshold=5.)", {-0.0f, -0.0f, 0, 0, 10}},
    };
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        soma_activation a = parse_ok(docs[d].spec);
        float y[5];
        soma_activation_forward(&a, y, x, 1, 5);
        for (int i = 0; i < 5; i++)
            cr_assert_eq(y[i], docs[d].want[i], "%s(%g) = %g, want %g", docs[d].spec, x[i], y[i],
                         docs[d].want[i]);
    }
    // keras.ops.hard_shrink and keras.ops.threshold docstrings.
    cr_assert_eq(f1("hard_shrink", -0.5f), 0.0f);
    cr_assert_eq(f1("hard_shrink", 1), 1.0f);
    const float tx[4] = {-1, 0, 1, 2}, tw[4] = {0, 0, 0, 2};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(f1("threshold(threshold=1, default_value=0)", tx[i]), tw[i]);
}

Test(activations, nan_propagates_and_infinities_give_limits) {
    for (size_t c = 0; c < N_CASES; c++) {
        if (cases[c].ref == r_linear) continue;
        float y = f1(cases[c].spec, NAN);
        cr_assert(isnan(y), "%s(NaN) = %g", cases[c].spec, y);
    }
    cr_assert_eq(f1("gelu", -INFINITY), 0.0f);
    cr_assert_eq(f1("silu", -INFINITY), 0.0f);
    cr_assert_eq(f1("mish", -INFINITY), 0.0f);
    cr_assert_eq(f1("hard_silu", -INFINITY), 0.0f);
    cr_assert_eq(f1("softsign", INFINITY), 1.0f);
    cr_assert_eq(f1("softsign", -INFINITY), -1.0f);
    cr_assert_eq(f1("sigmoid", -INFINITY), 0.0f);
    cr_assert_eq(f1("softplus", INFINITY), INFINITY);
    cr_assert_eq(f1("elu(alpha=0.5)", -INFINITY), -0.5f);
    cr_assert_eq(f1("selu", -INFINITY), (float)(-SELU_S * SELU_A));
}

// ---- rows: softmax, log_softmax, sparsemax ---------------------------------------------

static void ref_softmax(LD *out, const float *x, int n, bool log_form) {
    LD m = -INFINITY, rest = 0;
    int k = 0;
    for (int j = 0; j < n; j++) m = fmaxl(m, x[j]);
    // Σ exp(x - m) = k + rest; log1p keeps log-probabilities near 0 exact,
    // which log(1 + tiny) in long double would not.
    for (int j = 0; j < n; j++)
        if (x[j] == m) k++;
        else rest += expl(x[j] - m);
    LD lse = k == 1 ? log1pl(rest) : logl(k + rest);
    for (int j = 0; j < n; j++)
        out[j] = log_form ? (x[j] - m) - lse : expl(x[j] - m) / (k + rest);
}

// Keras' sort-based sparsemax (keras/src/backend/numpy/nn.py), in long double.
static int cmp_desc(const void *a, const void *b) {
    LD x = *(const LD *)a, y = *(const LD *)b;
    return (x < y) - (x > y);
}
static void ref_sparsemax(LD *out, const float *x, int n) {
    LD z[256], cum = 0, cum_k = 0;
    int k = 0;
    for (int j = 0; j < n; j++) z[j] = x[j];
    qsort(z, (size_t)n, sizeof *z, cmp_desc);
    for (int r = 1; r <= n; r++) {
        cum += z[r - 1];
        if (z[r - 1] - (cum - 1) / r > 0) k = r, cum_k = cum;
    }
    LD tau = (cum_k - 1) / k;
    for (int j = 0; j < n; j++) out[j] = fmaxl(x[j] - tau, 0);
}

// Rows of several widths and scales, and the awkward ones.
typedef struct { int n; float v[64]; } row_t;
static int make_rows(row_t *rows) {
    int nr = 0;
    const int widths[] = {1, 2, 3, 7, 10, 64};
    const float scales[] = {0.01f, 1, 10, 100, 1e4f};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
        for (size_t s = 0; s < sizeof scales / sizeof *scales; s++) {
            row_t *r = &rows[nr++];
            r->n = widths[w];
            for (int j = 0; j < r->n; j++) r->v[j] = (float)(scales[s] * (2 * urand() - 1));
        }
    row_t special[] = {
        {3, {1e4f, -1e4f, 0}}, {3, {-1e4f, 1e4f, 1e4f}}, {2, {-1e4f, -1e4f}}, {3, {88, -88, 0}},
        {4, {0, 0, 0, 0}}, {3, {30, 0, -30}}, {2, {20, 0}}, {3, {-INFINITY, 0, 1}},
        {3, {1e-40f, -1e-40f, 0}}, {5, {1e30f, 1, 2, 3, 4}},
    };
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) rows[nr++] = special[i];
    return nr;
}

Test(activations, softmax_and_log_softmax_rows) {
    row_t rows[64];
    int nr = make_rows(rows);
    soma_activation sm = parse_ok("softmax"), lsm = parse_ok("log_softmax(axis=-1)");
    int64_t worst_s = 0, worst_l = 0;
    for (int r = 0; r < nr; r++) {
        int n = rows[r].n;
        float y[64], ly[64];
        LD want[64], lwant[64];
        soma_activation_forward(&sm, y, rows[r].v, 1, n);
        soma_activation_forward(&lsm, ly, rows[r].v, 1, n);
        ref_softmax(want, rows[r].v, n, false);
        ref_softmax(lwant, rows[r].v, n, true);
        double sum = 0;
        for (int j = 0; j < n; j++) {
            int64_t us = ulps(y[j], want[j]), ul = ulps(ly[j], lwant[j]);
            cr_assert(us <= 2, "row %d softmax[%d] = %.9g, want %.12Lg (%lld ulp)", r, j, y[j],
                      want[j], (long long)us);
            cr_assert(ul <= 1, "row %d log_softmax[%d] = %.9g, want %.12Lg (%lld ulp)", r, j,
                      ly[j], lwant[j], (long long)ul);
            worst_s = us > worst_s ? us : worst_s;
            worst_l = ul > worst_l ? ul : worst_l;
            sum += y[j];
        }
        cr_assert(fabs(sum - 1) <= n * 0x1p-24, "row %d sums to %.9g", r, sum);
    }
    fprintf(stderr, "softmax max %lld ulp, log_softmax max %lld ulp over %d rows\n",
            (long long)worst_s, (long long)worst_l, nr);
    // Logits of ±1e4 neither overflow nor lose the winner.
    float x[3] = {1e4f, -1e4f, 0}, y[3];
    soma_activation_forward(&sm, y, x, 1, 3);
    cr_assert(y[0] == 1 && y[1] == 0 && y[2] == 0);
    soma_activation_forward(&lsm, y, x, 1, 3);
    cr_assert(y[0] == 0 && y[1] == -2e4f && y[2] == -1e4f);
    // One row per batch entry; in place; NaN spreads over its row only.
    float b[6] = {1, 2, 3, NAN, 0, 0};
    soma_activation_forward(&sm, b, b, 2, 3);
    for (int j = 3; j < 6; j++) cr_assert(isnan(b[j]));
    LD w3[3];
    const float r0[3] = {1, 2, 3};
    ref_softmax(w3, r0, 3, false);
    for (int j = 0; j < 3; j++) cr_assert(ulps(b[j], w3[j]) <= 2);
}

Test(activations, sparsemax_rows) {
    row_t rows[64];
    int nr = make_rows(rows);
    soma_activation a = parse_ok("sparsemax");
    for (int r = 0; r < nr; r++) {
        int n = rows[r].n;
        // -inf and 1e30 (where even long double loses the 1): checked below.
        if (isinf(rows[r].v[0]) || rows[r].v[0] == 1e30f) continue;
        float y[64];
        LD want[64], scale = 1;
        soma_activation_forward(&a, y, rows[r].v, 1, n);
        ref_sparsemax(want, rows[r].v, n);
        for (int j = 0; j < n; j++) scale += fabsl(rows[r].v[j]);
        double sum = 0;
        for (int j = 0; j < n; j++) {
            // τ carries a double rounding of the row's sum; results that
            // nearly cancel are held to that, the rest to 1 ulp.
            cr_assert(ulps(y[j], want[j]) <= 1 || fabsl(y[j] - want[j]) <= 4e-16L * scale,
                      "row %d sparsemax[%d] = %.9g, want %.12Lg", r, j, y[j], want[j]);
            cr_assert(y[j] >= 0);
            sum += y[j];
        }
        cr_assert(fabs(sum - 1) <= n * 0x1p-23, "row %d sums to %.9g", r, sum);
    }
    // Keras-style worked examples: [-1, 0, 1] → [0, 0, 1]; [0.1, 0.2, 0.3]
    // keeps all three with τ = -0.4/3.
    float x[3] = {-1, 0, 1}, y[3];
    soma_activation_forward(&a, y, x, 1, 3);
    cr_assert(y[0] == 0 && y[1] == 0 && y[2] == 1);
    float x2[3] = {0.1f, 0.2f, 0.3f};
    soma_activation_forward(&a, y, x2, 1, 3);
    for (int j = 0; j < 3; j++) ASSERT_NEAR_F(y[j], (LD)x2[j] + 0.4L / 3);
    float x3[3] = {-INFINITY, 0, 0.5f};
    soma_activation_forward(&a, y, x3, 1, 3);
    cr_assert(y[0] == 0 && y[1] == 0.25f && y[2] == 0.75f, "%g %g %g", y[0], y[1], y[2]);
    float x5[5] = {1e30f, 1, 2, 3, 4}, y5[5];
    soma_activation_forward(&a, y5, x5, 1, 5);
    cr_assert(y5[0] == 1 && y5[1] == 0 && y5[4] == 0, "%g %g", y5[0], y5[4]);
    float x4[2] = {NAN, 1};
    soma_activation_forward(&a, y, x4, 1, 2);
    cr_assert(isnan(y[0]) && isnan(y[1]));
}

// ---- backward -------------------------------------------------------------------------

static bool near_kink(const act_case *c, float x) {
    for (int k = 0; k < 4; k++)
        if (!isnan(c->kinks[k]) && fabsf(x - c->kinks[k]) < 0.02f) return true;
    return false;
}

Test(activations, backward_matches_central_differences) {
    enum { N = 96 };
    for (size_t c = 0; c < N_CASES; c++) {
        const act_case *cs = &cases[c];
        soma_activation a = parse_ok(cs->spec);
        float x[N], y[N], dy[N], dx[N], dx2[N];
        for (int i = 0; i < N; i++) {
            // Mostly [-6, 6], a few further out where the tails matter.
            do x[i] = (float)(i < 8 ? (i % 2 ? 1 : -1) * (8 + 3 * i) : -6 + 12 * urand());
            while (near_kink(cs, x[i]));
            dy[i] = (float)(2 * urand() - 1);
        }
        soma_activation_forward(&a, y, x, 4, N / 4);
        soma_activation_backward(&a, dx, x, y, dy, 4, N / 4);
        for (int i = 0; i < N; i++) {
            LD h = 1e-6L * fmaxl(1, fabsl(x[i]));
            LD g = (cs->ref(x[i] + h, cs->P) - cs->ref(x[i] - h, cs->P)) / (2 * h);
            LD want = g * dy[i];
            cr_assert(fabsl(dx[i] - want) <= 2e-6L * (fabsl(want) + fabsl(dy[i])),
                      "%s: f'(%.9g)·%.4g = %.9g, finite differences %.12Lg", cs->spec, x[i],
                      dy[i], dx[i], want);
        }
        // From y alone when the input is not needed, and in place.
        memcpy(dx2, dy, sizeof dx2);
        soma_activation_backward(&a, dx2, cs->needs_x ? x : NULL, y, dx2, 4, N / 4);
        cr_assert(memcmp(dx, dx2, sizeof dx) == 0, "%s: y-only / in-place differs", cs->spec);
        if (cs->needs_x) {
            soma_activation_backward(&a, dx2, NULL, y, dy, 4, N / 4);
            for (int i = 0; i < N; i++) cr_assert(isnan(dx2[i]), "%s: x == NULL must give NaN", cs->spec);
        }
    }
}

// Σ_j dy_j·f_j(row) in long double, for the row-wise ones.
static LD row_objective(const char *which, const LD *xd, const float *dy, int n) {
    LD out[64], tot = 0;
    if (!strcmp(which, "sparsemax")) {
        // The support is fixed near a non-kink point, so f is linear there:
        // evaluate with the long-double τ of the unrounded inputs.
        LD z[64], cum = 0, cum_k = 0;
        int k = 0;
        for (int j = 0; j < n; j++) z[j] = xd[j];
        qsort(z, (size_t)n, sizeof *z, cmp_desc);
        for (int r = 1; r <= n; r++) {
            cum += z[r - 1];
            if (z[r - 1] - (cum - 1) / r > 0) k = r, cum_k = cum;
        }
        LD tau = (cum_k - 1) / k;
        for (int j = 0; j < n; j++) tot += dy[j] * fmaxl(xd[j] - tau, 0);
        return tot;
    }
    LD m = -INFINITY, s = 0;
    for (int j = 0; j < n; j++) m = fmaxl(m, xd[j]);
    for (int j = 0; j < n; j++) s += expl(xd[j] - m);
    for (int j = 0; j < n; j++)
        out[j] = !strcmp(which, "softmax") ? expl(xd[j] - m) / s : (xd[j] - m) - logl(s);
    for (int j = 0; j < n; j++) tot += dy[j] * out[j];
    return tot;
}

Test(activations, row_backward_matches_central_differences) {
    const char *which[] = {"softmax", "log_softmax", "sparsemax"};
    enum { ROWS = 3, COLS = 6, N = ROWS * COLS };
    for (int w = 0; w < 3; w++) {
        soma_activation a = parse_ok(which[w]);
        float x[N], y[N], dy[N], dx[N];
        for (int i = 0; i < N; i++) {
            x[i] = (float)(-3 + 6 * urand());
            dy[i] = (float)(2 * urand() - 1);
        }
        soma_activation_forward(&a, y, x, ROWS, COLS);
        // Keep sparsemax's support away from its edges.
        for (int i = 0; i < N; i++)
            if (w == 2 && y[i] == 0) x[i] -= 0.1f;
        soma_activation_forward(&a, y, x, ROWS, COLS);
        memcpy(dx, dy, sizeof dx);
        soma_activation_backward(&a, dx, NULL, y, dx, ROWS, COLS); // y only, in place
        for (int r = 0; r < ROWS; r++)
            for (int i = 0; i < COLS; i++) {
                LD xd[COLS], h = 1e-6L, f[2];
                for (int s = 0; s < 2; s++) {
                    for (int j = 0; j < COLS; j++) xd[j] = x[r * COLS + j];
                    xd[i] += s ? -h : h;
                    f[s] = row_objective(which[w], xd, dy + r * COLS, COLS);
                }
                LD g = (f[0] - f[1]) / (2 * h);
                cr_assert(fabsl(dx[r * COLS + i] - g) <= 2e-6L * (1 + fabsl(g)),
                          "%s row %d: dx[%d] = %.9g, finite differences %.12Lg", which[w], r, i,
                          dx[r * COLS + i], g);
            }
    }
}

static float d1(const char *spec, float x) {
    soma_activation a = parse_ok(spec);
    float y, g = 1, dx;
    soma_activation_forward(&a, &y, &x, 1, 1);
    soma_activation_backward(&a, &dx, &x, &y, &g, 1, 1);
    return dx;
}

Test(activations, derivatives_at_kinks_follow_tensorflow) {
    cr_assert_eq(d1("relu", 0), 0.0f);
    cr_assert_eq(d1("relu(negative_slope=0.1)", 0), 0.1f);
    cr_assert_eq(d1("leaky_relu", 0), 0.2f);
    cr_assert_eq(d1("leaky_relu", -1e-45f), 0.2f); // ns·x underflows to -0
    cr_assert_eq(d1("relu6", 0), 0.0f);
    cr_assert_eq(d1("relu6", 6), 0.0f);
    cr_assert_eq(d1("relu(max_value=6)", 6), 0.0f);   // Keras uses relu6 here
    cr_assert_eq(d1("relu(max_value=2.5)", 2.5f), 1.0f); // clip_by_value is inclusive
    cr_assert_eq(d1("relu(threshold=0.5)", 0.5f), 0.0f);
    cr_assert_eq(d1("relu(negative_slope=0.1, threshold=0.5)", 0.5f), 0.0f);
    cr_assert_eq(d1("hard_sigmoid", -3), 0.0f);
    cr_assert_eq(d1("hard_sigmoid", 3), 0.0f);
    cr_assert_eq(d1("hard_sigmoid", 0), 1.0f / 6.0f);
    cr_assert_eq(d1("hard_sigmoid", nextafterf(3, 0)), 1.0f / 6.0f);
    cr_assert_eq(d1("hard_silu", -3), 0.0f);
    cr_assert_eq(d1("hard_silu", 3), 1.0f);
    cr_assert_eq(d1("hard_tanh", 1), 1.0f);
    cr_assert_eq(d1("hard_tanh", -1), 1.0f);
    cr_assert_eq(d1("sparse_sigmoid", 1), 0.0f);
    cr_assert_eq(d1("sparse_sigmoid", nextafterf(1, 0)), 0.5f);
    cr_assert_eq(d1("elu", 0), 1.0f);
    cr_assert_eq(d1("elu(alpha=0.5)", 0), 0.5f);
    cr_assert_eq(d1("selu", 0), (float)SELU_S);
    cr_assert_eq(d1("hard_shrink", 0.5f), 0.0f);
    cr_assert_eq(d1("soft_shrink", -0.5f), 0.0f);
    cr_assert_eq(d1("threshold(threshold=0, default_value=2)", 0), 0.0f);
    cr_assert_eq(d1("threshold(threshold=0, default_value=2)", 2), 1.0f);
    // Tails: derivatives that come from y stay exact in relative terms.
    cr_assert(ulps(d1("softplus", -30), 1 / (1 + expl(30))) <= 2);
    cr_assert(ulps(d1("log_sigmoid", 30), 1 / (1 + expl(30))) <= 2);
    cr_assert(ulps(d1("exponential", -20), expl(-20)) <= 1);
}

// ---- parsing --------------------------------------------------------------------------

#define ASSERT_PARSE_ERR(spec, code, words)                                              \
    do {                                                                                 \
        soma_activation a_ = {.kind = SOMA_ACT_RELU};                                    \
        int rc_ = soma_activation_parse(spec, &a_);                                      \
        cr_assert_eq(rc_, code, "parse(%s) -> %d (%s), want %d", #spec, rc_,             \
                     soma_last_error(), code);                                           \
        cr_assert(strstr(soma_last_error(), words), "parse(%s): message '%s' lacks '%s'", \
                  #spec, soma_last_error(), words);                                      \
        cr_assert_eq(a_.kind, SOMA_ACT_LINEAR);                                          \
    } while (0)

Test(activations, names_aliases_and_defaults) {
    const char *lin[] = {NULL, "", "  ", "None", "none", "linear", "Linear"};
    for (size_t i = 0; i < sizeof lin / sizeof *lin; i++) {
        soma_activation a = {.kind = SOMA_ACT_RELU};
        cr_assert_eq(soma_activation_parse(lin[i], &a), SOMA_OK);
        cr_assert_eq(a.kind, SOMA_ACT_LINEAR);
    }
    struct { const char *spec, *name; soma_act_kind kind; } al[] = {
        {"LeakyReLU", "leaky_relu", SOMA_ACT_LEAKY_RELU}, {"swish", "silu", SOMA_ACT_SILU},
        {"Swish", "silu", SOMA_ACT_SILU}, {"hard_swish", "hard_silu", SOMA_ACT_HARD_SILU},
        {"HardSwish", "hard_silu", SOMA_ACT_HARD_SILU}, {"ReLU6", "relu6", SOMA_ACT_RELU6},
        {"LogSoftmax", "log_softmax", SOMA_ACT_LOG_SOFTMAX}, {"GELU", "gelu", SOMA_ACT_GELU},
    };
    for (size_t i = 0; i < sizeof al / sizeof *al; i++) {
        soma_activation a = parse_ok(al[i].spec);
        cr_assert_eq(a.kind, al[i].kind, "%s", al[i].spec);
        cr_assert_str_eq(soma_activation_name(&a), al[i].name);
    }
    // Every kind has a name that parses back to it.
    for (int k = 0; k < SOMA_ACT_COUNT; k++) {
        soma_activation a = {.kind = (soma_act_kind)k}, b;
        const char *name = soma_activation_name(&a);
        cr_assert_str_neq(name, "?");
        if (k == SOMA_ACT_THRESHOLD) continue; // its parameters are required
        cr_assert_eq(soma_activation_parse(name, &b), SOMA_OK, "%s: %s", name, soma_last_error());
        cr_assert_eq(b.kind, k, "%s", name);
    }
    soma_activation bad = {.kind = SOMA_ACT_COUNT};
    cr_assert_str_eq(soma_activation_name(&bad), "?");
    // Keras' defaults.
    cr_assert_eq(parse_ok("leaky_relu").p[0], 0.2f);
    cr_assert_eq(parse_ok("elu").p[0], 1.0f);
    cr_assert_eq(parse_ok("gelu").p[0], 0.0f);
    cr_assert(isnan(parse_ok("relu(max_value=None)").p[1]));
    cr_assert_eq(parse_ok("soft_shrink").p[0], 0.5f);
    cr_assert_eq(parse_ok("squareplus").p[0], 4.0f);
}

Test(activations, parse_errors_name_the_problem) {
    ASSERT_PARSE_ERR("foo", SOMA_E_NOT_FOUND, "unknown activation 'foo' (known: linear, relu");
    ASSERT_PARSE_ERR("foo", SOMA_E_NOT_FOUND, "leaky_relu");
    ASSERT_PARSE_ERR("foo", SOMA_E_NOT_FOUND, "hard_swish");
    ASSERT_PARSE_ERR("relu(slope=1)", SOMA_E_NOT_FOUND, "unknown parameter 'slope'");
    ASSERT_PARSE_ERR("relu(slope=1)", SOMA_E_NOT_FOUND, "negative_slope, max_value, threshold");
    ASSERT_PARSE_ERR("sigmoid(alpha=1)", SOMA_E_NOT_FOUND, "takes no parameters");
    ASSERT_PARSE_ERR("elu(alpha='x')", SOMA_E_INVALID, "parameter 'alpha' expects a number");
    ASSERT_PARSE_ERR("elu(alpha=x)", SOMA_E_INVALID, "alpha");
    ASSERT_PARSE_ERR("gelu(approximate=2)", SOMA_E_INVALID, "approximate");
    ASSERT_PARSE_ERR("elu(alpha=1e39)", SOMA_E_INVALID, "float32");
    ASSERT_PARSE_ERR("relu(negative_slope=-1)", SOMA_E_INVALID, "negative_slope must be >= 0");
    ASSERT_PARSE_ERR("relu(max_value=-1)", SOMA_E_INVALID, "max_value must be >= 0");
    ASSERT_PARSE_ERR("leaky_relu(negative_slope=-0.1)", SOMA_E_INVALID, "negative_slope");
    ASSERT_PARSE_ERR("celu(alpha=0)", SOMA_E_INVALID, "alpha must not be 0");
    ASSERT_PARSE_ERR("squareplus(b=-1)", SOMA_E_INVALID, "b must be >= 0");
    ASSERT_PARSE_ERR("softmax(axis=1)", SOMA_E_INVALID, "axis=-1");
    ASSERT_PARSE_ERR("softmax(axis=0.5)", SOMA_E_INVALID, "axis");
    ASSERT_PARSE_ERR("threshold", SOMA_E_INVALID, "parameter 'threshold' is required");
    ASSERT_PARSE_ERR("threshold(threshold=1)", SOMA_E_INVALID, "'default_value' is required");
    ASSERT_PARSE_ERR("relu(alpha=1, alpha=2)", SOMA_E_NOT_FOUND, "alpha");
    ASSERT_PARSE_ERR("elu(alpha=1, alpha=2)", SOMA_E_FORMAT, "given twice");
    ASSERT_PARSE_ERR("relu(", SOMA_E_FORMAT, "activation");
    ASSERT_PARSE_ERR("relu)", SOMA_E_FORMAT, "activation");
    cr_assert_eq(soma_activation_parse("relu", NULL), SOMA_E_INVALID);
}

