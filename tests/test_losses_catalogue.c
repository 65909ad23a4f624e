/* Tests of the catalogue losses (mean_absolute_error,
 * mean_absolute_percentage_error, mean_squared_logarithmic_error, huber,
 * log_cosh, hinge, squared_hinge, categorical_hinge,
 * binary_focal_crossentropy, kl_divergence, poisson): the numbers of Keras'
 * own tests and docstrings, references recomputed here in double precision
 * from KERAS.md §2.4-2.5 through the public soma_loss_eval (every reduction,
 * sample weights), central finite differences of those references for every
 * gradient path, the hinge label rule, Keras' names, parameters and errors. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/registry.h"
#include "soma/soma.h"

/* ---- small helpers ------------------------------------------------------ */

static soma_obj *mk(const char *spec) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_LOSS, spec, &o);
    cr_assert_eq(rc, SOMA_OK, "creating '%s' failed: %s", spec, soma_last_error());
    cr_assert_not_null(o);
    return o;
}

static soma_tview view2(float *data, int64_t rows, int64_t cols) {
    soma_tview v = {.data = data, .ndim = 2, .dims = {rows, cols}};
    return v;
}

static soma_tensor *tensor(int ndim, const int64_t *dims, const float *data) {
    soma_tensor *t = NULL;
    cr_assert_eq(soma_tensor_create(&t, ndim, dims, data), SOMA_OK, "%s",
                 soma_last_error());
    return t;
}

static soma_tensor *t2(int64_t d0, int64_t d1, const float *data) {
    return tensor(2, (int64_t[]){d0, d1}, data);
}

static soma_tensor *t1(int64_t d0, const float *data) {
    return tensor(1, (int64_t[]){d0}, data);
}

// |got - want| <= tol, else the test fails with both numbers and the
// caller's message (printf-style, may be empty) and line.
static void close_or_fail(double got, double want, double tol, int line, const char *fmt,
                          ...) {
    if (fabs(got - want) <= tol) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_assert_fail("line %d: got %.9g, want %.9g (tol %g): %s", line, got, want, tol, msg);
}
#define assert_close(got, want, tol, ...)                                       \
    close_or_fail((double)(got), (double)(want), (double)(tol), __LINE__, "" __VA_ARGS__)

// Reduced loss through the public API.
static double loss_eval(const char *spec, const char *reduction, soma_tensor *yt,
                        soma_tensor *yp, soma_tensor *sw) {
    double v = NAN;
    int rc = soma_loss_eval(spec, reduction, yt, yp, sw, &v, NULL, NULL);
    cr_assert_eq(rc, SOMA_OK, "soma_loss_eval(%s, %s): %s", spec, reduction,
                 soma_last_error());
    return v;
}

// The "none" reduction: the weighted per-row values, checked against want.
static void expect_none(const char *spec, soma_tensor *yt, soma_tensor *yp,
                        soma_tensor *sw, const double *want, int n, double tol) {
    soma_tensor *vals = NULL;
    double v;
    int rc = soma_loss_eval(spec, "none", yt, yp, sw, &v, &vals, NULL);
    cr_assert_eq(rc, SOMA_OK, "%s none: %s", spec, soma_last_error());
    cr_assert_eq(soma_tensor_numel(vals), n, "%s none: %lld values", spec,
                 (long long)soma_tensor_numel(vals));
    for (int i = 0; i < n; i++)
        assert_close(soma_tensor_cdata(vals)[i], want[i], tol, "%s none[%d]", spec, i);
    soma_tensor_free(vals);
}

// Deterministic uniform numbers for the test inputs (xorshift64*).
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double urand(double lo, double hi) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t x = rng_state * 0x2545F4914F6CDD1Dull;
    return lo + (hi - lo) * (double)(x >> 11) / 9007199254740992.0;
}

static void fill(float *a, int n, double lo, double hi) {
    for (int i = 0; i < n; i++) a[i] = (float)urand(lo, hi);
}

/* ---- references in double precision -------------------------------------
 * Each computes one row's per-sample loss from KERAS.md §2.4-2.5, written
 * again here (where Keras' tests use another algebraic form, that form) so
 * the plugins are checked against something other than themselves. */
typedef struct ref_opt {
    double delta;               // huber
    double alpha, gamma, ls;    // binary focal crossentropy
    int balance, logits;
    int hinge_binary;           // set by the harness from the whole y_true
} ref_opt;
typedef double (*ref_fn)(const double *t, const double *p, int64_t C, const ref_opt *o);

static const double EPS = 1e-7;

static double ref_mae(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += fabs(t[c] - p[c]);
    return s / C;
}

static double ref_mape(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += fabs((t[c] - p[c]) / fmax(fabs(t[c]), EPS));
    return 100 * s / C;
}

static double ref_msle(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double d = log(fmax(p[c], EPS) + 1) - log(fmax(t[c], EPS) + 1);
        s += d * d;
    }
    return s / C;
}

// Keras' huber test writes it as 0.5·q² + δ·(|e| - q) with q = min(|e|, δ).
static double ref_huber(const double *t, const double *p, int64_t C, const ref_opt *o) {
    double s = 0, d = o->delta;
    for (int64_t c = 0; c < C; c++) {
        double a = fabs(p[c] - t[c]), q = fmin(a, d);
        s += 0.5 * q * q + d * (a - q);
    }
    return s / C;
}

// Keras' log_cosh test: log((e^x + e^-x)/2), fine for |x| < 700.
static double ref_log_cosh(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double x = p[c] - t[c];
        s += log((exp(x) + exp(-x)) / 2);
    }
    return s / C;
}

static double hinge_label(double y, const ref_opt *o) {
    return o->hinge_binary ? 2 * y - 1 : y;
}

static double ref_hinge(const double *t, const double *p, int64_t C, const ref_opt *o) {
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += fmax(1 - hinge_label(t[c], o) * p[c], 0);
    return s / C;
}

static double ref_sq_hinge(const double *t, const double *p, int64_t C, const ref_opt *o) {
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double m = fmax(1 - hinge_label(t[c], o) * p[c], 0);
        s += m * m;
    }
    return s / C;
}

static double ref_cat_hinge(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double pos = 0, neg = -INFINITY;
    for (int64_t c = 0; c < C; c++) {
        pos += t[c] * p[c];
        neg = fmax(neg, (1 - t[c]) * p[c]);
    }
    return fmax(neg - pos + 1, 0);
}

static double ref_bfce(const double *t, const double *p, int64_t C, const ref_opt *o) {
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double y = t[c] * (1 - o->ls) + 0.5 * o->ls;
        double q = o->logits ? 1 / (1 + exp(-p[c])) : p[c];
        // Clipped to [eps, 1 - eps] with 1 - eps as float32 rounds it.
        double qc = fmin(fmax(q, EPS), (double)(1.0f - 1e-7f));
        double bce = -(y * log(qc) + (1 - y) * log(1 - qc));
        double pt = y * q + (1 - y) * (1 - q);
        double v = pow(1 - pt, o->gamma) * bce;
        if (o->balance) v *= y * o->alpha + (1 - y) * (1 - o->alpha);
        s += v;
    }
    return s / C;
}

