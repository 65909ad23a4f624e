// Initializer plugins (plugins/init/*.c) checked against KERAS.md §1: exact
// values for the deterministic ones, sample statistics against the stated
// distributions for the random ones (theoretical moments computed here in
// double precision from first principles), orthogonality and the QR relation
// for orthogonal, determinism, Keras' name forms and parameter validation.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "plugin/registry.h"

// Values written just past the tensor: a plugin that writes them went out of
// bounds.
#define GUARD 16
#define GUARD_VAL (-12345.5f)
// How many standard errors a sample statistic may stray. Seeds are fixed, so
// a pass is reproducible; 5 SE keeps a correct implementation far from the
// edge while catching any wrong scale (those are off by many SE).
#define K_SE 5.0

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
// fill with the given fans; returns the plugin's status in *rc.
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

// fill_fans with Keras' fans, for a spec; asserts success and that every
// element was written with a finite value.
static float *fill_spec(const char *spec, uint64_t seed, int ndim, const int64_t *dims) {
    soma_obj *o = make(spec);
    int rc;
    float *p = fill_fans(o, seed, ndim, dims, keras_fans(ndim, dims), &rc);
    cr_assert_eq(rc, SOMA_OK, "fill '%s' failed: %s", spec, soma_last_error());
    int64_t n = numel_of(ndim, dims);
    for (int64_t i = 0; i < n; i++)
        cr_assert(isfinite(p[i]), "'%s': element %lld not written or not finite",
                  spec, (long long)i);
    soma_obj_free(o);
    return p;
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

static void expect_near(const char *what, double got, double want, double se) {
    cr_expect(fabs(got - want) <= K_SE * se,
              "%s: got %.9g, want %.9g (%.2f standard errors off, SE %.3g)", what, got,
              want, fabs(got - want) / se, se);
}

// ---------------------------------------------------------------------------
// Deterministic initializers: exact values.

static void expect_all(const char *spec, float want) {
    const int64_t dims[] = { 7, 13, 3 };
    float *p = fill_spec(spec, 1, 3, dims);
    for (int i = 0; i < 7 * 13 * 3; i++)
        cr_assert_eq(p[i], want, "'%s'[%d] = %g, want %g", spec, i, p[i], want);
    free(p);
}

Test(init, zeros_ones_constant_exact) {
    expect_all("zeros", 0.0f);
    expect_all("zero", 0.0f);
    expect_all("Zeros", 0.0f);
    expect_all("ones", 1.0f);
    expect_all("one", 1.0f);
    expect_all("constant", 0.0f); // Keras' default value=0.0
    expect_all("constant(value=-2.5)", -2.5f);
    expect_all("Constant(value=3)", 3.0f);
}

Test(init, deterministic_on_scalar_and_empty) {
    // rank 0 (one element) and a tensor with a zero dimension.
    float *p = fill_spec("constant(value=7)", 1, 0, NULL);
    cr_expect_eq(p[0], 7.0f);
    free(p);
    const int64_t empty[] = { 0, 5 };
    p = fill_spec("ones", 1, 2, empty);
    free(p);
    p = fill_spec("he_normal", 1, 2, empty);
    free(p);
    p = fill_spec("orthogonal", 1, 2, empty);
    free(p);
}

// ---------------------------------------------------------------------------
// random_uniform: U[minval, maxval); mean (a+b)/2, variance w²/12, fourth
// central moment w⁴/80 (so SE(var) = sqrt((w⁴/80 − w⁴/144)/n)).

static void check_uniform(const char *spec, const float *p, int64_t n, double a, double b) {
    double w = b - a;
    stats s = stats_of(p, n, a + w / 8, w / 8); // the lowest quarter
    cr_expect(s.min >= (float)a, "'%s': min %.9g below minval %g", spec, s.min, a);
    cr_expect(s.max < (float)b, "'%s': max %.9g not below maxval %g", spec, s.max, b);
    // With n draws the gap to either bound exceeds w/1000 with odds
    // (1 − 1e-3)^n: nil for n ≥ 1e5. It catches a shrunken interval.
    cr_expect(s.min < a + w * 1e-3, "'%s': min %.9g far from minval %g", spec, s.min, a);
    cr_expect(s.max > b - w * 1e-3, "'%s': max %.9g far from maxval %g", spec, s.max, b);
    double var = w * w / 12, m4 = w * w * w * w / 80;
    expect_near("uniform mean", s.mean, (a + b) / 2, sqrt(var / (double)n));
    expect_near("uniform variance", s.var, var, sqrt((m4 - var * var) / (double)n));
    expect_near("uniform lowest-quarter fraction", s.frac_in, 0.25,
                sqrt(0.25 * 0.75 / (double)n));
}

Test(init, random_uniform_defaults_and_params) {
    const int64_t dims[] = { 400, 500 };
    const int64_t n = 400 * 500;
    float *p = fill_spec("random_uniform", 11, 2, dims);
    check_uniform("random_uniform", p, n, -0.05, 0.05);
    free(p);
    p = fill_spec("uniform(minval=2, maxval=3.5)", 12, 2, dims);
    check_uniform("uniform(2, 3.5)", p, n, 2.0, 3.5);
    free(p);
    p = fill_spec("RandomUniform(minval=-1, maxval=-0.5)", 13, 2, dims);
    check_uniform("RandomUniform(-1, -0.5)", p, n, -1.0, -0.5);
    free(p);
}

Test(init, glorot_uniform_limit) {
    // Dense kernel (300, 700): limit = sqrt(6/(300+700)).
    const int64_t dims[] = { 300, 700 };
    float *p = fill_spec("glorot_uniform", 21, 2, dims);
    double limit = sqrt(6.0 / 1000.0);
    check_uniform("glorot_uniform (300,700)", p, 300 * 700, -limit, limit);
    free(p);
    // Conv kernel (3,3,32,64): fans 288 and 576 (KERAS.md's example).
    const int64_t conv[] = { 3, 3, 32, 64 };
    soma_fans f = keras_fans(4, conv);
    cr_assert_eq(f.fan_in, 288.0);
    cr_assert_eq(f.fan_out, 576.0);
    p = fill_spec("GlorotUniform", 22, 4, conv);
    limit = sqrt(6.0 / (288.0 + 576.0));
    check_uniform("GlorotUniform (3,3,32,64)", p, 3 * 3 * 32 * 64, -limit, limit);
    free(p);
}

Test(init, glorot_uniform_zero_fans) {
    // VarianceScaling guards the fan with max(1, ·): fans (0, 0) give
    // limit sqrt(3/1).
    soma_obj *o = make("glorot_uniform");
    const int64_t dims[] = { 200, 500 };
    int rc;
    float *p = fill_fans(o, 23, 2, dims, (soma_fans){ 0, 0 }, &rc);
    cr_assert_eq(rc, SOMA_OK);
    check_uniform("glorot_uniform fans 0", p, 200 * 500, -sqrt(3.0), sqrt(3.0));
    free(p);
    soma_obj_free(o);
}

// ---------------------------------------------------------------------------
// random_normal: N(mean, stddev²); SE(var) = sqrt(2/n)·σ²; the fraction
// within one σ is erf(1/√2).

static void check_normal(const char *spec, const float *p, int64_t n, double mu, double sd) {
    stats s = stats_of(p, n, mu, sd);
    expect_near("normal mean", s.mean, mu, sd / sqrt((double)n));
    expect_near("normal variance", s.var, sd * sd, sqrt(2.0 / (double)n) * sd * sd);
    double p1 = erf(1.0 / sqrt(2.0));
    expect_near("normal fraction within 1 sd", s.frac_in, p1, sqrt(p1 * (1 - p1) / (double)n));
    // An untruncated normal of 2e5 draws reaches beyond 4σ (odds of none:
    // (1 − 6.3e-5)^2e5 ≈ 3e-6); a truncated or uniform one never does.
    cr_expect(s.max > mu + 4 * sd && s.min < mu - 4 * sd,
              "'%s': range [%g, %g] too narrow for a normal", spec, s.min, s.max);
}

Test(init, random_normal_defaults_and_params) {
    const int64_t dims[] = { 200, 1000 };
    const int64_t n = 200 * 1000;
    float *p = fill_spec("random_normal", 31, 2, dims);
    check_normal("random_normal", p, n, 0.0, 0.05);
    free(p);
    p = fill_spec("normal(mean=1, stddev=2)", 32, 2, dims);
    check_normal("normal(1, 2)", p, n, 1.0, 2.0);
    free(p);
    p = fill_spec("RandomNormal(stddev=0.001)", 33, 2, dims);
    check_normal("RandomNormal(stddev=0.001)", p, n, 0.0, 0.001);
    free(p);
}

// ---------------------------------------------------------------------------
// he_normal: N(0, σ_raw²) truncated to ±2σ_raw, σ_raw = sqrt(2/fan_in)/0.8796...
// Moments of a standard normal truncated to [−a, a], P = erf(a/√2),
// φ = exp(−a²/2)/√(2π):  var = 1 − 2aφ/P,  E z⁴ = 3 − 2φ(a³ + 3a)/P.

static void check_he_normal(const char *what, const float *p, int64_t n, double fan_in) {
    const double a = 2.0, P = erf(a / sqrt(2.0)), phi = exp(-a * a / 2) / sqrt(2 * M_PI);
    const double var1 = 1 - 2 * a * phi / P, m4_1 = 3 - 2 * phi * (a * a * a + 3 * a) / P;
    // The constant Keras divides by is exactly this std.
    cr_assert_float_eq(sqrt(var1), 0.87962566103423978, 1e-12);

    double target = sqrt(2.0 / (fan_in < 1 ? 1 : fan_in)); // std after truncation
    double sraw = target / sqrt(var1);
    stats s = stats_of(p, n, 0.0, sraw);
    // Truncation at ±2σ_raw (computed in float by the host: allow one ulp).
    double bound = 2 * sraw * (1 + 1e-6);
    cr_expect(s.max <= bound && s.min >= -bound, "%s: range [%g, %g] exceeds ±2σ = %g",
              what, s.min, s.max, 2 * sraw);
    // ... and it does reach near the cut: P(|z| in (1.95, 2]) ≈ 0.4% per draw.
    cr_expect(s.max > 1.95 * sraw && s.min < -1.95 * sraw,
              "%s: range [%g, %g] does not reach near ±2σ = %g", what, s.min, s.max,
              2 * sraw);
    double var = target * target;
    double m4 = m4_1 * sraw * sraw * sraw * sraw;
    expect_near("he_normal mean", s.mean, 0.0, target / sqrt((double)n));
    expect_near("he_normal variance (post-truncation 2/fan_in)", s.var, var,
                sqrt((m4 - var * var) / (double)n));
    // Fraction within ±σ_raw: erf(1/√2)/P = 0.7152 for the truncated law
    // (0.6827 untruncated).
    double p1 = erf(1.0 / sqrt(2.0)) / P;
    expect_near("he_normal fraction within 1 raw sd", s.frac_in, p1,
                sqrt(p1 * (1 - p1) / (double)n));
}

Test(init, he_normal_truncated_statistics) {
    const int64_t dims[] = { 500, 400 };
    float *p = fill_spec("he_normal", 41, 2, dims);
    check_he_normal("he_normal (500,400)", p, 500 * 400, 500.0);
    free(p);
    const int64_t conv[] = { 3, 3, 32, 64 }; // fan_in 288
    p = fill_spec("HeNormal", 42, 4, conv);
    check_he_normal("HeNormal (3,3,32,64)", p, 3 * 3 * 32 * 64, 288.0);
    free(p);
}

Test(init, he_normal_uses_fan_in_and_guards_zero) {
    soma_obj *o = make("he_normal");
    const int64_t dims[] = { 400, 500 };
    int rc;
    // The fans passed in rule, not the shape: fan_in 50 although dims[0] is 400.
    float *p = fill_fans(o, 43, 2, dims, (soma_fans){ 50, 10 }, &rc);
    cr_assert_eq(rc, SOMA_OK);
    check_he_normal("he_normal fan_in 50", p, 400 * 500, 50.0);
    free(p);
    // fan_in 0 → max(1, 0) = 1.
    p = fill_fans(o, 44, 2, dims, (soma_fans){ 0, 0 }, &rc);
    cr_assert_eq(rc, SOMA_OK);
    check_he_normal("he_normal fan_in 0", p, 400 * 500, 1.0);
    free(p);
    soma_obj_free(o);
}

// ---------------------------------------------------------------------------
// orthogonal: rows = prod(dims[:-1]), cols = dims[-1]; QᵀQ = gain²·I when
// tall or square, QQᵀ = gain²·I when wide.

static void check_orthogonal(const char *spec, double gain, int ndim, const int64_t *dims,
                             uint64_t seed) {
    float *p = fill_spec(spec, seed, ndim, dims);
    int64_t cols = dims[ndim - 1], rows = numel_of(ndim - 1, dims);
    int tall = rows >= cols;
    int64_t M = tall ? rows : cols, N = tall ? cols : rows;
    // Column a of the (M, N) factor Q, element i, undoing the gain.
#define QV(i, a) ((double)(tall ? p[(i) * cols + (a)] : p[(a) * cols + (i)]) / gain)
    double worst = 0;
    for (int64_t a = 0; a < N; a++)
        for (int64_t b = 0; b <= a; b++) {
            double s = 0;
            for (int64_t i = 0; i < M; i++) s += QV(i, a) * QV(i, b);
            double e = fabs(s - (a == b ? 1.0 : 0.0));
            if (e > worst) worst = e;
        }
    cr_expect(worst <= 1e-5, "%s (%lld x %lld): |%s - I| = %.3g", spec, (long long)rows,
              (long long)cols, tall ? "QtQ" : "QQt", worst);

    // Q must be the sign-fixed QR factor of the standard normal matrix A the
    // host drew: R = QᵀA upper triangular with a positive diagonal, and
    // A = QR. The plugin fills the tensor with rows·cols normals in one call
    // and reads them as A (tall) or Aᵀ (wide), so we draw the same numbers.
    soma_rng r;
    soma_rng_init(&r, seed, 0);
    float *d = malloc((size_t)(M * N) * sizeof(float));
    cr_assert_not_null(d);
    soma_rng_normal(&r, d, (size_t)(M * N), 0.0f, 1.0f);
#define AV(i, b) ((double)(tall ? d[(i) * N + (b)] : d[(b) * M + (i)]))
    double *resid = malloc((size_t)M * sizeof(double));
    cr_assert_not_null(resid);
    for (int64_t b = 0; b < N; b++) {
        double anorm = 0;
        for (int64_t i = 0; i < M; i++) {
            anorm += AV(i, b) * AV(i, b);
            resid[i] = AV(i, b);
        }
        anorm = sqrt(anorm);
        for (int64_t a = 0; a < N; a++) {
            double rab = 0;
            for (int64_t i = 0; i < M; i++) rab += QV(i, a) * AV(i, b);
            if (a > b)
                cr_expect(fabs(rab) <= 1e-5 * anorm, "%s: R[%lld][%lld] = %g below the "
                          "diagonal", spec, (long long)a, (long long)b, rab);
            else
                for (int64_t i = 0; i < M; i++) resid[i] -= rab * QV(i, a);
            if (a == b)
                cr_expect(rab > 0, "%s: R[%lld][%lld] = %g, want > 0 (sign fix)", spec,
                          (long long)a, (long long)a, rab);
        }
        double rn = 0;
        for (int64_t i = 0; i < M; i++) rn += resid[i] * resid[i];
        cr_expect(sqrt(rn) <= 1e-5 * anorm, "%s: column %lld of A - QR has norm %g",
                  spec, (long long)b, sqrt(rn));
    }
#undef AV
#undef QV
    free(resid);
    free(d);
    free(p);
}

Test(init, orthogonal_tall_wide_square) {
    const int64_t tall[] = { 64, 16 }, wide[] = { 16, 64 }, square[] = { 50, 50 };
    const int64_t rank3[] = { 4, 5, 12 }; // rows 20, cols 12
    const int64_t rank3w[] = { 2, 3, 40 }; // rows 6, cols 40
    const int64_t row[] = { 1, 9 }, col[] = { 9, 1 };
    check_orthogonal("orthogonal", 1.0, 2, tall, 51);
    check_orthogonal("orthogonal", 1.0, 2, wide, 52);
    check_orthogonal("Orthogonal", 1.0, 2, square, 53);
    check_orthogonal("orthogonal", 1.0, 3, rank3, 54);
    check_orthogonal("orthogonal", 1.0, 3, rank3w, 55);
    check_orthogonal("orthogonal", 1.0, 2, row, 56);
    check_orthogonal("orthogonal", 1.0, 2, col, 57);
}

Test(init, orthogonal_larger_matrices) {
    // Big enough for float rounding in Gram-Schmidt to show if it were not
    // re-orthogonalised (the LSTM recurrent kernel shape (u, 4u) is wide).
    const int64_t sq[] = { 200, 200 }, lstm[] = { 96, 384 }, dense[] = { 784, 48 };
    check_orthogonal("orthogonal", 1.0, 2, sq, 61);
    check_orthogonal("orthogonal", 1.0, 2, lstm, 62);
    check_orthogonal("orthogonal", 1.0, 2, dense, 63);
}

Test(init, orthogonal_gain) {
    const int64_t tall[] = { 30, 10 }, wide[] = { 10, 30 };
    check_orthogonal("orthogonal(gain=2.5)", 2.5, 2, tall, 71);
    check_orthogonal("orthogonal(gain=0.5)", 0.5, 2, wide, 72);
    // The same draws with gain 1 and gain 3 differ by exactly the factor
    // (up to one float rounding).
    float *a = fill_spec("orthogonal", 73, 2, tall);
    float *b = fill_spec("orthogonal(gain=3)", 73, 2, tall);
    for (int i = 0; i < 300; i++)
        cr_expect(fabsf(b[i] - 3.0f * a[i]) <= 4e-7f * fabsf(b[i]) + 1e-30f,
                  "gain 3: %g vs 3 * %g", b[i], a[i]);
    free(a);
    free(b);
}

Test(init, orthogonal_rejects_rank_below_2) {
    soma_obj *o = make("orthogonal");
    int rc;
    const int64_t v[] = { 8 };
    float *p = fill_fans(o, 1, 1, v, keras_fans(1, v), &rc);
    cr_expect_eq(rc, SOMA_E_SHAPE, "rank 1: got %d", rc);
    cr_expect(strstr(soma_last_error(), "rank") != NULL, "message: %s", soma_last_error());
    free(p);
    p = fill_fans(o, 1, 0, NULL, keras_fans(0, NULL), &rc);
    cr_expect_eq(rc, SOMA_E_SHAPE, "rank 0: got %d", rc);
    free(p);
    soma_obj_free(o);
}

// ---------------------------------------------------------------------------
// Determinism: same seed, same bits; another seed, other values.

Test(init, determinism) {
    static const char *const specs[] = { "random_uniform", "random_normal",
                                         "glorot_uniform", "he_normal", "orthogonal" };
    const int64_t dims[] = { 40, 25 };
    const int n = 40 * 25;
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        float *a = fill_spec(specs[k], 1234, 2, dims);
        float *b = fill_spec(specs[k], 1234, 2, dims);
        float *c = fill_spec(specs[k], 1235, 2, dims);
        cr_expect(memcmp(a, b, (size_t)n * sizeof(float)) == 0,
                  "'%s': same seed gave different values", specs[k]);
        int same = 0;
        for (int i = 0; i < n; i++) same += a[i] == c[i];
        cr_expect(same < n / 100, "'%s': seeds 1234 and 1235 agree on %d of %d values",
                  specs[k], same, n);
        free(a);
        free(b);
        free(c);
    }
}

