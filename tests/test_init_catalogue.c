// The rest of Keras' initializers (identity, truncated_normal,
// variance_scaling and its presets glorot_normal, he_uniform, lecun_normal,
// lecun_uniform) checked against KERAS.md §1: exact values for identity,
// sample statistics against the stated distributions for the random ones
// (moments worked out here in double precision from first principles), the
// fan rules (fans come from the caller, max(1, fan)), determinism, Keras'
// name forms and parameter validation.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "plugin/registry.h"

// Values written just past the tensor: a plugin that writes them went out of
// bounds.
#define GUARD 16
#define GUARD_VAL (-12345.5f)
// How many standard errors a sample statistic may stray. Seeds are fixed, so
// a pass is reproducible; 5 SE leaves a correct implementation far from the
// edge while any wrong scale (a wrong fan, a missing 0.8796, sqrt(3) for
// sqrt(6)) is off by dozens of SE at these sample sizes.
#define K_SE 5.0
// Sample size for each distribution check.
#define ROWS 400
#define COLS 500
#define NS ((int64_t)ROWS * COLS)

// Standard normal truncated to [-2, 2] (a = 2, P = erf(a/√2),
// φ = exp(-a²/2)/√(2π)): variance 1 - 2aφ/P, fourth moment 3 - 2φ(a³+3a)/P,
// fraction within ±1 erf(1/√2)/P.
static double trunc_var1(void) {
    const double a = 2.0, P = erf(a / sqrt(2.0)), phi = exp(-a * a / 2) / sqrt(2 * M_PI);
    return 1 - 2 * a * phi / P;
}
static double trunc_m4_1(void) {
    const double a = 2.0, P = erf(a / sqrt(2.0)), phi = exp(-a * a / 2) / sqrt(2 * M_PI);
    return 3 - 2 * phi * (a * a * a + 3 * a) / P;
}

static soma_obj *make(const char *spec) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_INIT, spec, &o);
    cr_assert_eq(rc, SOMA_OK, "create '%s' failed: %d %s", spec, rc, soma_last_error());
    cr_assert_not_null(o);
    return o;
}

static int64_t numel_of(int ndim, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    return n;
}

// Keras' compute_fans, written from the KERAS.md §1.4 table.
static soma_fans keras_fans(int ndim, const int64_t *d) {
    if (ndim == 0) return (soma_fans){ 1, 1 };
    if (ndim == 1) return (soma_fans){ (double)d[0], (double)d[0] };
    if (ndim == 2) return (soma_fans){ (double)d[0], (double)d[1] };
    double rf = 1;
    for (int i = 0; i < ndim - 2; i++) rf *= (double)d[i];
    return (soma_fans){ (double)d[ndim - 2] * rf, (double)d[ndim - 1] * rf };
}

// Fills a fresh buffer (NaN inside, guard values after) through the plugin's
// fill with the given fans; the plugin's status goes to *rc.
static float *fill_fans(soma_obj *o, uint64_t seed, int ndim, const int64_t *dims,
                        soma_fans fans, int *rc) {
    int64_t n = numel_of(ndim, dims);
    float *p = malloc((size_t)(n + GUARD) * sizeof(float));
    cr_assert_not_null(p);
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    for (int64_t i = n; i < n + GUARD; i++) p[i] = GUARD_VAL;
    soma_rng r;
    soma_rng_init(&r, seed, 0);
    soma_ctx c = soma_ctx_make(&r);
    soma_tview v = { .data = p, .ndim = ndim };
    for (int i = 0; i < ndim; i++) v.dims[i] = dims[i];
    *rc = soma_obj_init(o)->fill(&o->inst, &c, &v, &fans);
    for (int64_t i = n; i < n + GUARD; i++)
        cr_assert_eq(p[i], GUARD_VAL, "fill wrote past the end (index %lld)",
                     (long long)i);
    return p;
}