static double ref_kld(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double y = fmin(fmax(t[c], EPS), 1), q = fmin(fmax(p[c], EPS), 1);
        s += y * log(y / q);
    }
    return s;
}

static double ref_poisson(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += p[c] - t[c] * log(p[c] + EPS);
    return s / C;
}

// Keras' rule, recomputed: every label of the whole tensor is 0 or 1.
static int whole_tensor_binary(const float *yt, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (yt[i] != 0 && yt[i] != 1) return 0;
    return 1;
}

/* Checks forward against ref and backward against central differences of
 * ref (in double, step h), with random upstream gradients d_values so that
 * the per-row scaling is checked too. */
static void check_loss(const char *spec, ref_fn ref, ref_opt opt, int64_t R, int64_t C,
                       float *yt, float *yp, double h) {
    soma_obj *o = mk(spec);
    const soma_loss_vt *vt = soma_obj_loss(o);
    soma_ctx ctx = soma_ctx_make(NULL);
    soma_tview vtt = view2(yt, R, C), vtp = view2(yp, R, C);
    opt.hinge_binary = whole_tensor_binary(yt, R * C);

    float *values = calloc((size_t)R, sizeof *values);
    float *dv = calloc((size_t)R, sizeof *dv);
    float *grad = calloc((size_t)(R * C), sizeof *grad);
    double *t = calloc((size_t)C, sizeof *t), *p = calloc((size_t)C, sizeof *p);
    cr_assert(values && dv && grad && t && p);
    for (int64_t r = 0; r < R; r++) dv[r] = (float)urand(0.5, 1.5);

    cr_assert_eq(vt->forward(&o->inst, &ctx, &vtt, &vtp, values), SOMA_OK,
                 "%s forward: %s", spec, soma_last_error());
    cr_assert_eq(vt->backward(&o->inst, &ctx, &vtt, &vtp, dv, grad), SOMA_OK,
                 "%s backward: %s", spec, soma_last_error());

    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) {
            t[c] = yt[r * C + c];
            p[c] = yp[r * C + c];
        }
        double want = ref(t, p, C, &opt);
        assert_close(values[r], want, 1e-6 + 1e-5 * fabs(want), "%s value of row %lld",
                     spec, (long long)r);
        for (int64_t c = 0; c < C; c++) {
            double keep = p[c];
            p[c] = keep + h;
            double up = ref(t, p, C, &opt);
            p[c] = keep - h;
            double down = ref(t, p, C, &opt);
            p[c] = keep;
            double fd = dv[r] * (up - down) / (2 * h);
            assert_close(grad[r * C + c], fd, 2e-5 + 2e-4 * fabs(fd),
                         "%s d/dy_pred[%lld][%lld] (y %g, p %g)", spec, (long long)r,
                         (long long)c, t[c], p[c]);
        }
    }
    free(values);
    free(dv);
    free(grad);
    free(t);
    free(p);
    soma_obj_free(o);
}

/* Through soma_loss_eval: the reduced value under `reduction` with per-row
 * weights w (NULL: none) against the reference, and the gradient of that
 * reduced value against central differences of the reduced reference. */
static void check_reduced(const char *spec, ref_fn ref, ref_opt opt, int64_t R, int64_t C,
                          const float *yt, const float *yp, const float *w,
                          const char *reduction, double h) {
    soma_tensor *tt = t2(R, C, yt), *tp = t2(R, C, yp), *sw = w ? t1(R, w) : NULL;
    opt.hinge_binary = whole_tensor_binary(yt, R * C);
    double scale = strcmp(reduction, "sum") == 0 ? 1.0 : 1.0 / (double)R;
    double *t = calloc((size_t)C, sizeof *t), *p = calloc((size_t)C, sizeof *p);
    cr_assert(t && p);

    double got = NAN;
    soma_tensor *g = NULL;
    cr_assert_eq(soma_loss_eval(spec, reduction, tt, tp, sw, &got, NULL, &g), SOMA_OK,
                 "%s %s: %s", spec, reduction, soma_last_error());
    double want = 0;
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) {
            t[c] = yt[r * C + c];
            p[c] = yp[r * C + c];
        }
        double wr = w ? w[r] : 1.0;
        want += wr * ref(t, p, C, &opt);
        for (int64_t c = 0; c < C; c++) {
            double keep = p[c];
            p[c] = keep + h;
            double up = ref(t, p, C, &opt);
            p[c] = keep - h;
            double down = ref(t, p, C, &opt);
            p[c] = keep;
            double fd = scale * wr * (up - down) / (2 * h);
            assert_close(soma_tensor_cdata(g)[r * C + c], fd, 1e-5 + 2e-4 * fabs(fd),
                         "%s %s d/dy_pred[%lld][%lld]", spec, reduction, (long long)r,
                         (long long)c);
        }
    }
    want *= scale;
    assert_close(got, want, 1e-6 + 1e-5 * fabs(want), "%s %s value", spec, reduction);
    soma_tensor_free(g);
    soma_tensor_free(tt);
    soma_tensor_free(tp);
    soma_tensor_free(sw);
    free(t);
    free(p);
}

enum { R = 6, C = 5 };

static const ref_opt NO_OPT = {0};

/* ---- Keras' own test values ------------------------------------------------
 * KERAS.md's MSE data reused by Keras' MAE / MAPE / MSLE tests. */
static const float K_YT[] = {1, 9, 2, -5, -2, 6}, K_YP[] = {4, 8, 12, 8, 1, 3};
static const float K_TS_W[] = {3, 6, 5, 0, 4, 2}; // timestep weights (2, 3)

typedef struct keras_case {
    const char *spec;
    double unweighted, scalar_23, col_12_34, sum_23, timestep;
    double none_23[2];
    double tol;
} keras_case;

