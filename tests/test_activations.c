// Keras' activation catalogue (core/cpu/act.c and the SLEEF kernels in
// core/cpu/kernels/<isa>/act_<isa>.c): every activation and parameter
// combination against long-double references of Keras' formulas over a sweep
// with ±88, ±20, ±1e-30, 0, ±inf, NaN and denormals (ulp bounds), Keras'
// documented values, softmax / log_softmax / sparsemax rows, backward against
// central differences in long double (and from y alone, and in place) and
// against long-double derivatives over the sweep, TF's conventions at the
// kinks, and parse errors. Every numeric check runs once per kernel set the
// machine has (soma_cpu_force: "generic" is the scalar reference path, "avx2"
// and "neon" the vector kernels), with the vector kernels held to their own
// bounds and to the scalar path's special values; then lengths, offsets, in
// place and threads for the vector kernels.
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cpu/act.h"
#include "cpu/cpu.h"

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
    int vulp;        // the same for the vector kernels (SLEEF: the 2 at most)
    bool needs_x;    // expected soma_activation_needs_input
    float kinks[4];  // where f' jumps (NaN: unused); FD points stay away
} act_case;

#define NK {NAN, NAN, NAN, NAN}
static const act_case cases[] = {
    {"linear", r_linear, {0}, 0, 0, false, NK},
    {"relu", r_relu, {0, NAN, 0}, 0, 0, false, {0, NAN, NAN, NAN}},
    {"relu(negative_slope=0.1)", r_relu, {0.1f, NAN, 0}, 0, 0, false, {0, NAN, NAN, NAN}},
    {"relu(negative_slope=2)", r_relu, {2, NAN, 0}, 0, 0, false, {0, NAN, NAN, NAN}},
    {"relu(max_value=6)", r_relu, {0, 6, 0}, 0, 0, true, {0, 6, NAN, NAN}},
    {"relu(max_value=2.5)", r_relu, {0, 2.5f, 0}, 0, 0, true, {0, 2.5f, NAN, NAN}},
    {"relu(threshold=0.5)", r_relu, {0, NAN, 0.5f}, 0, 0, true, {0.5f, NAN, NAN, NAN}},
    {"relu(threshold=-1)", r_relu, {0, NAN, -1}, 0, 0, true, {-1, NAN, NAN, NAN}},
    {"relu(negative_slope=0.1, max_value=2.5)", r_relu, {0.1f, 2.5f, 0}, 0, 0, true, {0, 2.5f, NAN, NAN}},
    {"relu(negative_slope=0.1, threshold=0.5)", r_relu, {0.1f, NAN, 0.5f}, 0, 0, true, {0.5f, NAN, NAN, NAN}},
    {"relu(negative_slope=0.3, max_value=4, threshold=1)", r_relu, {0.3f, 4, 1}, 0, 0, true, {1, 4, NAN, NAN}},
    {"relu(max_value=2, threshold=-1)", r_relu, {0, 2, -1}, 0, 0, true, {-1, 0, 2, NAN}},
    {"sigmoid", r_sigmoid, {0}, 1, 2, false, NK},
    {"tanh", r_tanh, {0}, 1, 1, false, NK},
    {"elu", r_elu, {1}, 1, 1, false, {0, NAN, NAN, NAN}},
    {"elu(alpha=0.5)", r_elu, {0.5f}, 1, 1, false, {0, NAN, NAN, NAN}},
    {"elu(alpha=-0.5)", r_elu, {-0.5f}, 1, 1, true, {0, NAN, NAN, NAN}},
    {"selu", r_selu, {0}, 1, 1, false, {0, NAN, NAN, NAN}},
    {"gelu", r_gelu, {0}, 1, 2, true, NK},
    {"gelu(approximate=true)", r_gelu, {1}, 1, 2, true, NK},
    {"softplus", r_softplus, {0}, 1, 1, false, NK},
    {"softsign", r_softsign, {0}, 1, 1, true, NK},
    {"silu", r_silu, {0}, 1, 2, true, NK},
    {"swish", r_silu, {0}, 1, 2, true, NK},
    {"leaky_relu", r_leaky, {0.2f}, 0, 0, false, {0, NAN, NAN, NAN}},
    {"LeakyReLU(negative_slope=0.01)", r_leaky, {0.01f}, 0, 0, false, {0, NAN, NAN, NAN}},
    {"hard_sigmoid", r_hard_sigmoid, {0}, 1, 1, false, {-3, 3, NAN, NAN}},
    {"hard_silu", r_hard_silu, {0}, 1, 1, true, {-3, 3, NAN, NAN}},
    {"hard_swish", r_hard_silu, {0}, 1, 1, true, {-3, 3, NAN, NAN}},
    {"exponential", r_exponential, {0}, 1, 1, false, NK},
    {"relu6", r_relu6, {0}, 0, 0, false, {0, 6, NAN, NAN}},
    {"celu", r_celu, {1}, 1, 1, false, NK},
    {"celu(alpha=0.5)", r_celu, {0.5f}, 1, 1, false, NK},
    {"celu(alpha=-2)", r_celu, {-2}, 1, 1, true, {0, NAN, NAN, NAN}},
    {"hard_tanh", r_hard_tanh, {0}, 0, 0, true, {-1, 1, NAN, NAN}},
    {"hard_shrink", r_hard_shrink, {0.5f}, 0, 0, false, {-0.5f, 0.5f, NAN, NAN}},
    {"hard_shrink(threshold=1.5)", r_hard_shrink, {1.5f}, 0, 0, false, {-1.5f, 1.5f, NAN, NAN}},
    {"hard_shrink(threshold=-1)", r_hard_shrink, {-1}, 0, 0, false, NK},
    {"soft_shrink", r_soft_shrink, {0.5f}, 0, 0, false, {-0.5f, 0.5f, NAN, NAN}},
    {"soft_shrink(threshold=2)", r_soft_shrink, {2}, 0, 0, false, {-2, 2, NAN, NAN}},
    {"tanh_shrink", r_tanh_shrink, {0}, 1, 1, true, NK},
    {"log_sigmoid", r_log_sigmoid, {0}, 1, 1, false, NK},
    {"mish", r_mish, {0}, 1, 1, true, NK},
    {"sparse_plus", r_sparse_plus, {0}, 1, 1, false, {-1, 1, NAN, NAN}},
    {"sparse_sigmoid", r_sparse_sigmoid, {0}, 1, 1, true, {-1, 1, NAN, NAN}},
    {"squareplus", r_squareplus, {4}, 1, 1, false, NK},
    {"squareplus(b=1)", r_squareplus, {1}, 1, 1, false, NK},
    {"squareplus(b=0)", r_squareplus, {0}, 1, 1, false, {0, NAN, NAN, NAN}},
    {"threshold(threshold=0.5, default_value=-1)", r_threshold, {0.5f, -1}, 0, 0, false, {0.5f, NAN, NAN, NAN}},
    {"threshold(threshold=0, default_value=2)", r_threshold, {0, 2}, 0, 0, true, {0, NAN, NAN, NAN}},
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
static void reset_rng(void) { rng_state = 0x9E3779B97F4A7C15ull; }
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

// ---- kernel sets ------------------------------------------------------------------------

// Each numeric check runs once per kernel set this machine runs, the
// activations dispatching on soma_cpu_name(): "generic" is the scalar
// reference path, "avx2" and "avx512" their own SLEEF kernels, "neon" the
// NEON ones.
static const char *const set_names[] = {"generic", "avx2", "avx512", "neon"};
static const char *cur_set = "generic";
static bool vec_set(void) { return strcmp(soma_activation_kernels_name(), "scalar") != 0; }
static int bound(const act_case *c) { return vec_set() ? c->vulp : c->ulp; }

// The vector set this machine must be able to run, so that a build or a
// dispatch that silently fell back to scalar code fails here.
static const char *expected_vector_set(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "avx2" : NULL;
#elif defined(__aarch64__)
    return "neon";
#else
    return NULL;
#endif
}

static void reset_rng(void);

static void for_each_set(void (*check)(void)) {
    const char *saved = soma_cpu_name(), *want = expected_vector_set();
    bool ran_want = false;
    for (size_t i = 0; i < sizeof set_names / sizeof *set_names; i++) {
        if (soma_cpu_force(set_names[i]) != SOMA_OK) continue;
        cr_assert_str_eq(soma_cpu_name(), set_names[i]);
        cur_set = set_names[i];
        // Vector kernels on every set but generic: their own ISA's, and the
        // AVX2 ones (or AVX-512 ones, should they come) on avx512.
        const char *act = soma_activation_kernels_name();
        cr_assert_eq(!strcmp(cur_set, "generic"), !strcmp(act, "scalar"), "set %s runs %s",
                     cur_set, act);
        if (strcmp(cur_set, "avx512") != 0 && strcmp(cur_set, "generic") != 0)
            cr_assert_str_eq(act, cur_set);
        ran_want |= want && !strcmp(want, cur_set);
        reset_rng(); // the same inputs for every set
        check();
    }
    cr_assert(!want || ran_want, "kernel set %s was not run", want);
    cr_assert_eq(soma_cpu_force(saved), SOMA_OK);
    cr_assert_str_eq(soma_cpu_name(), saved, "the active set is restored");
    // The automatic choice runs vector kernels wherever a vector set exists.
    cr_assert_eq(soma_cpu_force(NULL), SOMA_OK);
    if (want) cr_assert_str_neq(soma_activation_kernels_name(), "scalar");
    cr_assert_eq(soma_cpu_force(saved), SOMA_OK);
    cur_set = "generic";
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

static void check_forward_within_ulp_bounds_over_the_sweep(void) {
    build_sweep();
    int n = n_sweep - n_sweep % 3; // as 3 rows
    float *y = malloc((size_t)n * sizeof *y), *y2 = malloc((size_t)n * sizeof *y2);
    cr_assert(y && y2);
    fprintf(stderr, "[%s] forward max error over %d points (float ulps from the rounded reference):\n",
            cur_set, n);
    for (size_t c = 0; c < N_CASES; c++) {
        soma_activation a = parse_ok(cases[c].spec);
        soma_activation_forward(&a, y, sweep, 3, n / 3);
        int64_t worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            LD want = cases[c].ref(sweep[i], cases[c].P);
            int64_t u = ulps(y[i], want);
            cr_assert(u <= bound(&cases[c]), "[%s] %s(%.9g) = %.9g, want %.12Lg (%lld ulp > %d)",
                      cur_set, cases[c].spec, sweep[i], y[i], want, (long long)u, bound(&cases[c]));
            if (u > worst) worst = u, at = sweep[i];
        }
        fprintf(stderr, "  %-52s %lld ulp (at %g; bound %d)\n", cases[c].spec, (long long)worst,
                at, bound(&cases[c]));
        // In place gives the same bits.
        memcpy(y2, sweep, (size_t)n * sizeof *y2);
        soma_activation_forward(&a, y2, y2, 3, n / 3);
        cr_assert(memcmp(y, y2, (size_t)n * sizeof *y) == 0, "[%s] %s: in place differs", cur_set,
                  cases[c].spec);
    }
    free(y);
    free(y2);
}

Test(activations, forward_within_ulp_bounds_over_the_sweep) { for_each_set(check_forward_within_ulp_bounds_over_the_sweep); }

static float f1(const char *spec, float x) {
    soma_activation a = parse_ok(spec);
    float y;
    soma_activation_forward(&a, &y, &x, 1, 1);
    return y;
}

#define ASSERT_NEAR_F(got, want) \
    cr_assert(ulps((got), (want)) <= 1, "%s = %.9g, want %.17Lg", #got, (got), (LD)(want))

static void check_keras_documented_values(void) {
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

Test(activations, keras_documented_values) { for_each_set(check_keras_documented_values); }

static void check_nan_propagates_and_infinities_give_limits(void) {
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

Test(activations, nan_propagates_and_infinities_give_limits) { for_each_set(check_nan_propagates_and_infinities_give_limits); }

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

static void check_softmax_and_log_softmax_rows(void) {
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
            // log_softmax: 1 ulp scalar, 2 with SLEEF's exp in the sum.
            cr_assert(us <= 2, "[%s] row %d softmax[%d] = %.9g, want %.12Lg (%lld ulp)", cur_set,
                      r, j, y[j], want[j], (long long)us);
            cr_assert(ul <= (vec_set() ? 2 : 1),
                      "[%s] row %d log_softmax[%d] = %.9g, want %.12Lg (%lld ulp)", cur_set, r, j,
                      ly[j], lwant[j], (long long)ul);
            worst_s = us > worst_s ? us : worst_s;
            worst_l = ul > worst_l ? ul : worst_l;
            sum += y[j];
        }
        cr_assert(fabs(sum - 1) <= n * 0x1p-24, "row %d sums to %.9g", r, sum);
    }
    fprintf(stderr, "[%s] softmax max %lld ulp, log_softmax max %lld ulp over %d rows\n",
            cur_set, (long long)worst_s, (long long)worst_l, nr);
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

Test(activations, softmax_and_log_softmax_rows) { for_each_set(check_softmax_and_log_softmax_rows); }

static void check_sparsemax_rows(void) {
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

Test(activations, sparsemax_rows) { for_each_set(check_sparsemax_rows); }

// ---- backward -------------------------------------------------------------------------

static bool near_kink(const act_case *c, float x) {
    for (int k = 0; k < 4; k++)
        if (!isnan(c->kinks[k]) && fabsf(x - c->kinks[k]) < 0.02f) return true;
    return false;
}

static void check_backward_matches_central_differences(void) {
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

Test(activations, backward_matches_central_differences) { for_each_set(check_backward_matches_central_differences); }

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

static void check_row_backward_matches_central_differences(void) {
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

Test(activations, row_backward_matches_central_differences) { for_each_set(check_row_backward_matches_central_differences); }

static float d1(const char *spec, float x) {
    soma_activation a = parse_ok(spec);
    float y, g = 1, dx;
    soma_activation_forward(&a, &y, &x, 1, 1);
    soma_activation_backward(&a, &dx, &x, &y, &g, 1, 1);
    return dx;
}

static void check_derivatives_at_kinks_follow_tensorflow(void) {
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

Test(activations, derivatives_at_kinks_follow_tensorflow) { for_each_set(check_derivatives_at_kinks_follow_tensorflow); }

// ---- the vector kernels: more rows, derivatives over the sweep, special values, -----
// ---- lengths, offsets, in place, threads ------------------------------------------------

// Random rows of every width up to 300 (the kernels' blocks of 8 and their
// tails) and scales from 0.01 to 1e4, against long double.
static void check_softmax_many_rows(void) {
    enum { MAXW = 300 };
    soma_activation sm = parse_ok("softmax"), lsm = parse_ok("log_softmax");
    float x[MAXW], y[MAXW], ly[MAXW];
    LD want[MAXW], lwant[MAXW];
    int64_t worst_s = 0, worst_l = 0;
    for (int r = 0; r < 600; r++) {
        int n = 1 + r % MAXW;
        double scale = pow(10.0, -2 + 6 * urand());
        for (int j = 0; j < n; j++) x[j] = (float)(scale * (2 * urand() - 1));
        soma_activation_forward(&sm, y, x, 1, n);
        soma_activation_forward(&lsm, ly, x, 1, n);
        ref_softmax(want, x, n, false);
        ref_softmax(lwant, x, n, true);
        for (int j = 0; j < n; j++) {
            int64_t us = ulps(y[j], want[j]), ul = ulps(ly[j], lwant[j]);
            cr_assert(us <= 2, "[%s] width %d softmax[%d] = %.9g, want %.12Lg (%lld ulp)",
                      cur_set, n, j, y[j], want[j], (long long)us);
            cr_assert(ul <= (vec_set() ? 2 : 1),
                      "[%s] width %d log_softmax[%d] = %.9g, want %.12Lg (%lld ulp)", cur_set, n,
                      j, ly[j], lwant[j], (long long)ul);
            worst_s = us > worst_s ? us : worst_s;
            worst_l = ul > worst_l ? ul : worst_l;
        }
    }
    fprintf(stderr, "[%s] 600 random rows: softmax max %lld ulp, log_softmax max %lld ulp\n",
            cur_set, (long long)worst_s, (long long)worst_l);
}

Test(activations, softmax_and_log_softmax_many_rows) { for_each_set(check_softmax_many_rows); }

// Derivatives (dy = 1) over the forward sweep, in long double: from x for
// those that need it, from the float forward output y for those computed
// from y (then the check is of the formula given that y).
static LD dr_gelu(LD x, LD y) {
    (void)y;
    if (isinf(x)) return x > 0 ? 1 : 0;
    return 0.5L * erfcl(-x / sqrtl(2.0L)) + x * expl(-x * x / 2) / sqrtl(2 * PI_L);
}
static LD dr_gelu_tanh(LD x, LD y) {
    (void)y;
    if (isinf(x)) return x > 0 ? 1 : 0;
    LD c = sqrtl(2 / PI_L), u = c * (x + 0.044715L * x * x * x);
    LD du = c * (1 + 3 * 0.044715L * x * x);
    LD s = 1 / (1 + expl(-2 * u)), sm = 1 / (1 + expl(2 * u));
    return s + 2 * x * du * s * sm;
}
static LD dr_silu(LD x, LD y) {
    (void)y;
    if (isinf(x)) return x > 0 ? 1 : 0;
    LD s = 1 / (1 + expl(-x)), sm = 1 / (1 + expl(x));
    return s * (1 + x * sm);
}
static LD dr_softsign(LD x, LD y) {
    (void)y;
    return 1 / ((1 + fabsl(x)) * (1 + fabsl(x)));
}
static LD dr_hard_silu(LD x, LD y) {
    (void)y;
    return x <= -3 ? 0 : x >= 3 ? 1 : (2 * x + 3) / 6;
}
static LD dr_softplus(LD x, LD y) { (void)x; return -expm1l(-y); }
static LD dr_log_sigmoid(LD x, LD y) { (void)x; return -expm1l(y); }
static LD dr_exponential(LD x, LD y) { (void)x; return y; }
static LD dr_selu(LD x, LD y) {
    (void)x;
    return y < 0 ? (LD)(float)(y + SELU_S * SELU_A) : (LD)(float)SELU_S;
}

static void check_backward_over_the_sweep(void) {
    // Bounds in ulps of f'(x): the scalar code is double throughout; the
    // vector kernels compute gelu' from a fitted erfc and exp to 2^-31 (2 ulp),
    // and everything else in double or exactly as the scalar code.
    const struct { const char *spec; LD (*d)(LD, LD); int ulp, vulp; } ds[] = {
        {"gelu", dr_gelu, 1, 2},
        {"gelu(approximate=true)", dr_gelu_tanh, 1, 1},
        {"silu", dr_silu, 1, 1},
        {"softsign", dr_softsign, 1, 1},
        {"hard_silu", dr_hard_silu, 1, 1},
        {"softplus", dr_softplus, 1, 1},
        {"log_sigmoid", dr_log_sigmoid, 1, 1},
        {"exponential", dr_exponential, 0, 0},
        {"selu", dr_selu, 0, 0},
    };
    build_sweep();
    int n = n_sweep;
    float *y = malloc((size_t)n * sizeof *y), *dx = malloc((size_t)n * sizeof *dx);
    float *dy = malloc((size_t)n * sizeof *dy);
    cr_assert(y && dx && dy);
    for (int i = 0; i < n; i++) dy[i] = 1;
    fprintf(stderr, "[%s] backward max error over %d points (ulps of f'):\n", cur_set, n);
    for (size_t c = 0; c < sizeof ds / sizeof *ds; c++) {
        soma_activation a = parse_ok(ds[c].spec);
        int b = vec_set() ? ds[c].vulp : ds[c].ulp;
        soma_activation_forward(&a, y, sweep, 1, n);
        soma_activation_backward(&a, dx, sweep, y, dy, 1, n);
        int64_t worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            LD want = ds[c].d(sweep[i], y[i]);
            int64_t u = ulps(dx[i], want);
            cr_assert(u <= b, "[%s] %s'(%.9g) = %.9g, want %.12Lg (%lld ulp > %d)", cur_set,
                      ds[c].spec, sweep[i], dx[i], want, (long long)u, b);
            if (u > worst) worst = u, at = sweep[i];
        }
        fprintf(stderr, "  %-28s %lld ulp (at %g; bound %d)\n", ds[c].spec, (long long)worst, at, b);
    }
    free(y);
    free(dx);
    free(dy);
}

Test(activations, backward_within_ulp_bounds_over_the_sweep) {
    for_each_set(check_backward_over_the_sweep);
}

// The derivatives of silu and gelu near their zeros (x0 = -1.2785 and
// -0.7518), where the vector kernels switch to another path for lanes in a
// window around x0 (silu': the factor 1 + x + e^x by a series in x - x0;
// gelu': a series for Φ): every float next to x0, every 8th float of a band
// a few times as wide as the window, and the floats next to each window
// edge, within the sweep's bounds.
static void check_backward_dense_near_the_zeros(void) {
    const struct {
        const char *spec;
        LD (*d)(LD, LD);
        int ulp, vulp;
        float lo, hi, edges[2], zero;
    } ds[] = {
        {"silu", dr_silu, 1, 1, -1.40f, -1.16f, {-1.305f, -1.255f}, -1.27846454f},
        {"gelu", dr_gelu, 1, 2, -0.90f, -0.60f, {-0.80f, -0.70f}, -0.751791525f},
    };
    enum { MAXN = 1 << 20, EDGE = 64, ZERO = 4096 };
    float *x = malloc(MAXN * sizeof *x), *dx = malloc(MAXN * sizeof *dx);
    float *dy = malloc(MAXN * sizeof *dy);
    cr_assert(x && dx && dy);
    for (int i = 0; i < MAXN; i++) dy[i] = 1;
    for (size_t c = 0; c < sizeof ds / sizeof *ds; c++) {
        int n = 0;
        // Every float within ZERO/2 of the zero (the nearest is 1.3e-8 from
        // silu's, where the result is 2.8e-9 and 1 + x·σ(-x) cancels to 27
        // bits): relative accuracy there needs the cancellation taken out.
        float z = ds[c].zero;
        for (int k = 0; k < ZERO / 2; k++) z = nextafterf(z, -INFINITY);
        for (int k = 0; k < ZERO; k++, z = nextafterf(z, INFINITY)) x[n++] = z;
        for (int e = 0; e < 2; e++) {
            float v = ds[c].edges[e];
            for (int k = 0; k < EDGE / 2; k++) v = nextafterf(v, -INFINITY);
            for (int k = 0; k < EDGE; k++, v = nextafterf(v, INFINITY)) x[n++] = v;
        }
        for (float v = ds[c].lo; v <= ds[c].hi && n < MAXN; n++) {
            x[n] = v;
            for (int k = 0; k < 8; k++) v = nextafterf(v, INFINITY);
        }
        soma_activation a = parse_ok(ds[c].spec);
        soma_activation_backward(&a, dx, x, NULL, dy, 1, n);
        const int b = vec_set() ? ds[c].vulp : ds[c].ulp;
        int64_t worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            int64_t u = ulps(dx[i], ds[c].d(x[i], 0));
            cr_assert(u <= b, "[%s] %s'(%.9g) = %.9g, want %.12Lg (%lld ulp > %d)", cur_set,
                      ds[c].spec, x[i], dx[i], ds[c].d(x[i], 0), (long long)u, b);
            if (u > worst) worst = u, at = x[i];
        }
        fprintf(stderr, "[%s] %s' near its zero: %lld ulp over %d points (at %g; bound %d)\n",
                cur_set, ds[c].spec, (long long)worst, n, at, b);
    }
    free(x), free(dx), free(dy);
}

Test(activations, backward_dense_near_the_zeros) { for_each_set(check_backward_dense_near_the_zeros); }

// Inputs where formulas meet their limits: NaN, ±inf, ±0, the extremes,
// subnormals, and the edges of the vector kernels' ranges.
static const float specials[] = {
    NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
    FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e-30f, -1e-30f, 1, -1, 3, -3, 6, -6, 9, -9, 10, -10,
    10.5f, -10.5f, 20, -20, 80, -80, 80.5f, -80.5f, 88, -88, 89, -89, 104, -104, 1e4f, -1e4f,
};
#define N_SPECIALS ((int)(sizeof specials / sizeof *specials))

// NaN for NaN, and the same bits where a result is ±0 or ±inf.
static bool same_special(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (a == 0 || b == 0 || isinf(a) || isinf(b)) return memcmp(&a, &b, sizeof a) == 0;
    return true; // finite values: the sweeps' ulp bounds
}

static void check_special_values_match_scalar(void) {
    if (!vec_set()) return;
    enum { NP = N_SPECIALS * N_SPECIALS };
    float *x = malloc(NP * sizeof *x), *dy = malloc(NP * sizeof *dy), *y = malloc(NP * sizeof *y);
    float *yv = malloc(NP * sizeof *yv), *ys = malloc(NP * sizeof *ys);
    float *dv = malloc(NP * sizeof *dv), *dsc = malloc(NP * sizeof *dsc);
    cr_assert(x && dy && y && yv && ys && dv && dsc);
    // Every (x, dy) pair; as rows of N_SPECIALS for the row-wise ones.
    for (int i = 0; i < NP; i++) x[i] = specials[i % N_SPECIALS], dy[i] = specials[i / N_SPECIALS];
    for (size_t c = 0; c < N_CASES; c++) {
        soma_activation a = parse_ok(cases[c].spec);
        const float *xa = cases[c].needs_x ? x : NULL;
        soma_activation_forward(&a, yv, x, N_SPECIALS, N_SPECIALS);
        cr_assert_eq(soma_cpu_force("generic"), SOMA_OK);
        soma_activation_forward(&a, ys, x, N_SPECIALS, N_SPECIALS);
        soma_activation_forward(&a, y, x, N_SPECIALS, N_SPECIALS);
        soma_activation_backward(&a, dsc, xa, y, dy, N_SPECIALS, N_SPECIALS);
        cr_assert_eq(soma_cpu_force(cur_set), SOMA_OK);
        soma_activation_backward(&a, dv, xa, y, dy, N_SPECIALS, N_SPECIALS);
        for (int i = 0; i < NP; i++) {
            cr_assert(same_special(yv[i], ys[i]), "[%s] %s(%g) = %g, scalar code %g", cur_set,
                      cases[c].spec, x[i], yv[i], ys[i]);
            cr_assert(same_special(dv[i], dsc[i]),
                      "[%s] %s: backward at x = %g, dy = %g gives %g, scalar code %g", cur_set,
                      cases[c].spec, x[i], dy[i], dv[i], dsc[i]);
        }
    }
    free(x), free(dy), free(y), free(yv), free(ys), free(dv), free(dsc);
}

Test(activations, vector_kernels_give_the_scalar_special_values) {
    for_each_set(check_special_values_match_scalar);
}

// Every length 0..41 at every offset 0..7 (unaligned), out of place and in
// place: nothing written outside [0, n), and each element's result the same
// bits as a call on that element alone (lanes and tails computed alike);
// the row-wise ones row by row.
static bool same_bits(float a, float b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void check_lengths_offsets_in_place(void) {
    const char *specs[] = {
        "relu", "leaky_relu", "relu(max_value=6)", "relu(threshold=0.5)", "sigmoid", "tanh",
        "elu(alpha=0.5)", "selu", "gelu", "gelu(approximate=true)", "softplus", "log_sigmoid",
        "softsign", "silu", "hard_sigmoid", "hard_silu", "exponential", "relu6", "hard_tanh",
        "hard_shrink", "soft_shrink", "softmax", "log_softmax",
    };
    enum { MAXN = 41, PAD = 16, LEN = MAXN + 2 * PAD };
    float src[LEN], gsrc[LEN];
    // Mostly [-12, 12]; a few values that send lanes to the scalar code.
    const float odd[] = {-85, -11, -9.5f, NAN, INFINITY, -INFINITY, 1e-40f, 20};
    for (int i = 0; i < LEN; i++) {
        src[i] = i % 7 == 3 ? odd[(i / 7) % 8] : (float)(-12 + 24 * urand());
        gsrc[i] = (float)(2 * urand() - 1);
    }
    const float canary = -12345.5f;
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        soma_activation a = parse_ok(specs[s]);
        bool rows = a.kind == SOMA_ACT_SOFTMAX || a.kind == SOMA_ACT_LOG_SOFTMAX;
        for (int n = 0; n <= MAXN; n++)
            for (int off = 0; off < 8; off++) {
                // rows × cols = n: one row, or 3 rows when n divides.
                int64_t r = rows && n % 3 == 0 && n ? 3 : 1, cols = n ? n / r : 0;
                float y[LEN], y1[LEN], z[LEN], yy[LEN], dx[LEN], dz[LEN], d1[LEN];
                for (int i = 0; i < LEN; i++) y[i] = dx[i] = canary;
                const float *x = src + off;
                soma_activation_forward(&a, y + PAD + (7 - off), x, r, cols);
                float *yo = y + PAD + (7 - off);
                for (int i = 0; i < LEN; i++)
                    if (y + i < yo || y + i >= yo + n)
                        cr_assert(y[i] == canary, "[%s] %s n=%d off=%d: wrote outside", cur_set,
                                  specs[s], n, off);
                // Element by element (rows: row by row).
                for (int64_t i = 0; i < (rows ? r : n); i++) {
                    int64_t w = rows ? cols : 1;
                    soma_activation_forward(&a, y1 + i * w, x + i * w, 1, w);
                }
                for (int i = 0; i < n; i++)
                    cr_assert(same_bits(yo[i], y1[i]), "[%s] %s n=%d off=%d: [%d] %g alone %g",
                              cur_set, specs[s], n, off, i, yo[i], y1[i]);
                // In place.
                memcpy(z, x, (size_t)n * sizeof *z);
                soma_activation_forward(&a, z, z, r, cols);
                for (int i = 0; i < n; i++)
                    cr_assert(same_bits(z[i], yo[i]), "[%s] %s n=%d: in place", cur_set,
                              specs[s], n);
                // Backward, the same three ways.
                memcpy(yy, yo, (size_t)n * sizeof *yy);
                const float *g = gsrc + (7 - off);
                float *dxo = dx + PAD + off;
                soma_activation_backward(&a, dxo, x, yy, g, r, cols);
                for (int i = 0; i < LEN; i++)
                    if (dx + i < dxo || dx + i >= dxo + n)
                        cr_assert(dx[i] == canary, "[%s] %s n=%d off=%d: backward wrote outside",
                                  cur_set, specs[s], n, off);
                for (int64_t i = 0; i < (rows ? r : n); i++) {
                    int64_t w = rows ? cols : 1;
                    soma_activation_backward(&a, d1 + i * w, x + i * w, yy + i * w, g + i * w, 1,
                                             w);
                }
                memcpy(dz, g, (size_t)n * sizeof *dz);
                soma_activation_backward(&a, dz, x, yy, dz, r, cols);
                for (int i = 0; i < n; i++) {
                    cr_assert(same_bits(dxo[i], d1[i]), "[%s] %s n=%d off=%d: dx[%d] %g alone %g",
                              cur_set, specs[s], n, off, i, dxo[i], d1[i]);
                    cr_assert(same_bits(dz[i], dxo[i]), "[%s] %s n=%d: backward in place",
                              cur_set, specs[s], n);
                }
            }
    }
}

Test(activations, any_length_offset_and_in_place) { for_each_set(check_lengths_offsets_in_place); }

// Many rows at once (the vector kernels take narrow rows 64 at a time,
// running across row ends): each row the same bits as alone, forward and
// backward, and softmax within its bound.
static void check_many_rows_at_once(void) {
    enum { ROWS = 150, MAXC = 17 };
    const int widths[] = {1, 2, 3, 8, 10, 15, 16, 17};
    float *x = malloc(ROWS * MAXC * sizeof *x), *y = malloc(ROWS * MAXC * sizeof *y);
    float *dy = malloc(ROWS * MAXC * sizeof *dy), *dx = malloc(ROWS * MAXC * sizeof *dx);
    cr_assert(x && y && dy && dx);
    for (int i = 0; i < ROWS * MAXC; i++) {
        x[i] = (float)(-20 + 40 * urand());
        dy[i] = (float)(2 * urand() - 1);
    }
    x[5 * 10 + 3] = NAN; // one bad row among good ones
    for (int w = 0; w < 2; w++) {
        soma_activation a = parse_ok(w ? "log_softmax" : "softmax");
        for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) {
            int cols = widths[k];
            soma_activation_forward(&a, y, x, ROWS, cols);
            soma_activation_backward(&a, dx, NULL, y, dy, ROWS, cols);
            for (int r = 0; r < ROWS; r++) {
                float y1[MAXC], d1[MAXC];
                LD want[MAXC];
                soma_activation_forward(&a, y1, x + r * cols, 1, cols);
                soma_activation_backward(&a, d1, NULL, y1, dy + r * cols, 1, cols);
                ref_softmax(want, x + r * cols, cols, w == 1);
                for (int j = 0; j < cols; j++) {
                    cr_assert(same_bits(y[r * cols + j], y1[j]) && same_bits(dx[r * cols + j], d1[j]),
                              "[%s] %s cols %d row %d: differs from the row alone", cur_set,
                              w ? "log_softmax" : "softmax", cols, r);
                    cr_assert(ulps(y1[j], want[j]) <= 2, "[%s] cols %d row %d: %.9g, want %.12Lg",
                              cur_set, cols, r, y1[j], want[j]);
                }
            }
        }
    }
    free(x), free(y), free(dy), free(dx);
}

Test(activations, many_rows_at_once) { for_each_set(check_many_rows_at_once); }

// |got - want| in ulps of the float nearest want, fractional: the tests that
// hold a kernel to its proof's bound (0.63 ulp and the like), where the
// integer ulps above cannot tell 0.6 from 0.9.
static double frac_ulps(float got, LD want) {
    int e;
    frexpl(want, &e); // want = m·2^e, m in [0.5, 1): a float ulp is 2^(e - 24)
    return (double)(fabsl((LD)got - want) / ldexpl(1.0L, e - 24));
}

// y, softmax of rows × cols of x computed together: each row the same bits
// as computed alone and within 2 ulp of ref_softmax; where frac_bound > 0,
// normal results within frac_bound fractional ulps. Returns the largest ulp
// error, and the largest fractional one of normal results in *frac (if not
// NULL).
static int64_t check_softmax_rows(const soma_activation *a, const float *x, const float *y,
                                  int rows, int cols, double frac_bound, double *frac) {
    enum { MAXC = 32 };
    cr_assert(cols <= MAXC);
    int64_t worst = 0;
    for (int r = 0; r < rows; r++) {
        float y1[MAXC];
        LD want[MAXC];
        soma_activation_forward(a, y1, x + r * cols, 1, cols);
        ref_softmax(want, x + r * cols, cols, false);
        for (int j = 0; j < cols; j++) {
            const float got = y[r * cols + j], xj = x[r * cols + j];
            cr_assert(same_bits(got, y1[j]), "[%s] cols %d row %d: [%d] %a, alone %a", cur_set,
                      cols, r, j, got, y1[j]);
            const int64_t u = ulps(got, want[j]);
            cr_assert(u <= 2, "[%s] cols %d row %d: softmax[%d] of %a = %a, want %.12Lg", cur_set,
                      cols, r, j, xj, got, want[j]);
            worst = u > worst ? u : worst;
            if (!(fabsl(want[j]) >= 0x1p-126L)) continue; // subnormal, 0 or NaN
            const double f = frac_ulps(got, want[j]);
            cr_assert(frac_bound <= 0 || f <= frac_bound,
                      "[%s] cols %d row %d: softmax[%d] of %a = %a, want %.12Lg (%.3f ulp > %.2f)",
                      cur_set, cols, r, j, xj, got, want[j], f, frac_bound);
            if (frac && f > *frac) *frac = f;
        }
    }
    return worst;
}

// Narrow rows (cols < 32: the vector kernels' row-group path, 16 rows to a
// vector of row maxima and sums, an inline float exponential on AVX-512)
// over more rows than one group or chunk, every width: within 2 ulp of long
// double (and each row the same bits as alone) for rows of random scale and
// for rows holding ±88, ±1e4 and tiny values; and rows of the special values give the scalar code's NaN, ±0 and
// ±inf bits.
static void check_narrow_softmax_rows(void) {
    enum { ROWS = 100, MAXC = 31 };
    soma_activation a = parse_ok("softmax");
    float *x = malloc(ROWS * MAXC * sizeof *x), *y = malloc(ROWS * MAXC * sizeof *y);
    float *ys = malloc(ROWS * MAXC * sizeof *ys);
    cr_assert(x && y && ys);
    const float odd[] = {88, -88, 1e4f, -1e4f, 1e-40f, -30, 20, 0};
    int64_t worst = 0;
    for (int cols = 1; cols <= MAXC; cols++) {
        for (int r = 0; r < ROWS; r++) {
            double scale = pow(10.0, -2 + 6 * urand());
            for (int j = 0; j < cols; j++) x[r * cols + j] = (float)(scale * (2 * urand() - 1));
            if (r % 5 == 1) x[r * cols + (r / 5) % cols] = odd[r % 8];
        }
        soma_activation_forward(&a, y, x, ROWS, cols);
        const int64_t u = check_softmax_rows(&a, x, y, ROWS, cols, 0, NULL);
        worst = u > worst ? u : worst;
        // Rows of the special values, each row a different rotation.
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < cols; j++) x[r * cols + j] = specials[(r + 7 * j) % N_SPECIALS];
        soma_activation_forward(&a, y, x, ROWS, cols);
        const char *set = cur_set;
        cr_assert_eq(soma_cpu_force("generic"), SOMA_OK);
        soma_activation_forward(&a, ys, x, ROWS, cols);
        cr_assert_eq(soma_cpu_force(set), SOMA_OK);
        for (int i = 0; i < ROWS * cols; i++)
            cr_assert(same_special(y[i], ys[i]), "[%s] cols %d row %d: softmax[%d] = %g, scalar %g",
                      cur_set, cols, i / cols, i % cols, y[i], ys[i]);
    }
    fprintf(stderr, "[%s] narrow softmax rows, widths 1..%d: max %lld ulp\n", cur_set, MAXC,
            (long long)worst);
    free(x), free(y), free(ys);
}

Test(activations, narrow_softmax_rows) { for_each_set(check_narrow_softmax_rows); }

// Narrow softmax rows wider than one block of the widest set (two blocks of
// 16 per row) over more rows than the kernels take at once: each row the
// same bits as alone, within 2 ulp.
static void check_softmax_two_block_rows(void) {
    enum { ROWS = 70, MAXC = 31 };
    const int widths[] = {17, 20, 31};
    soma_activation a = parse_ok("softmax");
    float *x = malloc(ROWS * MAXC * sizeof *x), *y = malloc(ROWS * MAXC * sizeof *y);
    cr_assert(x && y);
    for (int i = 0; i < ROWS * MAXC; i++) x[i] = (float)(-30 + 60 * urand());
    for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) {
        const int cols = widths[k];
        soma_activation_forward(&a, y, x, ROWS, cols);
        check_softmax_rows(&a, x, y, ROWS, cols, 0, NULL);
    }
    free(x), free(y);
}

Test(activations, softmax_two_block_rows) { for_each_set(check_softmax_two_block_rows); }

// The AVX2 set's inline float exponential (kernels/avx2/act_avx2.c: vf_exp_in
// for exponential, sigmoid and silu, whose polynomial and tables
// vf_exp_shifted shares for softmax rows) is proven within 0.63 ulp of e^x;
// exponential on that set is vf_exp_in itself for |x| <= 87. Every 37th float
// of [-87, 87] (6·10^7, all of the polynomial's range and of the table's
// entries) against double's exp, in fractional ulps of the float result, so
// that a coefficient or table entry off by more than the proof's slack
// fails, where the 1-ulp bound of the sweep would not notice. Other sets
// (SLEEF, libm) are held to their integer bound on a sparser grid.
static void check_inline_exp_dense_sweep(void) {
    const bool inline_exp = !strcmp(soma_activation_kernels_name(), "avx2");
    const uint32_t top = 0x42ae0000u; // 87.0f
    const uint32_t stride = inline_exp ? 37 : 3701;
    enum { N = 1 << 16 };
    soma_activation a = parse_ok("exponential");
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    cr_assert(x && y);
    double worst = 0;
    float at = 0;
    int n = 0;
    for (uint64_t b = 0;; b += stride) {
        const bool last = b > 2ull * top;
        if (!last) {
            // bits b over [-87, 87]: the negatives from -87 up, then the positives
            uint32_t u = b < top ? (0x80000000u | (top - (uint32_t)b)) : (uint32_t)(b - top);
            memcpy(&x[n++], &u, sizeof u);
        }
        if (n == N || (last && n)) {
            soma_activation_forward(&a, y, x, 1, n);
            for (int i = 0; i < n; i++) {
                const double want = exp((double)x[i]), d = frac_ulps(y[i], want);
                if (inline_exp)
                    cr_assert(d <= 0.63, "[%s] exp(%a) = %a, want %a (%.3f ulp > 0.63)", cur_set,
                              x[i], y[i], want, d);
                else
                    cr_assert(ulps(y[i], want) <= 1, "[%s] exp(%a) = %a, want %a", cur_set, x[i],
                              y[i], want);
                if (d > worst) worst = d, at = x[i];
            }
            n = 0;
        }
        if (last) break;
    }
    fprintf(stderr, "[%s] exponential, every %u-th float of [-87, 87]: max %.4f ulp (at %a)\n",
            cur_set, stride, worst, at);
    free(x), free(y);
}

Test(activations, inline_exp_dense_sweep) { for_each_set(check_inline_exp_dense_sweep); }

// tanh and softplus on the AVX2 and AVX-512 sets are computed in double from
// the body's own exp pieces and rounded once (kernels/act_body.h: TANH_FROM_EXPM1,
// SOFTPLUS_IN_DOUBLE: within 2^-29 and 2^-29 of the result before that
// rounding, 0.53 and 0.51 ulp in all): every 4099th float of [-20, 20]
// (5·10^5 points through both ranges of softplus' log1p and tanh's
// saturation) against long double in fractional ulps, so that a series
// coefficient or a fit off by more than that slack fails. Other sets are
// held to their integer bound (1 ulp) on the same points.
static LD r_softplus_l(LD x) { return (x > 0 ? x : 0) + log1pl(expl(-fabsl(x))); }
static void check_double_kernels_dense_sweep(void) {
    const char *set = soma_activation_kernels_name();
    const bool in_double = !strcmp(set, "avx2") || !strcmp(set, "avx512");
    const uint32_t top = 0x41a00000u; // 20.0f
    enum { STRIDE = 4099 };
    const char *specs[2] = {"tanh", "softplus"};
    const double frac_bound[2] = {0.53, 0.51};
    const int n = (int)(2ull * top / STRIDE) + 1;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    cr_assert(x && y);
    for (int i = 0; i < n; i++) {
        const uint64_t b = (uint64_t)i * STRIDE;
        uint32_t u = b < top ? (0x80000000u | (top - (uint32_t)b)) : (uint32_t)(b - top);
        memcpy(&x[i], &u, sizeof u);
    }
    for (int f = 0; f < 2; f++) {
        soma_activation a = parse_ok(specs[f]);
        soma_activation_forward(&a, y, x, 1, n);
        double worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            const LD want = f ? r_softplus_l(x[i]) : tanhl(x[i]);
            if (want == 0) {
                cr_assert(y[i] == 0, "[%s] %s(%a) = %a, want 0", cur_set, specs[f], x[i], y[i]);
                continue;
            }
            const double d = frac_ulps(y[i], want);
            if (in_double)
                cr_assert(d <= frac_bound[f], "[%s] %s(%a) = %a, want %.12La (%.3f ulp > %.2f)",
                          cur_set, specs[f], x[i], y[i], want, d, frac_bound[f]);
            else
                cr_assert(ulps(y[i], want) <= 1, "[%s] %s(%a) = %a, want %.12La", cur_set,
                          specs[f], x[i], y[i], want);
            if (d > worst) worst = d, at = x[i];
        }
        fprintf(stderr, "[%s] %s, every %d-th float of [-20, 20]: max %.4f ulp (at %a)\n", cur_set,
                specs[f], STRIDE, worst, at);
    }
    free(x), free(y);
}

Test(activations, double_kernels_dense_sweep) { for_each_set(check_double_kernels_dense_sweep); }

// Softmax's shifted exponentials e^{x - m} where x - m is not a float (its
// rounding error folded in) and where e^{x - m} is subnormal (AVX2: a
// second scaling step): rows [m, x] and rows [m, x, -inf...] (the wide-row
// path of every set), m random in ±50, x - m dense over [-104, 0], within
// 2 ulp of long double (absolute 2^-148 in the subnormals, where a scaling
// off by a power of 2 or a dropped rounding error shows at once).
static void check_softmax_shifted_exp_dense(void) {
    enum { ROWS = 20000, WIDE = 40 };
    soma_activation a = parse_ok("softmax");
    float *x = malloc(ROWS * WIDE * sizeof *x), *y = malloc(ROWS * WIDE * sizeof *y);
    cr_assert(x && y);
    int64_t worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        const int cols = pass ? WIDE : 2, rows = pass ? ROWS / 8 : ROWS;
        for (int r = 0; r < rows; r++) {
            const float m = (float)(100 * urand() - 50);
            const double d = -104.0 * (r + urand()) / rows;
            float *row = x + r * cols;
            row[0] = m;
            row[1] = (float)(m + d);
            if (row[1] > m) row[1] = m;
            for (int j = 2; j < cols; j++) row[j] = -INFINITY;
        }
        soma_activation_forward(&a, y, x, rows, cols);
        for (int r = 0; r < rows; r++) {
            LD want[WIDE];
            ref_softmax(want, x + r * cols, cols, false);
            for (int j = 0; j < 2; j++) {
                const int64_t u = ulps(y[r * cols + j], want[j]);
                cr_assert(u <= 2, "[%s] cols %d: softmax(%a, %a)[%d] = %a, want %.12Lg", cur_set,
                          cols, x[r * cols], x[r * cols + 1], j, y[r * cols + j], want[j]);
                worst = u > worst ? u : worst;
            }
        }
    }
    fprintf(stderr, "[%s] softmax rows [m, m + d], d over [-104, 0]: max %lld ulp\n", cur_set,
            (long long)worst);
    free(x), free(y);
}