// fill_fans for a spec with the given fans; asserts success and that every
// element was written with a finite value.
static float *fill_spec_fans(const char *spec, uint64_t seed, int ndim,
                             const int64_t *dims, soma_fans fans) {
    soma_obj *o = make(spec);
    int rc;
    float *p = fill_fans(o, seed, ndim, dims, fans, &rc);
    cr_assert_eq(rc, SOMA_OK, "fill '%s' failed: %s", spec, soma_last_error());
    int64_t n = numel_of(ndim, dims);
    for (int64_t i = 0; i < n; i++)
        cr_assert(isfinite(p[i]), "'%s': element %lld not written or not finite",
                  spec, (long long)i);
    soma_obj_free(o);
    return p;
}

static float *fill_spec(const char *spec, uint64_t seed, int ndim, const int64_t *dims) {
    return fill_spec_fans(spec, seed, ndim, dims, keras_fans(ndim, dims));
}

typedef struct stats {
    double mean, var, min, max;
    double frac_in; // fraction with |x - centre| < half_width
} stats;

static stats stats_of(const float *x, int64_t n, double centre, double half_width) {
    stats s = { 0, 0, INFINITY, -INFINITY, 0 };
    for (int64_t i = 0; i < n; i++) s.mean += x[i];
    s.mean /= (double)n;
    int64_t in = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - s.mean;
        s.var += d * d;
        if (x[i] < s.min) s.min = x[i];
        if (x[i] > s.max) s.max = x[i];
        if (fabs(x[i] - centre) < half_width) in++;
    }
    s.var /= (double)n;
    s.frac_in = (double)in / (double)n;
    return s;
}

static void expect_near(const char *what, const char *stat, double got, double want,
                        double se) {
    cr_expect(fabs(got - want) <= K_SE * se,
              "%s: %s got %.9g, want %.9g (%.2f standard errors off, SE %.3g)", what,
              stat, got, want, fabs(got - want) / se, se);
}

// U[a, b): mean (a+b)/2, variance w²/12, fourth central moment w⁴/80; the
// bounds are reached to within w/1000 (odds of missing: (1 - 1e-3)^n, nil).
static void check_uniform(const char *what, const float *p, int64_t n, double a, double b) {
    double w = b - a;
    stats s = stats_of(p, n, a + w / 8, w / 8); // the lowest quarter
    cr_expect(s.min >= (float)a, "%s: min %.9g below %g", what, s.min, a);
    cr_expect(s.max <= (float)b, "%s: max %.9g above %g", what, s.max, b);
    cr_expect(s.min < a + w * 1e-3, "%s: min %.9g far from %g", what, s.min, a);
    cr_expect(s.max > b - w * 1e-3, "%s: max %.9g far from %g", what, s.max, b);
    double var = w * w / 12, m4 = w * w * w * w / 80;
    expect_near(what, "uniform mean", s.mean, (a + b) / 2, sqrt(var / (double)n));
    expect_near(what, "uniform variance", s.var, var, sqrt((m4 - var * var) / (double)n));
    expect_near(what, "uniform lowest-quarter fraction", s.frac_in, 0.25,
                sqrt(0.25 * 0.75 / (double)n));
}

// N(mu, sd²): SE(var) = sqrt(2/n)·sd²; fraction within ±sd is erf(1/√2);
// 2e5 untruncated draws reach beyond 4 sd (odds of not: (1 - 6.3e-5)^2e5).
static void check_normal(const char *what, const float *p, int64_t n, double mu, double sd) {
    stats s = stats_of(p, n, mu, sd);
    expect_near(what, "normal mean", s.mean, mu, sd / sqrt((double)n));
    expect_near(what, "normal variance", s.var, sd * sd, sqrt(2.0 / (double)n) * sd * sd);
    double p1 = erf(1.0 / sqrt(2.0));
    expect_near(what, "normal fraction within 1 sd", s.frac_in, p1,
                sqrt(p1 * (1 - p1) / (double)n));
    cr_expect(s.max > mu + 4 * sd && s.min < mu - 4 * sd,
              "%s: range [%g, %g] too narrow for an untruncated normal", what, s.min,
              s.max);
}