static void run_keras_case(const keras_case *k) {
    soma_tensor *t = t2(2, 3, K_YT), *p = t2(2, 3, K_YP);
    soma_tensor *s23 = t1(1, (float[]){2.3f});
    soma_tensor *col = t2(2, 1, (float[]){1.2f, 3.4f});
    soma_tensor *zero = t1(1, (float[]){0});
    assert_close(loss_eval(k->spec, "sum_over_batch_size", t, p, NULL), k->unweighted,
                 k->tol, "%s unweighted", k->spec);
    assert_close(loss_eval(k->spec, "sum_over_batch_size", t, p, s23), k->scalar_23, k->tol,
                 "%s sw=2.3", k->spec);
    assert_close(loss_eval(k->spec, "sum_over_batch_size", t, p, col), k->col_12_34, k->tol,
                 "%s sw=[[1.2],[3.4]]", k->spec);
    if (!isnan(k->sum_23))
        assert_close(loss_eval(k->spec, "sum", t, p, s23), k->sum_23, k->tol,
                     "%s sum sw=2.3", k->spec);
    assert_close(loss_eval(k->spec, "sum_over_batch_size", t, p, zero), 0.0, 1e-12,
                 "%s sw=0", k->spec);
    if (!isnan(k->none_23[0])) expect_none(k->spec, t, p, s23, k->none_23, 2, k->tol);
    // Timesteps: y (2, 3, 1) with weights (2, 3) weight each position.
    soma_tensor *t3 = tensor(3, (int64_t[]){2, 3, 1}, K_YT);
    soma_tensor *p3 = tensor(3, (int64_t[]){2, 3, 1}, K_YP);
    soma_tensor *w3 = t2(2, 3, K_TS_W);
    assert_close(loss_eval(k->spec, "sum_over_batch_size", t3, p3, w3), k->timestep,
                 k->tol, "%s timestep-weighted", k->spec);
    soma_tensor_free(t3);
    soma_tensor_free(p3);
    soma_tensor_free(w3);
    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(s23);
    soma_tensor_free(col);
    soma_tensor_free(zero);
}

// Per-sample MAE [14/3, 19/3]; Keras' MeanAbsoluteErrorTest.
Test(keras_values, mean_absolute_error) {
    run_keras_case(&(keras_case){"mae", 5.5, 12.65, 81.4 / 6, 25.3, 13.833333,
                                 {14.0 / 3 * 2.3, 19.0 / 3 * 2.3}, 1e-4});
    run_keras_case(&(keras_case){"MeanAbsoluteError", 5.5, 12.65, 81.4 / 6, 25.3,
                                 13.833333, {10.7333, 14.5666}, 1e-3});
}

// Keras' MeanAbsolutePercentageErrorTest (asserted there to 3 places).
Test(keras_values, mean_absolute_percentage_error) {
    run_keras_case(&(keras_case){"mape", 211.8518, 487.259, 422.8888, NAN, 694.4444,
                                 {621.8518, 352.6666}, 1e-3});
}

// Keras' MeanSquaredLogarithmicErrorTest: negatives count as eps.
Test(keras_values, mean_squared_logarithmic_error) {
    run_keras_case(&(keras_case){"msle", 1.4370, 3.3051, 3.7856, NAN, 2.647374,
                                 {NAN, NAN}, 5e-4});
}

// Keras' Hinge / SquaredHinge / CategoricalHinge tests share this data; the
// y_true [[0,1],[0,0]] is all 0/1, so hinge converts it to [[-1,1],[-1,-1]].
static const float H_YT[] = {0, 1, 0, 0}, H_YP[] = {0.6f, 0.4f, 0.4f, 0.6f};

static void run_hinge_case(const char *spec, double mean, double sum, const double *none,
                           double w_mean, double w_sum, const double *w_none) {
    soma_tensor *t = t2(2, 2, H_YT), *p = t2(2, 2, H_YP), *w = t1(2, (float[]){1, 0});
    soma_tensor *zero = t1(1, (float[]){0});
    assert_close(loss_eval(spec, "sum_over_batch_size", t, p, NULL), mean, 1e-6, "%s", spec);
    assert_close(loss_eval(spec, "sum", t, p, NULL), sum, 1e-6, "%s sum", spec);
    expect_none(spec, t, p, NULL, none, 2, 1e-6);
    assert_close(loss_eval(spec, "sum_over_batch_size", t, p, w), w_mean, 1e-6,
                 "%s weighted", spec);
    assert_close(loss_eval(spec, "sum", t, p, w), w_sum, 1e-6, "%s weighted sum", spec);
    expect_none(spec, t, p, w, w_none, 2, 1e-6);
    assert_close(loss_eval(spec, "sum_over_batch_size", t, p, zero), 0.0, 0.0,
                 "%s zero weight", spec);
    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(w);
    soma_tensor_free(zero);
}

Test(keras_values, hinge_family) {
    run_hinge_case("hinge", 1.3, 2.6, (double[]){1.1, 1.5}, 0.55, 1.1,
                   (double[]){1.1, 0.0});
    run_hinge_case("SquaredHinge", 1.86, 3.72, (double[]){1.46, 2.26}, 0.73, 1.46,
                   (double[]){1.46, 0.0});
    // categorical_hinge takes the labels as they are: [1.2, 1.6].
    run_hinge_case("CategoricalHinge", 1.4, 2.8, (double[]){1.2, 1.6}, 0.6, 1.2,
                   (double[]){1.2, 0.0});
}

// Docstring examples of keras.losses.huber / log_cosh (y_true [[0,1],[0,0]]).
Test(keras_values, huber_and_log_cosh_docstrings) {
    soma_tensor *t = t2(2, 2, (float[]){0, 1, 0, 0});
    soma_tensor *p = t2(2, 2, (float[]){0.6f, 0.4f, 0.4f, 0.6f});
    assert_close(loss_eval("huber", "sum_over_batch_size", t, p, NULL), 0.155, 1e-6);
    soma_tensor *p2 = t2(2, 2, (float[]){1, 1, 0, 0});
    // log(cosh(1))/4 = 0.10844
    assert_close(loss_eval("log_cosh", "sum_over_batch_size", t, p2, NULL), 0.108, 1e-3);
    assert_close(loss_eval("LogCosh", "sum_over_batch_size", t, p2, NULL),
                 log(cosh(1.0)) / 4, 1e-7);
    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(p2);
}

// Keras' HuberLossTest / LogCoshTest / KLDivergenceTest / PoissonTest data,
// expected values from the formulas those tests write (recomputed here), in
// every weighting they use.
static void run_formula_case(const char *spec, ref_fn ref, ref_opt opt, const float *yt,
                             const float *yp, double tol) {
    const float *w[] = {NULL, (float[]){2.3f, 2.3f}, (float[]){1.2f, 3.4f}};
    for (int k = 0; k < 3; k++) {
        check_reduced(spec, ref, opt, 2, 3, yt, yp, w[k], "sum_over_batch_size", 1e-6);
        check_reduced(spec, ref, opt, 2, 3, yt, yp, w[k], "sum", 1e-6);
    }
    // Timesteps (2, 3, 1) with weights (2, 3): each position is one row.
    soma_tensor *t3 = tensor(3, (int64_t[]){2, 3, 1}, yt);
    soma_tensor *p3 = tensor(3, (int64_t[]){2, 3, 1}, yp);
    soma_tensor *w3 = t2(2, 3, K_TS_W);
    double want = 0;
    for (int i = 0; i < 6; i++) {
        double t = yt[i], p = yp[i];
        want += K_TS_W[i] * ref(&t, &p, 1, &opt);
    }
    assert_close(loss_eval(spec, "sum_over_batch_size", t3, p3, w3), want / 6, tol,
                 "%s timestep-weighted", spec);
    soma_tensor_free(t3);
    soma_tensor_free(p3);
    soma_tensor_free(w3);
}