Test(activations, softmax_shifted_exp_dense) { for_each_set(check_softmax_shifted_exp_dense); }

// Concurrent calls share nothing but the read-only dispatch: the same bits
// as one thread's.
typedef struct {
    soma_activation a;
    const float *x;
    float *y;
    int64_t n;
} act_job;

static void *act_job_run(void *p) {
    act_job *j = p;
    for (int rep = 0; rep < 20; rep++) soma_activation_forward(&j->a, j->y, j->x, j->n / 100, 100);
    return NULL;
}

static void check_threads(void) {
    enum { N = 20000 };
    const char *specs[] = {"sigmoid", "gelu", "softmax", "silu"};
    float *x = malloc(N * sizeof *x), *want = malloc(N * sizeof *want);
    float *y[2] = {malloc(N * sizeof(float)), malloc(N * sizeof(float))};
    cr_assert(x && want && y[0] && y[1]);
    for (int i = 0; i < N; i++) x[i] = (float)(-15 + 30 * urand());
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        act_job j[2];
        for (int t = 0; t < 2; t++) j[t] = (act_job){parse_ok(specs[s]), x, y[t], N};
        soma_activation_forward(&j[0].a, want, x, N / 100, 100);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, act_job_run, &j[1]), 0);
        act_job_run(&j[0]);
        cr_assert_eq(pthread_join(th, NULL), 0);
        for (int t = 0; t < 2; t++)
            cr_assert(memcmp(y[t], want, N * sizeof *want) == 0, "[%s] %s: thread %d differs",
                      cur_set, specs[s], t);
    }
    free(x), free(want), free(y[0]), free(y[1]);
}