// ---------------------------------------------------------------------------
// Names and parameters.

Test(init, keras_name_forms_resolve) {
    static const struct { const char *spec, *canonical; } cases[] = {
        { "HeNormal", "he_normal" },           { "he_normal", "he_normal" },
        { "GlorotUniform", "glorot_uniform" }, { "glorot_uniform", "glorot_uniform" },
        { "normal", "random_normal" },         { "RandomNormal", "random_normal" },
        { "uniform", "random_uniform" },       { "RandomUniform", "random_uniform" },
        { "zero", "zeros" },                   { "Zeros", "zeros" },
        { "one", "ones" },                     { "Ones", "ones" },
        { "Constant", "constant" },            { "Orthogonal", "orthogonal" },
        { "OrthogonalInitializer", "orthogonal" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        soma_obj *o = make(cases[i].spec);
        cr_expect_str_eq(o->item->name, cases[i].canonical, "'%s' resolved to '%s'",
                         cases[i].spec, o->item->name);
        cr_expect_eq(o->kind, SOMA_KIND_INIT);
        soma_obj_free(o);
    }
}

static void expect_param(const char *spec, const char *key, double want) {
    soma_obj *o = make(spec);
    double v = NAN;
    cr_expect(soma_obj_param(o, key, &v), "'%s' has no parameter '%s'", spec, key);
    cr_expect_eq(v, want, "'%s': %s = %.17g, want %.17g", spec, key, v, want);
    soma_obj_free(o);
}

Test(init, keras_defaults) {
    expect_param("constant", "value", 0.0);
    expect_param("random_uniform", "minval", -0.05);
    expect_param("random_uniform", "maxval", 0.05);
    expect_param("random_normal", "mean", 0.0);
    expect_param("random_normal", "stddev", 0.05);
    expect_param("orthogonal", "gain", 1.0);
    expect_param("random_normal(stddev=0.25)", "stddev", 0.25);
}

Test(init, every_random_initializer_declares_seed) {
    static const char *const specs[] = { "random_uniform", "random_normal",
                                         "glorot_uniform", "he_normal", "orthogonal" };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        soma_obj *o = make(specs[k]);
        int found = -1;
        for (uint32_t i = 0; i < o->item->n_params; i++)
            if (strcmp(o->item->params[i].name, "seed") == 0) found = (int)i;
        cr_assert_geq(found, 0, "'%s' declares no seed", specs[k]);
        const soma_param_spec *ps = &o->item->params[found];
        cr_expect_eq(ps->type, SOMA_PARAM_INT, "'%s': seed is not INT", specs[k]);
        cr_expect_str_eq(ps->doc, "overrides the model seed for this initializer");
        cr_expect_eq(o->values[found].is_set, 0, "'%s': seed set by default", specs[k]);
        soma_obj_free(o);

        char spec[64];
        snprintf(spec, sizeof spec, "%s(seed=7)", specs[k]);
        o = make(spec);
        cr_expect_eq(o->values[found].is_set, 1);
        cr_expect_eq(o->values[found].num, 7.0);
        soma_obj_free(o);
    }
    // The deterministic ones take no seed.
    soma_obj *o = NULL;
    cr_expect_neq(soma_obj_create(SOMA_KIND_INIT, "zeros(seed=1)", &o), SOMA_OK);
}