Test(keras_values, huber_log_cosh_kld_poisson) {
    const float hp[] = {0.9f, 0.2f, 0.2f, 0.8f, 0.4f, 0.6f}, ht[] = {1, 0, 1, 1, 0, 0};
    run_formula_case("huber", ref_huber, (ref_opt){.delta = 1.0}, ht, hp, 1e-6);
    run_formula_case("Huber(delta=0.8)", ref_huber, (ref_opt){.delta = 0.8}, ht, hp, 1e-6);
    run_formula_case("log_cosh", ref_log_cosh, NO_OPT, K_YT, K_YP, 1e-5);
    const float kp[] = {0.4f, 0.9f, 0.12f, 0.36f, 0.3f, 0.4f};
    const float kt[] = {0.5f, 0.8f, 0.12f, 0.7f, 0.43f, 0.8f};
    run_formula_case("kl_divergence", ref_kld, NO_OPT, kt, kp, 1e-6);
    // Keras' Poisson test swaps the roles: y_pred [1,9,2,5,2,6].
    const float pp[] = {1, 9, 2, 5, 2, 6}, pt[] = {4, 8, 12, 8, 1, 3};
    run_formula_case("poisson", ref_poisson, NO_OPT, pt, pp, 1e-5);
    // ... whose expected value leaves out the eps: equal to 3 places.
    soma_tensor *t = t2(2, 3, pt), *p = t2(2, 3, pp);
    double want = 0;
    for (int i = 0; i < 6; i++) want += pp[i] - pt[i] * log(pp[i]);
    assert_close(loss_eval("Poisson", "sum_over_batch_size", t, p, NULL), want / 6, 5e-4);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

// Keras' BinaryFocalCrossentropyTest and docstring numbers; the "places=3"
// ones are held to Keras' own precision (5e-4).
Test(keras_values, binary_focal_crossentropy) {
    soma_tensor *t = t2(2, 2, (float[]){1, 0, 1, 0});
    soma_tensor *p = t2(2, 2, (float[]){0.9f, 0.8f, 0.7f, 0.2f});
    soma_tensor *tl = t2(2, 3, (float[]){1, 1, 0, 0, 1, 0});
    soma_tensor *x = t2(2, 3, (float[]){1.5f, -2.7f, 2.9f, -3.8f, 1.2f, -4.5f});
    soma_tensor *w = t1(2, (float[]){1.2f, 3.4f});
    soma_tensor *s123 = t1(1, (float[]){1.23f}), *s321 = t1(1, (float[]){3.21f});
    const char *g2 = "binary_focal_crossentropy(gamma=2.0)";
    const char *g3 = "BinaryFocalCrossentropy(gamma=3, from_logits=true)";
    assert_close(loss_eval(g2, "sum_over_batch_size", t, p, NULL), 0.268, 5e-4);
    assert_close(loss_eval(g3, "sum_over_batch_size", tl, x, NULL), 0.799, 5e-4);
    assert_close(loss_eval(g2, "sum_over_batch_size", t, p, s123), 0.3296, 5e-4);
    assert_close(loss_eval(g3, "sum_over_batch_size", tl, x, s321), 2.565, 5e-4);
    assert_close(loss_eval(g2, "sum_over_batch_size", t, p, w), 0.34415, 5e-4);
    assert_close(loss_eval(g3, "sum_over_batch_size", tl, x, w), 0.95977, 5e-4);
    expect_none(g2, t, p, NULL, (double[]){0.515547, 0.020513}, 2, 1e-6);
    // Docstring: y_true [[0,1],[0,0]], y_pred [[0.6,0.4],[0.4,0.6]] → [0.330, 0.206].
    soma_tensor *dt = t2(2, 2, (float[]){0, 1, 0, 0});
    soma_tensor *dp = t2(2, 2, (float[]){0.6f, 0.4f, 0.4f, 0.6f});
    expect_none("binary_focal_crossentropy", dt, dp, NULL, (double[]){0.330, 0.206}, 2,
                5e-4);
    // All correct, as probabilities and as saturated logits: 0.
    soma_tensor *eye = t2(3, 3, (float[]){1, 0, 0, 0, 1, 0, 0, 0, 1});
    soma_tensor *big = t2(3, 3, (float[]){100, -100, -100, -100, 100, -100, -100, -100, 100});
    assert_close(loss_eval("binary_focal_crossentropy(gamma=1.5)", "sum_over_batch_size",
                           eye, eye, NULL),
                 0.0, 1e-3);
    assert_close(loss_eval("binary_focal_crossentropy(from_logits=true)",
                           "sum_over_batch_size", eye, big, NULL),
                 0.0, 1e-3);
    soma_tensor *tensors[] = {t, p, tl, x, w, s123, s321, dt, dp, eye, big};
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++)
        soma_tensor_free(tensors[i]);
}

/* ---- the hinge label rule -------------------------------------------------- */

static void row_values(const char *spec, float *yt, float *yp, int64_t rows, int64_t cols,
                       float *v, float *g) {
    soma_obj *o = mk(spec);
    soma_ctx ctx = soma_ctx_make(NULL);
    soma_tview t = view2(yt, rows, cols), p = view2(yp, rows, cols);
    float dv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    cr_assert_eq(soma_obj_loss(o)->forward(&o->inst, &ctx, &t, &p, v), SOMA_OK, "%s",
                 soma_last_error());
    cr_assert_eq(soma_obj_loss(o)->backward(&o->inst, &ctx, &t, &p, dv, g), SOMA_OK, "%s",
                 soma_last_error());
    soma_obj_free(o);
}