Test(activations, concurrent_calls_agree) {
    if (getenv("SOMA_TEST_EMULATED"))
        cr_skip_test("under %s: qemu-user 7.2 aborts a forked child of a threaded process that "
                     "starts threads", getenv("SOMA_TEST_EMULATED"));
    for_each_set(check_threads);
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


// silu on the AVX2 set takes whole pairs of blocks with every lane in
// [-16, 87] through a shorter form of its kernel (kernels/avx2/act_avx2.c:
// silu_pair, the same bits as k_silu, which other pairs, the tail and a lone
// element take): every 997th float of [-17, 88], and every float within
// 4096 of -16.6, -16, 0, 87 and 87.5 (where pairs mix lanes on both sides of
// the split) and of 89, 100 and 150 (past it), within silu's 2 ulp of long
// double and bit for bit as each element alone.
static void check_silu_pair_split(void) {
    enum { AROUND = 4096, NC = 8 };
    const float centers[NC] = {-16.6f, -16.0f, 0.0f, 87.0f, 87.5f, 89.0f, 100.0f, 150.0f};
    const uint32_t lo = 0xc1880000u, hi = 0x42b00000u; // -17, 88
    const int64_t nsweep = (int64_t)((lo - 0x80000000u) + hi) / 997 + 1;
    const int64_t n = nsweep + NC * 2 * AROUND;
    soma_activation a = parse_ok("silu");
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    cr_assert(x && y);
    int64_t k = 0;
    for (int64_t i = 0; i < nsweep; i++) {
        const uint64_t b = (uint64_t)i * 997; // -17 up to -0, then +0 up to 88
        uint32_t u = b <= lo - 0x80000000u ? lo - (uint32_t)b : (uint32_t)(b - (lo - 0x80000000u));
        memcpy(&x[k++], &u, sizeof u);
    }
    for (int c = 0; c < NC; c++) {
        float v = centers[c];
        for (int j = 0; j < AROUND; j++) v = nextafterf(v, -INFINITY);
        for (int j = 0; j < 2 * AROUND; j++, v = nextafterf(v, INFINITY)) x[k++] = v;
    }
    cr_assert_eq(k, n);
    soma_activation_forward(&a, y, x, 1, n);
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t u = ulps(y[i], r_silu(x[i], NULL));
        cr_assert(u <= 2, "[%s] silu(%a) = %a, want %.12Lg", cur_set, x[i], y[i],
                  r_silu(x[i], NULL));
        worst = u > worst ? u : worst;
        float y1;
        soma_activation_forward(&a, &y1, &x[i], 1, 1);
        cr_assert(same_bits(y[i], y1), "[%s] silu(%a) = %a, alone %a", cur_set, x[i], y[i], y1);
    }
    fprintf(stderr, "[%s] silu over [-17, 88] and its splits: max %lld ulp over %lld points\n",
            cur_set, (long long)worst, (long long)n);
    // A pair's test takes one minimum and one maximum of its two blocks,
    // which return the second block's lane where either is NaN: every two
    // values of these in the same lane of a pair's blocks (and others 1).
    const float sp[] = {NAN, -NAN, INFINITY, -INFINITY, -100, -17, 100, 1, 0, -0.0f};
    enum { NS = sizeof sp / sizeof *sp };
    float xp[2 * 8 * 2], yp[2 * 8 * 2];
    for (int i = 0; i < NS; i++)
        for (int j = 0; j < NS; j++)
            for (int lane = 0; lane < 8; lane += 7) {
                for (int t = 0; t < 32; t++) xp[t] = 1;
                xp[lane] = sp[i], xp[8 + lane] = sp[j]; // a pair of 8-float blocks
                xp[16 + lane] = sp[i], xp[16 + 8 + lane] = sp[j]; // or the halves of one of 16
                soma_activation_forward(&a, yp, xp, 1, 32);
                for (int t = 0; t < 32; t++) {
                    float y1;
                    soma_activation_forward(&a, &y1, &xp[t], 1, 1);
                    cr_assert(same_bits(yp[t], y1), "[%s] silu(%a) = %a in a pair, alone %a",
                              cur_set, xp[t], yp[t], y1);
                    cr_assert(ulps(yp[t], r_silu(xp[t], NULL)) <= 2, "[%s] silu(%a) = %a",
                              cur_set, xp[t], yp[t]);
                }
            }
    free(x), free(y);
}