// N(mu, sraw²) cut at mu ± 2·sraw: std sraw·sqrt(var1) ≈ 0.8796·sraw.
static void check_truncated(const char *what, const float *p, int64_t n, double mu,
                            double sraw) {
    double var = trunc_var1() * sraw * sraw;
    double m4 = trunc_m4_1() * sraw * sraw * sraw * sraw;
    stats s = stats_of(p, n, mu, sraw);
    // The cut, computed in float by the host: allow a few ulps.
    double bound = 2 * sraw * (1 + 1e-6) + 1e-6 * fabs(mu);
    cr_expect(s.max <= mu + bound && s.min >= mu - bound,
              "%s: range [%g, %g] exceeds mean ± 2 sigma = %g ± %g", what, s.min, s.max,
              mu, 2 * sraw);
    // ... and it reaches near the cut: P(|z| in (1.95, 2]) ≈ 0.4% per draw.
    cr_expect(s.max > mu + 1.95 * sraw && s.min < mu - 1.95 * sraw,
              "%s: range [%g, %g] does not reach near mean ± 2 sigma", what, s.min, s.max);
    expect_near(what, "truncated mean", s.mean, mu, sqrt(var / (double)n));
    expect_near(what, "truncated variance", s.var, var, sqrt((m4 - var * var) / (double)n));
    double p1 = erf(1.0 / sqrt(2.0)) / erf(2.0 / sqrt(2.0));
    expect_near(what, "truncated fraction within 1 raw sigma", s.frac_in, p1,
                sqrt(p1 * (1 - p1) / (double)n));
}

// The std a VarianceScaling truncated normal has AFTER truncation is the
// target; the raw sigma is target / 0.8796.
static void check_vs_truncated(const char *what, const float *p, int64_t n, double target) {
    check_truncated(what, p, n, 0.0, target / sqrt(trunc_var1()));
}

// ---------------------------------------------------------------------------
// identity

static void expect_eye(const char *spec, int64_t rows, int64_t cols, float gain) {
    const int64_t dims[] = { rows, cols };
    float *p = fill_spec(spec, 1, 2, dims);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            cr_expect_eq(p[i * cols + j], i == j ? gain : 0.0f,
                         "'%s' (%lld x %lld)[%lld][%lld] = %g", spec, (long long)rows,
                         (long long)cols, (long long)i, (long long)j, p[i * cols + j]);
    free(p);
}

Test(identity, exact_square_and_non_square) {
    expect_eye("identity", 5, 5, 1.0f);
    expect_eye("Identity", 1, 1, 1.0f);
    expect_eye("IdentityInitializer", 4, 4, 1.0f);
    expect_eye("identity", 3, 7, 1.0f); // wide: ones on the leading diagonal
    expect_eye("identity", 7, 3, 1.0f); // tall
    expect_eye("identity(gain=2.5)", 3, 7, 2.5f);
    expect_eye("identity(gain=-0.5)", 6, 2, -0.5f);
    expect_eye("identity(gain=0)", 3, 3, 0.0f);
}

Test(identity, empty_matrix) {
    soma_obj *o = make("identity");
    const int64_t dims[] = { 0, 4 };
    int rc;
    float *p = fill_fans(o, 1, 2, dims, keras_fans(2, dims), &rc);
    cr_expect_eq(rc, SOMA_OK, "%s", soma_last_error());
    free(p);
    soma_obj_free(o);
}