// The same row [0, 1] vs [0.6, 0.4] is converted to [-1, 1] when the whole
// y_true is 0/1 (value (1.6 + 0.6)/2 = 1.1), and used as is when another row
// holds any other label (value (1 + 0.6)/2 = 0.8). The gradient follows the
// same rule.
Test(hinge_rule, depends_on_whole_tensor) {
    float v[2], g[4];
    float a_t[] = {0, 1, 1, 0}, a_p[] = {0.6f, 0.4f, 0.3f, -0.2f};
    row_values("hinge", a_t, a_p, 2, 2, v, g);
    assert_close(v[0], 1.1, 1e-6, "all-0/1 batch");
    assert_close(v[1], (0.7 + 0.8) / 2, 1e-6, "all-0/1 batch row 1");
    assert_close(g[0], 0.5, 1e-7);   // -y/2 with y = -1
    assert_close(g[1], -0.5, 1e-7);  // -y/2 with y = 1

    float b_t[] = {0, 1, -1, 1}, b_p[] = {0.6f, 0.4f, 0.3f, -0.2f};
    row_values("hinge", b_t, b_p, 2, 2, v, g);
    assert_close(v[0], 0.8, 1e-6, "batch with a -1 label");
    assert_close(v[1], (1.3 + 1.2) / 2, 1e-6);
    assert_close(g[0], 0.0, 0.0);    // y = 0: no pull
    assert_close(g[1], -0.5, 1e-7);

    float c_t[] = {0, 1, 0.5f, 1}, c_p[] = {0.6f, 0.4f, 0.3f, -0.2f};
    row_values("hinge", c_t, c_p, 2, 2, v, g);
    assert_close(v[0], 0.8, 1e-6, "batch with a 0.5 label");

    // All zeros is binary too: y becomes -1, so [0.5, 0.7] costs (1.5+1.7)/2
    // (unconverted it would be 1).
    float z_t[] = {0, 0}, z_p[] = {0.5f, 0.7f};
    row_values("hinge", z_t, z_p, 1, 2, v, g);
    assert_close(v[0], 1.6, 1e-6, "all-zero labels");

    // squared_hinge: (1.6² + 0.6²)/2 = 1.46 converted, (1 + 0.36)/2 = 0.68 not.
    row_values("squared_hinge", a_t, a_p, 2, 2, v, g);
    assert_close(v[0], 1.46, 1e-6);
    assert_close(g[0], 1.6, 1e-6);   // -2·y·m/2 with y = -1, m = 1.6
    row_values("squared_hinge", b_t, b_p, 2, 2, v, g);
    assert_close(v[0], 0.68, 1e-6);
    assert_close(g[0], 0.0, 0.0);
    assert_close(g[1], -0.6, 1e-6);  // -2·1·0.6/2

    // categorical_hinge never converts: y [0, 1] stays, pos 0.4, neg 0.6.
    row_values("categorical_hinge", a_t, a_p, 2, 2, v, g);
    assert_close(v[0], 1.2, 1e-6);
}

// The rule is per call: through soma_loss_eval the whole batch decides.
Test(hinge_rule, through_public_api) {
    soma_tensor *t = t2(2, 2, (float[]){0, 1, -1, 1});
    soma_tensor *p = t2(2, 2, (float[]){0.6f, 0.4f, 0.3f, -0.2f});
    expect_none("hinge", t, p, NULL, (double[]){0.8, 1.25}, 2, 1e-6);
    soma_tensor *t1_ = t2(1, 2, (float[]){0, 1}), *p1_ = t2(1, 2, (float[]){0.6f, 0.4f});
    expect_none("hinge", t1_, p1_, NULL, (double[]){1.1}, 1, 1e-6);
    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(t1_);
    soma_tensor_free(p1_);
}

/* ---- value and gradient of every loss and every parameter path ------------- */

Test(gradients, mae_mape_msle) {
    float yt[R * C], yp[R * C];
    fill(yt, R * C, -2, 2);
    fill(yp, R * C, -2, 2);
    check_loss("mean_absolute_error", ref_mae, NO_OPT, R, C, yt, yp, 1e-6);
    check_loss("mape", ref_mape, NO_OPT, R, C, yt, yp, 1e-6);
    // Negative predictions sit where max(p, eps) holds them: gradient 0;
    // negative labels count as eps.
    check_loss("msle", ref_msle, NO_OPT, R, C, yt, yp, 1e-6);
    fill(yt, R * C, 0, 5);
    fill(yp, R * C, 0.01, 5);
    check_loss("mean_squared_logarithmic_error", ref_msle, NO_OPT, R, C, yt, yp, 1e-6);
}

// Zero labels: MAPE divides by eps (value ~1e9, gradient ~1e9 too). The
// loss is piecewise linear, so a coarse FD step is exact away from the kinks
// and keeps the ~1e9 terms from drowning the others in rounding.
Test(gradients, mape_zero_labels) {
    float yt[] = {0, 2, 0, -1, 0, 0}, yp[] = {0.5f, 1, -0.25f, 3, 0.01f, -2};
    check_loss("mape", ref_mape, NO_OPT, 2, 3, yt, yp, 1e-4);
}

// A perfect prediction: the |x| kink has gradient 0 (TF's sign(0) = 0).
Test(gradients, abs_kinks_are_zero) {
    float yt[] = {1.5f, -2, 0.25f}, yp[] = {1.5f, -2, 0.25f}, v, g[3];
    const char *specs[] = {"mae", "mape"};
    for (int i = 0; i < 2; i++) {
        row_values(specs[i], yt, yp, 1, 3, &v, g);
        cr_assert_eq(v, 0.0f, "%s value %g", specs[i], v);
        for (int c = 0; c < 3; c++) cr_assert_eq(g[c], 0.0f, "%s g[%d] = %g", specs[i], c, g[c]);
    }
}

Test(gradients, huber_every_delta) {
    float yt[R * C], yp[R * C];
    fill(yt, R * C, -2, 2);
    fill(yp, R * C, -2, 2); // errors in (-4, 4): both branches for every delta
    check_loss("huber", ref_huber, (ref_opt){.delta = 1.0}, R, C, yt, yp, 1e-6);
    check_loss("huber(delta=0.3)", ref_huber, (ref_opt){.delta = 0.3}, R, C, yt, yp, 1e-6);
    check_loss("huber(delta=2.5)", ref_huber, (ref_opt){.delta = 2.5}, R, C, yt, yp, 1e-6);
    check_loss("huber(delta=100)", ref_huber, (ref_opt){.delta = 100}, R, C, yt, yp, 1e-6);
}

Test(gradients, log_cosh) {
    float yt[R * C], yp[R * C];
    fill(yt, R * C, -3, 3);
    fill(yp, R * C, -3, 3);
    check_loss("log_cosh", ref_log_cosh, NO_OPT, R, C, yt, yp, 1e-6);
}

// Errors far beyond where cosh overflows (float32 cosh(90) = inf): the
// overflow-safe form gives |x| - log 2 and the gradient tanh x = ±1.
Test(gradients, log_cosh_no_overflow) {
    float yt[] = {0, 0, 0, 0}, yp[] = {400, -1000, 30, -0.001f}, v, g[4];
    row_values("log_cosh", yt, yp, 1, 4, &v, g);
    double want = (400 - log(2.0) + 1000 - log(2.0) + 30 - log(2.0) +
                   log(cosh(0.001))) / 4;
    assert_close(v, want, 1e-4 * want);
    assert_close(g[0], 0.25, 1e-7);
    assert_close(g[1], -0.25, 1e-7);
    assert_close(g[2], tanh(30.0) / 4, 1e-7);
    assert_close(g[3], tanh(-0.001) / 4, 1e-9);
}