Test(activations, silu_pair_split) { for_each_set(check_silu_pair_split); }

// Narrow softmax rows on the AVX2 set take e^{x - K·ln2}, K = round(m·log2 e),
// for rows whose maximum m is within ±64 and lanes x >= m - 86, and recompute
// other lanes (below m - 86, NaN) and rows (|m| > 64, inf, NaN) another way
// (kernels/avx2/act_avx2.c: HAVE_EXP_ROWSHIFT). Rows of widths 1..15 centred
// on both sides of ±64 and elsewhere, spread so that lanes fall on both
// sides of m - 86 (and past m - 104, where results are 0), some with -inf
// or NaN: within 2 ulp of long double, and each row the same bits alone as
// among others. The largest error of normal results, in fractional ulps,
// is held to 1.8 on that set (1.69 there; 1.97 when the sums lack the
// maxima's own rounding, rowshift_fix; 1.74 with vf_exp_shifted).
static void check_softmax_rowshift(void) {
    enum { ROWS = 203, MAXC = 15, ROUNDS = 40 };
    const float centers[] = {0, 8, -8, 63.9f, 64, 64.01f, -63.9f, -64, -64.01f, 100, -100, 1e4f};
    const float spreads[] = {1, 20, 85.9f, 86.1f, 90, 110, 200};
    soma_activation a = parse_ok("softmax");
    float *x = malloc(ROWS * MAXC * sizeof *x), *y = malloc(ROWS * MAXC * sizeof *y);
    cr_assert(x && y);
    int64_t worst = 0;
    double worst_frac = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int cols = 1; cols <= MAXC; cols++) {
            for (int r = 0; r < ROWS; r++) {
                const float c = centers[(int)(urand() * (sizeof centers / sizeof *centers))];
                const float s = spreads[(int)(urand() * (sizeof spreads / sizeof *spreads))];
                float *xr = x + r * cols;
                xr[0] = c; // the maximum, then lanes below it
                for (int j = 1; j < cols; j++) xr[j] = (float)(c - s * urand());
                if (cols > 1 && urand() < 0.3) xr[1] = (float)(c - 86 + 0.01 * (2 * urand() - 1));
                if (cols > 2 && r % 37 == 5) xr[2] = -INFINITY;
                if (cols > 2 && r % 41 == 7) xr[2] = NAN;
                for (int j = cols - 1; j > 0; j--) { // the maximum anywhere
                    const int i = (int)(urand() * (j + 1));
                    const float t = xr[j];
                    xr[j] = xr[i], xr[i] = t;
                }
            }
            soma_activation_forward(&a, y, x, ROWS, cols);
            const int64_t u = check_softmax_rows(&a, x, y, ROWS, cols,
                                                 strcmp(cur_set, "avx2") ? 0 : 1.8, &worst_frac);
            worst = u > worst ? u : worst;
        }
    }
    fprintf(stderr, "[%s] softmax rows about ±64 and m - 86: max %lld ulp (normal results %.3f)\n",
            cur_set, (long long)worst, worst_frac);
    free(x), free(y);
}

Test(activations, softmax_rowshift) { for_each_set(check_softmax_rowshift); }