Test(identity, rejects_rank_other_than_2) {
    soma_obj *o = make("identity");
    int rc;
    const int64_t v[] = { 8 }, t3[] = { 2, 3, 3 }, conv[] = { 3, 3, 4, 4 };
    float *p = fill_fans(o, 1, 1, v, keras_fans(1, v), &rc);
    cr_expect_eq(rc, SOMA_E_SHAPE, "rank 1: got %d", rc);
    cr_expect(strstr(soma_last_error(), "rank") != NULL, "message: %s", soma_last_error());
    free(p);
    p = fill_fans(o, 1, 3, t3, keras_fans(3, t3), &rc);
    cr_expect_eq(rc, SOMA_E_SHAPE, "rank 3: got %d", rc);
    free(p);
    p = fill_fans(o, 1, 4, conv, keras_fans(4, conv), &rc);
    cr_expect_eq(rc, SOMA_E_SHAPE, "rank 4: got %d", rc);
    free(p);
    p = fill_fans(o, 1, 0, NULL, keras_fans(0, NULL), &rc);
    cr_expect_eq(rc, SOMA_E_SHAPE, "rank 0: got %d", rc);
    free(p);
    soma_obj_free(o);
}

// ---------------------------------------------------------------------------
// truncated_normal: no correction factor, so std ≈ 0.8796·stddev.

Test(truncated_normal, defaults_and_params) {
    const int64_t dims[] = { ROWS, COLS };
    // The documented constant is the one derived here.
    cr_assert_float_eq(sqrt(trunc_var1()), 0.87962566103423978, 1e-12);

    float *p = fill_spec("truncated_normal", 11, 2, dims);
    check_truncated("truncated_normal", p, NS, 0.0, 0.05);
    // Spelled out: the std is 0.8796 · 0.05 = 0.04398, not 0.05.
    stats s = stats_of(p, NS, 0, 1);
    cr_expect(fabs(sqrt(s.var) - 0.8796 * 0.05) < 0.0005, "std %g, want ~%g",
              sqrt(s.var), 0.8796 * 0.05);
    free(p);

    p = fill_spec("TruncatedNormal(mean=1, stddev=2)", 12, 2, dims);
    check_truncated("TruncatedNormal(1, 2)", p, NS, 1.0, 2.0);
    free(p);
    p = fill_spec("truncated_normal(mean=-3, stddev=0.001)", 13, 2, dims);
    check_truncated("truncated_normal(-3, 0.001)", p, NS, -3.0, 0.001);
    free(p);
}

Test(truncated_normal, fans_do_not_matter) {
    // Not a VarianceScaling: the fans passed in change nothing.
    const int64_t dims[] = { 10, 20 };
    float *a = fill_spec_fans("truncated_normal", 14, 2, dims, (soma_fans){ 10, 20 });
    float *b = fill_spec_fans("truncated_normal", 14, 2, dims, (soma_fans){ 1e6, 3 });
    cr_expect(memcmp(a, b, 200 * sizeof(float)) == 0);
    free(a);
    free(b);
}

// ---------------------------------------------------------------------------
// variance_scaling: every mode × distribution.

static double mode_fan(const char *mode, soma_fans f) {
    double n = strcmp(mode, "fan_in") == 0    ? f.fan_in
               : strcmp(mode, "fan_out") == 0 ? f.fan_out
                                              : (f.fan_in + f.fan_out) / 2;
    return n < 1 ? 1 : n;
}

// Fills with `spec` and checks against VarianceScaling(scale, mode, dist) for
// the fans given; dist "normal" is the truncated normal.
static void check_vs(const char *spec, uint64_t seed, int ndim, const int64_t *dims,
                     soma_fans fans, double scale, const char *mode, const char *dist) {
    float *p = fill_spec_fans(spec, seed, ndim, dims, fans);
    int64_t n = numel_of(ndim, dims);
    double var = scale / mode_fan(mode, fans);
    char what[200];
    snprintf(what, sizeof what, "%s with fans (%g, %g)", spec, fans.fan_in, fans.fan_out);
    if (strcmp(dist, "uniform") == 0)
        check_uniform(what, p, n, -sqrt(3 * var), sqrt(3 * var));
    else if (strcmp(dist, "untruncated_normal") == 0)
        check_normal(what, p, n, 0.0, sqrt(var));
    else
        check_vs_truncated(what, p, n, sqrt(var));
    free(p);
}