Test(gradients, hinge_and_squared_hinge_all_label_kinds) {
    float binary[R * C], pm1[R * C], soft[R * C], yp[R * C];
    for (int i = 0; i < R * C; i++) {
        binary[i] = urand(0, 1) < 0.5 ? 0.0f : 1.0f;
        pm1[i] = 2 * binary[i] - 1;
    }
    fill(soft, R * C, -1.5, 1.5);
    fill(yp, R * C, -2, 2); // margins of both signs
    const char *specs[] = {"hinge", "squared_hinge"};
    ref_fn refs[] = {ref_hinge, ref_sq_hinge};
    for (int k = 0; k < 2; k++) {
        check_loss(specs[k], refs[k], NO_OPT, R, C, binary, yp, 1e-6);
        check_loss(specs[k], refs[k], NO_OPT, R, C, pm1, yp, 1e-6);
        check_loss(specs[k], refs[k], NO_OPT, R, C, soft, yp, 1e-6);
    }
    // The harness's own rule must have seen both cases.
    cr_assert(whole_tensor_binary(binary, R * C) && !whole_tensor_binary(pm1, R * C));
}

Test(gradients, categorical_hinge) {
    float hot[R * C], soft[R * C], yp[R * C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) hot[r * C + c] = c == (r * 2) % C;
    fill(soft, R * C, 0, 1);
    fill(yp, R * C, -1, 1);
    check_loss("categorical_hinge", ref_cat_hinge, NO_OPT, R, C, hot, yp, 1e-6);
    check_loss("categorical_hinge", ref_cat_hinge, NO_OPT, R, C, soft, yp, 1e-6);
    // Confident right answers: the margin is met, value and gradient 0.
    float y2[] = {0, 1, 0}, p2[] = {-1, 3, 0.5f}, v, g[3];
    row_values("categorical_hinge", y2, p2, 1, 3, &v, g);
    cr_assert_eq(v, 0.0f);
    for (int c = 0; c < 3; c++) cr_assert_eq(g[c], 0.0f);
}

// A max reached twice shares its gradient: neg = 0.5 at classes 0 and 2,
// pos = 0.2: value 1.3, d/dp = [0.5, -1, 0.5] (TF's reduce_max rule).
Test(gradients, categorical_hinge_tie) {
    float y[] = {0, 1, 0}, p[] = {0.5f, 0.2f, 0.5f}, v, g[3];
    row_values("categorical_hinge", y, p, 1, 3, &v, g);
    assert_close(v, 1.3, 1e-6);
    assert_close(g[0], 0.5, 1e-7);
    assert_close(g[1], -1.0, 1e-7);
    assert_close(g[2], 0.5, 1e-7);
}

Test(gradients, binary_focal_crossentropy_all_paths) {
    float yt[R * C], hard[R * C], yp[R * C], x[R * C];
    fill(yt, R * C, 0, 1);
    for (int i = 0; i < R * C; i++) hard[i] = urand(0, 1) < 0.5 ? 0.0f : 1.0f;
    fill(yp, R * C, 0.03, 0.97);
    fill(x, R * C, -4, 4);
    static const struct {
        const char *spec;
        ref_opt o;
        int logits_input;
    } cases[] = {
        {"binary_focal_crossentropy", {.gamma = 2, .alpha = 0.25}, 0},
        {"binary_focal_crossentropy(gamma=0)", {.gamma = 0, .alpha = 0.25}, 0},
        {"binary_focal_crossentropy(gamma=0.5)", {.gamma = 0.5, .alpha = 0.25}, 0},
        {"binary_focal_crossentropy(gamma=3.5)", {.gamma = 3.5, .alpha = 0.25}, 0},
        {"binary_focal_crossentropy(apply_class_balancing=true)",
         {.gamma = 2, .alpha = 0.25, .balance = 1}, 0},
        {"binary_focal_crossentropy(apply_class_balancing=true, alpha=0.6, gamma=1)",
         {.gamma = 1, .alpha = 0.6, .balance = 1}, 0},
        {"binary_focal_crossentropy(label_smoothing=0.2)",
         {.gamma = 2, .alpha = 0.25, .ls = 0.2}, 0},
        {"binary_focal_crossentropy(from_logits=true)",
         {.gamma = 2, .alpha = 0.25, .logits = 1}, 1},
        {"binary_focal_crossentropy(from_logits=true, gamma=0.5)",
         {.gamma = 0.5, .alpha = 0.25, .logits = 1}, 1},
        {"binary_focal_crossentropy(from_logits=true, apply_class_balancing=true, "
         "alpha=0.4, label_smoothing=0.1, gamma=1.5)",
         {.gamma = 1.5, .alpha = 0.4, .balance = 1, .logits = 1, .ls = 0.1}, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float *in = cases[k].logits_input ? x : yp;
        check_loss(cases[k].spec, ref_bfce, cases[k].o, R, C, yt, in, 1e-6);
        check_loss(cases[k].spec, ref_bfce, cases[k].o, R, C, hard, in, 1e-6);
    }
    // alpha has no effect without apply_class_balancing (Keras).
    check_loss("binary_focal_crossentropy(alpha=0.9)", ref_bfce,
               (ref_opt){.gamma = 2, .alpha = 0.9}, R, C, yt, yp, 1e-6);
}

// Predictions held by the clip: bce is a constant there, but the focal
// factor uses the unclipped p and still moves, so the gradient is that of
// (1 - p_t)^γ alone. FD steps small enough to stay inside the region.
Test(gradients, binary_focal_crossentropy_clipped) {
    float yt[] = {0, 1, 0.3f, 1, 0, 0.7f}, yp[] = {1e-9f, 1e-9f, 1e-9f,
                                                  0.99999994f, 0.99999994f, 0.99999994f};
    check_loss("binary_focal_crossentropy", ref_bfce, (ref_opt){.gamma = 2, .alpha = 0.25},
               2, 3, yt, yp, 1e-10);
    check_loss("binary_focal_crossentropy(gamma=1, apply_class_balancing=true)", ref_bfce,
               (ref_opt){.gamma = 1, .alpha = 0.25, .balance = 1}, 2, 3, yt, yp, 1e-10);
}

// At a kink or clip boundary itself the gradient follows TF's tie rules:
// maximum(a, b) sends it to a when a >= b, clip's gradient passes at the
// bounds. So hinge at margin exactly 0 still pulls, categorical_hinge at
// exactly 0 too, MSLE at p = eps and KLD at p = eps or 1 keep their
// gradients.
Test(gradients, tie_rules_at_kinks) {
    float v[2], g[4];
    float ht[] = {1, -1}, hp[] = {1, -1}; // margins exactly 0, labels ±1 (not 0/1)
    row_values("hinge", ht, hp, 1, 2, v, g);
    cr_assert_eq(v[0], 0.0f);
    assert_close(g[0], -0.5, 0.0, "hinge at margin 0");
    assert_close(g[1], 0.5, 0.0, "hinge at margin 0");

    float ct[] = {0, 1}, cp[] = {0.5f, 1.5f}; // neg 0.5, pos 1.5: z = 0
    row_values("categorical_hinge", ct, cp, 1, 2, v, g);
    cr_assert_eq(v[0], 0.0f);
    assert_close(g[0], 1.0, 0.0, "categorical_hinge at z = 0");
    assert_close(g[1], -1.0, 0.0, "categorical_hinge at z = 0");

    float mt[] = {2, 0.5f}, mp[] = {1e-7f, -1}; // p at eps exactly, p below it
    row_values("msle", mt, mp, 1, 2, v, g);
    double e = (double)1e-7f;
    assert_close(g[0], 2 * (log1p(e) - log1p(2.0)) / (1 + e) / 2, 1e-7, "msle at p = eps");
    cr_assert_eq(g[1], 0.0f, "msle below eps: %g", g[1]);

    float kt[] = {0.3f, 0.6f}, kp[] = {1e-7f, 1};
    row_values("kld", kt, kp, 1, 2, v, g);
    assert_close(g[0], -(double)0.3f / e, 1e-6 * 0.3 / e, "kld at p = eps");
    assert_close(g[1], -(double)0.6f, 1e-7, "kld at p = 1");
}

// Poisson adds eps inside the log: p = 0 gives y·16.118/cols, not infinity.
Test(gradients, poisson_at_zero_prediction) {
    float yt[] = {2, 0}, yp[] = {0, 0}, v, g[2];
    row_values("poisson", yt, yp, 1, 2, &v, g);
    assert_close(v, -2 * log((double)1e-7f) / 2, 1e-4);
    assert_close(g[0], (1 - 2 / (double)1e-7f) / 2, 1e-7 * 2 / 1e-7);
    assert_close(g[1], 0.5, 1e-7);
}

Test(gradients, kl_divergence) {
    float soft[R * C], yp[R * C];
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += soft[r * C + c] = (float)urand(0.05, 1);
        for (int c = 0; c < C; c++) soft[r * C + c] = (float)(soft[r * C + c] / s);
    }
    fill(yp, R * C, 0.02, 0.98);
    check_loss("kl_divergence", ref_kld, NO_OPT, R, C, soft, yp, 1e-6);
    // Outside [eps, 1] the clip holds p: gradient 0; labels are clipped too.
    float yt2[] = {0, 1.5f, 0.4f, -0.2f, 0.3f, 0.6f};
    float yp2[] = {-0.3f, 0.5f, 1.4f, 0.2f, 2, 0.1f};
    check_loss("kld", ref_kld, NO_OPT, 2, 3, yt2, yp2, 1e-6);
}