static void expect_rejected(const char *spec, int code, const char *mention) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_INIT, spec, &o);
    cr_expect_lt(rc, 0, "'%s' was accepted", spec);
    if (code != 0) cr_expect_eq(rc, code, "'%s': got %d, want %d", spec, rc, code);
    cr_expect(strstr(soma_last_error(), mention) != NULL,
              "'%s': message does not mention '%s': %s", spec, mention, soma_last_error());
    if (rc == SOMA_OK) soma_obj_free(o);
}

Test(init, bad_params_rejected) {
    expect_rejected("he_normal(foo=1)", 0, "foo");              // unknown key
    expect_rejected("zeros(value=1)", 0, "value");              // zeros takes none
    expect_rejected("constant(value=abc)", 0, "value");         // not a number
    expect_rejected("orthogonal(seed=1.5)", 0, "seed");         // INT must be integral
    expect_rejected("random_uniform(minval=1, maxval=0)", SOMA_E_INVALID, "maxval");
    expect_rejected("he_normal(seed=-3)", SOMA_E_INVALID, "seed");
    expect_rejected("no_such_initializer", SOMA_E_NOT_FOUND, "no_such_initializer");
}

Test(init, uniform_with_equal_bounds_is_constant) {
    // minval == maxval is allowed (maxval >= minval) and gives that value.
    const int64_t dims[] = { 10 };
    float *p = fill_spec("random_uniform(minval=0.25, maxval=0.25)", 5, 1, dims);
    for (int i = 0; i < 10; i++) cr_expect_eq(p[i], 0.25f);
    free(p);
}