Test(variance_scaling, every_mode_and_distribution) {
    static const char *const modes[] = { "fan_in", "fan_out", "fan_avg" };
    static const char *const dists[] = { "truncated_normal", "normal", "untruncated_normal",
                                         "uniform" };
    // Fans far apart, so a wrong mode is off by a large factor: 200, 1000, 600.
    const int64_t dims[] = { 200, 1000 };
    soma_fans f = keras_fans(2, dims);
    uint64_t seed = 100;
    for (int m = 0; m < 3; m++)
        for (int d = 0; d < 4; d++) {
            char spec[160];
            double scale = d % 2 ? 2.5 : 1.0;
            snprintf(spec, sizeof spec, "variance_scaling(scale=%g, mode=%s, distribution=%s)",
                     scale, modes[m], dists[d]);
            check_vs(spec, seed++, 2, dims, f, scale, modes[m], dists[d]);
        }
}

Test(variance_scaling, defaults_and_spellings) {
    const int64_t dims[] = { 300, 700 };
    soma_fans f = keras_fans(2, dims);
    // Keras' defaults: scale 1, fan_in, truncated_normal.
    check_vs("variance_scaling", 201, 2, dims, f, 1.0, "fan_in", "truncated_normal");
    check_vs("VarianceScaling(scale=0.5)", 202, 2, dims, f, 0.5, "fan_in",
             "truncated_normal");
    // Quoted strings, and Keras lower()s the distribution name.
    check_vs("variance_scaling(mode='fan_out', distribution=\"uniform\")", 203, 2, dims, f,
             1.0, "fan_out", "uniform");
    check_vs("variance_scaling(distribution=Uniform)", 204, 2, dims, f, 1.0, "fan_in",
             "uniform");
    check_vs("variance_scaling(distribution=UNTRUNCATED_NORMAL, mode=fan_avg)", 205, 2, dims,
             f, 1.0, "fan_avg", "untruncated_normal");
    check_vs("variance_scaling(distribution=Normal, scale=3)", 206, 2, dims, f, 3.0,
             "fan_in", "normal");
}

// Conv2D kernel (3,3,32,64): fan_in 288, fan_out 576 (KERAS.md's example),
// given to the plugin through soma_fans.
Test(variance_scaling, conv_kernel_fans) {
    const int64_t conv[] = { 3, 3, 32, 64 };
    soma_fans f = keras_fans(4, conv);
    cr_assert_eq(f.fan_in, 288.0);
    cr_assert_eq(f.fan_out, 576.0);
    check_vs("variance_scaling(mode=fan_in, distribution=uniform)", 301, 4, conv, f, 1.0,
             "fan_in", "uniform");
    check_vs("variance_scaling(mode=fan_out, distribution=uniform)", 302, 4, conv, f, 1.0,
             "fan_out", "uniform");
    check_vs("variance_scaling(mode=fan_avg, scale=2)", 303, 4, conv, f, 2.0, "fan_avg",
             "truncated_normal");
}

// The fans passed in rule, not the shape; max(1, ·) guards each mode's fan,
// and for fan_avg the average, not each fan: fans (0, 1) give n = 1, not 0.5.
Test(variance_scaling, fans_from_argument_and_zero_guard) {
    const int64_t dims[] = { ROWS, COLS };
    check_vs("variance_scaling(distribution=uniform)", 401, 2, dims, (soma_fans){ 50, 10 },
             1.0, "fan_in", "uniform");
    check_vs("variance_scaling(mode=fan_out, distribution=untruncated_normal)", 402, 2,
             dims, (soma_fans){ 50, 10 }, 1.0, "fan_out", "untruncated_normal");
    check_vs("variance_scaling(mode=fan_avg, distribution=uniform)", 403, 2, dims,
             (soma_fans){ 0, 1 }, 1.0, "fan_avg", "uniform");
    check_vs("variance_scaling", 404, 2, dims, (soma_fans){ 0, 0 }, 1.0, "fan_in",
             "truncated_normal");
    check_vs("variance_scaling(mode=fan_out, scale=4)", 405, 2, dims, (soma_fans){ 7, 0 },
             4.0, "fan_out", "truncated_normal");
    // Sanity of the rule itself: limit sqrt(3) for fans (0, 1).
    cr_assert_eq(mode_fan("fan_avg", (soma_fans){ 0, 1 }), 1.0);
}