Test(gradients, poisson) {
    float yt[R * C], yp[R * C];
    fill(yt, R * C, 0, 6);
    fill(yp, R * C, 0.05, 6);
    check_loss("poisson", ref_poisson, NO_OPT, R, C, yt, yp, 1e-6);
}

// Every loss through the public API, each reduction, with sample weights: the
// reduced value and its gradient against the references.
Test(gradients, every_loss_reduced_and_weighted) {
    static const struct {
        const char *spec;
        ref_fn ref;
        ref_opt o;
        double plo, phi, tlo, thi;
    } cases[] = {
        {"mae", ref_mae, {.delta = 0}, -2, 2, -2, 2},
        {"mape", ref_mape, {.delta = 0}, -2, 2, 0.5, 2},
        {"msle", ref_msle, {.delta = 0}, 0.01, 3, 0, 3},
        {"huber(delta=0.7)", ref_huber, {.delta = 0.7}, -2, 2, -2, 2},
        {"log_cosh", ref_log_cosh, {.delta = 0}, -2, 2, -2, 2},
        {"hinge", ref_hinge, {.delta = 0}, -2, 2, -1, 1},
        {"squared_hinge", ref_sq_hinge, {.delta = 0}, -2, 2, -1, 1},
        {"categorical_hinge", ref_cat_hinge, {.delta = 0}, -1, 1, 0, 1},
        {"binary_focal_crossentropy(gamma=1.5)", ref_bfce, {.gamma = 1.5, .alpha = 0.25},
         0.05, 0.95, 0, 1},
        {"kl_divergence", ref_kld, {.delta = 0}, 0.05, 0.95, 0.05, 0.95},
        {"poisson", ref_poisson, {.delta = 0}, 0.1, 4, 0, 4},
    };
    float yt[R * C], yp[R * C], w[R];
    fill(w, R, 0, 3);
    w[2] = 0; // a zero weight still counts in sum_over_batch_size's divisor
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fill(yt, R * C, cases[k].tlo, cases[k].thi);
        fill(yp, R * C, cases[k].plo, cases[k].phi);
        check_reduced(cases[k].spec, cases[k].ref, cases[k].o, R, C, yt, yp, NULL,
                      "sum_over_batch_size", 1e-6);
        check_reduced(cases[k].spec, cases[k].ref, cases[k].o, R, C, yt, yp, w,
                      "sum_over_batch_size", 1e-6);
        check_reduced(cases[k].spec, cases[k].ref, cases[k].o, R, C, yt, yp, w, "sum", 1e-6);
        check_reduced(cases[k].spec, cases[k].ref, cases[k].o, R, C, yt, yp, NULL, "mean",
                      1e-6);
    }
}

// Rank alignment is the host's: y_true (N,) with y_pred (N, 1) is (N, 1).
Test(gradients, rank_alignment) {
    float yt[] = {1, -2, 3}, yp[] = {0.5f, -1, 5};
    soma_tensor *t = t1(3, yt), *p = t2(3, 1, yp);
    assert_close(loss_eval("mae", "sum_over_batch_size", t, p, NULL), (0.5 + 1 + 2) / 3.0,
                 1e-6);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

/* ---- names, parameters, errors ---------------------------------------------- */

Test(names, aliases_and_class_names) {
    static const struct {
        const char *spec, *name;
    } cases[] = {
        {"mean_absolute_error", "mean_absolute_error"},
        {"mae", "mean_absolute_error"},
        {"MAE", "mean_absolute_error"},
        {"MeanAbsoluteError", "mean_absolute_error"},
        {"mape", "mean_absolute_percentage_error"},
        {"MAPE", "mean_absolute_percentage_error"},
        {"MeanAbsolutePercentageError", "mean_absolute_percentage_error"},
        {"msle", "mean_squared_logarithmic_error"},
        {"MSLE", "mean_squared_logarithmic_error"},
        {"MeanSquaredLogarithmicError", "mean_squared_logarithmic_error"},
        {"huber", "huber"},
        {"Huber", "huber"},
        {"log_cosh", "log_cosh"},
        {"LogCosh", "log_cosh"},
        {"logcosh", "log_cosh"},
        {"hinge", "hinge"},
        {"Hinge", "hinge"},
        {"squared_hinge", "squared_hinge"},
        {"SquaredHinge", "squared_hinge"},
        {"categorical_hinge", "categorical_hinge"},
        {"CategoricalHinge", "categorical_hinge"},
        {"binary_focal_crossentropy", "binary_focal_crossentropy"},
        {"BinaryFocalCrossentropy", "binary_focal_crossentropy"},
        {"kl_divergence", "kl_divergence"},
        {"KLDivergence", "kl_divergence"},
        {"kld", "kl_divergence"},
        {"KLD", "kl_divergence"},
        {"kullback_leibler_divergence", "kl_divergence"},
        {"poisson", "poisson"},
        {"Poisson", "poisson"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        soma_obj *o = mk(cases[i].spec);
        cr_expect_str_eq(o->item->name, cases[i].name, "%s", cases[i].spec);
        cr_expect_eq(o->kind, SOMA_KIND_LOSS);
        soma_obj_free(o);
    }
}

Test(names, declared_defaults) {
    double v = 99;
    soma_obj *o = mk("huber");
    cr_expect(soma_obj_param(o, "delta", &v) && v == 1.0, "delta %g", v);
    soma_obj_free(o);
    o = mk("binary_focal_crossentropy");
    cr_expect(soma_obj_param(o, "apply_class_balancing", &v) && v == 0, "acb %g", v);
    cr_expect(soma_obj_param(o, "alpha", &v) && v == 0.25, "alpha %g", v);
    cr_expect(soma_obj_param(o, "gamma", &v) && v == 2.0, "gamma %g", v);
    cr_expect(soma_obj_param(o, "from_logits", &v) && v == 0, "from_logits %g", v);
    cr_expect(soma_obj_param(o, "label_smoothing", &v) && v == 0, "ls %g", v);
    cr_expect(!soma_obj_param(o, "axis", &v), "axis is not declared");
    soma_obj_free(o);
    const char *no_params[] = {"mae", "mape", "msle", "log_cosh", "hinge",
                               "squared_hinge", "categorical_hinge", "kld", "poisson"};
    for (size_t i = 0; i < sizeof no_params / sizeof no_params[0]; i++) {
        o = mk(no_params[i]);
        cr_expect_eq(o->item->n_params, 0, "%s declares parameters", no_params[i]);
        soma_obj_free(o);
    }
}

static int create_rc(const char *spec) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_LOSS, spec, &o);
    if (rc == SOMA_OK) soma_obj_free(o);
    return rc;
}

static void expect_invalid(const char *spec, const char *mention) {
    int rc = create_rc(spec);
    cr_expect_eq(rc, SOMA_E_INVALID, "%s: got %d", spec, rc);
    cr_expect(strstr(soma_last_error(), mention) != NULL, "%s: message %s", spec,
              soma_last_error());
}

Test(errors, bad_parameters) {
    expect_invalid("huber(delta=0)", "delta");
    expect_invalid("huber(delta=-1)", "delta");
    cr_expect_eq(create_rc("huber(delta=1e-3)"), SOMA_OK);
    expect_invalid("binary_focal_crossentropy(label_smoothing=1.5)", "label_smoothing");
    expect_invalid("binary_focal_crossentropy(label_smoothing=-0.1)", "label_smoothing");
    expect_invalid("binary_focal_crossentropy(gamma=-1)", "gamma");
    expect_invalid("binary_focal_crossentropy(alpha=1.5)", "alpha");
    expect_invalid("binary_focal_crossentropy(alpha=-0.5)", "alpha");
    cr_expect_eq(create_rc("binary_focal_crossentropy(gamma=0, alpha=1, label_smoothing=1)"),
                 SOMA_OK);
    // Keras' binary_focal_crossentropy has an axis argument; this one reduces
    // over the last axis only and does not declare it.
    cr_expect_eq(create_rc("binary_focal_crossentropy(axis=-1)"), SOMA_E_NOT_FOUND);
    cr_expect_eq(create_rc("mae(delta=1)"), SOMA_E_NOT_FOUND);
    cr_expect_eq(create_rc("kld(foo=1)"), SOMA_E_NOT_FOUND);
    cr_expect_neq(create_rc("huber(delta=abc)"), SOMA_OK);
}

Test(errors, shape_mismatch) {
    const char *specs[] = {"mae", "mape", "msle", "huber", "log_cosh", "hinge",
                           "squared_hinge", "categorical_hinge",
                           "binary_focal_crossentropy", "kld", "poisson"};
    float a[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f}, v[4], g[8];
    float dv[4] = {1, 1, 1, 1};
    soma_ctx ctx = soma_ctx_make(NULL);
    // Same element count, different last axis; then different counts.
    soma_tview p = view2(a, 2, 4), q1 = view2(a, 4, 2), q2 = view2(a, 2, 3);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        soma_obj *o = mk(specs[i]);
        const soma_loss_vt *vt = soma_obj_loss(o);
        cr_expect_eq(vt->forward(&o->inst, &ctx, &q1, &p, v), SOMA_E_SHAPE, "%s", specs[i]);
        cr_expect_eq(vt->forward(&o->inst, &ctx, &q2, &p, v), SOMA_E_SHAPE, "%s", specs[i]);
        cr_expect(strstr(soma_last_error(), "y_true") != NULL, "%s: %s", specs[i],
                  soma_last_error());
        cr_expect_eq(vt->backward(&o->inst, &ctx, &q1, &p, dv, g), SOMA_E_SHAPE, "%s",
                     specs[i]);
        cr_expect_eq(vt->backward(&o->inst, &ctx, &q2, &p, dv, g), SOMA_E_SHAPE, "%s",
                     specs[i]);
        soma_obj_free(o);

        // Through the public API as well, with the loss named in the message.
        soma_tensor *tt = t2(2, 3, a), *tp = t2(2, 4, a);
        double d;
        cr_expect_eq(soma_loss_eval(specs[i], "sum", tt, tp, NULL, &d, NULL, NULL),
                     SOMA_E_SHAPE, "%s", specs[i]);
        soma_tensor_free(tt);
        soma_tensor_free(tp);
    }
}

// Poisson does not clip (Keras neither): a prediction below -eps gives the
// log of a negative number, and the NaN reaches the host instead of a
// plausible-looking finite loss.
Test(errors, poisson_negative_prediction_is_nan) {
    float yt[] = {1, 2}, yp[] = {0.5f, -1}, v, g[2];
    row_values("poisson", yt, yp, 1, 2, &v, g);
    cr_expect(isnan(v), "value %g", v);
}