// ---------------------------------------------------------------------------
// Presets: each equals VarianceScaling with Keras' arguments.

typedef struct preset {
    const char *name, *klass;
    double scale;
    const char *mode, *dist;
} preset;

static const preset presets[] = {
    { "glorot_normal", "GlorotNormal", 1.0, "fan_avg", "truncated_normal" },
    { "he_uniform", "HeUniform", 2.0, "fan_in", "uniform" },
    { "lecun_normal", "LecunNormal", 1.0, "fan_in", "truncated_normal" },
    { "lecun_uniform", "LecunUniform", 1.0, "fan_in", "uniform" },
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

Test(presets, statistics_dense_and_conv) {
    const int64_t dense[] = { 300, 700 }, conv[] = { 3, 3, 32, 64 };
    uint64_t seed = 500;
    for (size_t k = 0; k < N_PRESETS; k++) {
        const preset *q = &presets[k];
        check_vs(q->name, seed++, 2, dense, keras_fans(2, dense), q->scale, q->mode, q->dist);
        check_vs(q->klass, seed++, 4, conv, keras_fans(4, conv), q->scale, q->mode, q->dist);
    }
}

// The closed forms KERAS.md gives, checked once directly.
Test(presets, closed_forms) {
    const int64_t dense[] = { 300, 700 };
    float *p = fill_spec("glorot_normal", 601, 2, dense);
    check_vs_truncated("glorot_normal std sqrt(2/(fi+fo))", p, 300 * 700, sqrt(2.0 / 1000));
    free(p);
    p = fill_spec("he_uniform", 602, 2, dense);
    check_uniform("he_uniform limit sqrt(6/fi)", p, 300 * 700, -sqrt(6.0 / 300),
                  sqrt(6.0 / 300));
    free(p);
    p = fill_spec("lecun_normal", 603, 2, dense);
    check_vs_truncated("lecun_normal std sqrt(1/fi)", p, 300 * 700, sqrt(1.0 / 300));
    free(p);
    p = fill_spec("lecun_uniform", 604, 2, dense);
    check_uniform("lecun_uniform limit sqrt(3/fi)", p, 300 * 700, -sqrt(3.0 / 300),
                  sqrt(3.0 / 300));
    free(p);
}

Test(presets, fans_from_argument_and_zero_guard) {
    const int64_t dims[] = { ROWS, COLS };
    uint64_t seed = 700;
    for (size_t k = 0; k < N_PRESETS; k++) {
        const preset *q = &presets[k];
        check_vs(q->name, seed++, 2, dims, (soma_fans){ 50, 10 }, q->scale, q->mode, q->dist);
        check_vs(q->name, seed++, 2, dims, (soma_fans){ 0, 1 }, q->scale, q->mode, q->dist);
    }
}

// Same seed, same draws: a preset and VarianceScaling with its arguments use
// the same sampler with the same parameter (up to a rounding of the scale).
Test(presets, match_variance_scaling) {
    const int64_t dims[] = { 30, 70 };
    for (size_t k = 0; k < N_PRESETS; k++) {
        const preset *q = &presets[k];
        char spec[160];
        snprintf(spec, sizeof spec, "variance_scaling(scale=%g, mode=%s, distribution=%s)",
                 q->scale, q->mode, q->dist);
        float *a = fill_spec(q->name, 801, 2, dims);
        float *b = fill_spec(spec, 801, 2, dims);
        for (int i = 0; i < 30 * 70; i++)
            cr_assert(fabsf(a[i] - b[i]) <= 1e-6f * fabsf(b[i]) + 1e-30f,
                      "%s[%d] = %.9g, %s gives %.9g", q->name, i, a[i], spec, b[i]);
        free(a);
        free(b);
    }
}

// ---------------------------------------------------------------------------
// Determinism: same seed, same bits; another seed, other values.

static const char *const random_specs[] = {
    "truncated_normal", "variance_scaling",
    "variance_scaling(distribution=uniform)",
    "variance_scaling(distribution=untruncated_normal)",
    "glorot_normal", "he_uniform", "lecun_normal", "lecun_uniform",
};
#define N_RANDOM (sizeof random_specs / sizeof random_specs[0])

Test(all, determinism) {
    const int64_t dims[] = { 40, 25 };
    const int n = 40 * 25;
    for (size_t k = 0; k < N_RANDOM; k++) {
        float *a = fill_spec(random_specs[k], 1234, 2, dims);
        float *b = fill_spec(random_specs[k], 1234, 2, dims);
        float *c = fill_spec(random_specs[k], 1235, 2, dims);
        cr_expect(memcmp(a, b, (size_t)n * sizeof(float)) == 0,
                  "'%s': same seed gave different values", random_specs[k]);
        int same = 0;
        for (int i = 0; i < n; i++) same += a[i] == c[i];
        cr_expect(same < n / 100, "'%s': seeds 1234 and 1235 agree on %d of %d values",
                  random_specs[k], same, n);
        free(a);
        free(b);
        free(c);
    }
}

// ---------------------------------------------------------------------------
// Names, parameters, seeds, validation.

Test(all, keras_name_forms_resolve) {
    static const struct { const char *spec, *canonical; } cases[] = {
        { "identity", "identity" },
        { "Identity", "identity" },
        { "IdentityInitializer", "identity" },
        { "truncated_normal", "truncated_normal" },
        { "TruncatedNormal", "truncated_normal" },
        { "variance_scaling", "variance_scaling" },
        { "VarianceScaling", "variance_scaling" },
        { "GlorotNormal", "glorot_normal" },
        { "glorot_normal", "glorot_normal" },
        { "HeUniform", "he_uniform" },
        { "he_uniform", "he_uniform" },
        { "LecunNormal", "lecun_normal" },
        { "lecun_normal", "lecun_normal" },
        { "LecunUniform", "lecun_uniform" },
        { "lecun_uniform", "lecun_uniform" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        soma_obj *o = make(cases[i].spec);
        cr_expect_str_eq(o->item->name, cases[i].canonical, "'%s' resolved to '%s'",
                         cases[i].spec, o->item->name);
        cr_expect_eq(o->kind, SOMA_KIND_INIT);
        soma_obj_free(o);
    }
}

static int param_index(const soma_obj *o, const char *name) {
    for (uint32_t i = 0; i < o->item->n_params; i++)
        if (strcmp(o->item->params[i].name, name) == 0) return (int)i;
    return -1;
}

Test(all, keras_defaults) {
    double v = NAN;
    soma_obj *o = make("truncated_normal");
    cr_expect(soma_obj_param(o, "mean", &v) && v == 0.0, "mean %g", v);
    cr_expect(soma_obj_param(o, "stddev", &v) && v == 0.05, "stddev %g", v);
    soma_obj_free(o);
    o = make("identity");
    cr_expect(soma_obj_param(o, "gain", &v) && v == 1.0, "gain %g", v);
    soma_obj_free(o);

    o = make("variance_scaling");
    cr_expect(soma_obj_param(o, "scale", &v) && v == 1.0, "scale %g", v);
    int im = param_index(o, "mode"), id = param_index(o, "distribution");
    cr_assert(im >= 0 && id >= 0, "variance_scaling lacks mode or distribution");
    cr_expect_eq(o->item->params[im].type, SOMA_PARAM_STRING);
    cr_expect_eq(o->item->params[id].type, SOMA_PARAM_STRING);
    cr_expect_str_eq(o->values[im].str, "fan_in");
    cr_expect_str_eq(o->values[id].str, "truncated_normal");
    soma_obj_free(o);
}

Test(all, every_random_initializer_declares_seed) {
    static const char *const names[] = { "truncated_normal", "variance_scaling",
                                         "glorot_normal",    "he_uniform",
                                         "lecun_normal",     "lecun_uniform" };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        soma_obj *o = make(names[k]);
        int found = param_index(o, "seed");
        cr_assert_geq(found, 0, "'%s' declares no seed", names[k]);
        const soma_param_spec *ps = &o->item->params[found];
        cr_expect_eq(ps->type, SOMA_PARAM_INT, "'%s': seed is not INT", names[k]);
        cr_expect_str_eq(ps->doc, "overrides the model seed for this initializer");
        cr_expect_eq(o->values[found].is_set, 0, "'%s': seed set by default", names[k]);
        soma_obj_free(o);

        char spec[64];
        snprintf(spec, sizeof spec, "%s(seed=7)", names[k]);
        o = make(spec);
        cr_expect_eq(o->values[found].is_set, 1);
        cr_expect_eq(o->values[found].num, 7.0);
        soma_obj_free(o);
    }
    // identity is deterministic and takes none.
    soma_obj *o = NULL;
    cr_expect_neq(soma_obj_create(SOMA_KIND_INIT, "identity(seed=1)", &o), SOMA_OK);
}

static void expect_rejected(const char *spec, int code, const char *const *mentions) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_INIT, spec, &o);
    cr_expect_lt(rc, 0, "'%s' was accepted", spec);
    if (code != 0) cr_expect_eq(rc, code, "'%s': got %d, want %d", spec, rc, code);
    for (; *mentions; mentions++)
        cr_expect(strstr(soma_last_error(), *mentions) != NULL,
                  "'%s': message does not mention '%s': %s", spec, *mentions,
                  soma_last_error());
    if (rc == SOMA_OK) soma_obj_free(o);
}
#define MENTIONS(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(all, bad_params_rejected) {
    // Keras: "Argument `scale` must be positive float".
    expect_rejected("variance_scaling(scale=0)", SOMA_E_INVALID, MENTIONS("scale"));
    expect_rejected("variance_scaling(scale=-1)", SOMA_E_INVALID, MENTIONS("scale"));
    // Unknown mode / distribution: the message lists the allowed values.
    expect_rejected("variance_scaling(mode=fan_sum)", SOMA_E_INVALID,
                    MENTIONS("mode", "fan_sum", "fan_in", "fan_out", "fan_avg"));
    // Keras compares the mode as given (no lower()).
    expect_rejected("variance_scaling(mode=FAN_IN)", SOMA_E_INVALID, MENTIONS("FAN_IN"));
    expect_rejected("variance_scaling(distribution=gaussian)", SOMA_E_INVALID,
                    MENTIONS("distribution", "gaussian", "truncated_normal",
                             "untruncated_normal", "uniform"));
    expect_rejected("variance_scaling(distribution='')", SOMA_E_INVALID,
                    MENTIONS("distribution"));
    expect_rejected("variance_scaling(foo=1)", SOMA_E_NOT_FOUND, MENTIONS("foo"));
    expect_rejected("variance_scaling(scale=abc)", 0, MENTIONS("scale"));
    expect_rejected("he_uniform(seed=-3)", SOMA_E_INVALID, MENTIONS("seed"));
    expect_rejected("glorot_normal(seed=1.5)", 0, MENTIONS("seed"));
    expect_rejected("lecun_uniform(scale=2)", SOMA_E_NOT_FOUND, MENTIONS("scale"));
    expect_rejected("truncated_normal(seed=-1)", SOMA_E_INVALID, MENTIONS("seed"));
    expect_rejected("variance_scaling(seed=-1)", SOMA_E_INVALID, MENTIONS("seed"));
    expect_rejected("identity(gain=x)", 0, MENTIONS("gain"));
}

Test(all, empty_tensors_and_scalars) {
    const int64_t empty[] = { 0, 5 };
    for (size_t k = 0; k < N_RANDOM; k++) {
        free(fill_spec(random_specs[k], 1, 2, empty));
        // A rank-0 tensor is one element with fans (1, 1).
        free(fill_spec(random_specs[k], 1, 0, NULL));
    }
}
