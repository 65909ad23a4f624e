/* Tests of the five loss plugins: Keras' documented values, hand-derived
 * values, double-precision references and central finite differences of
 * those references for every gradient path. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
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

static soma_tview view1(float *data, int64_t n) {
    soma_tview v = {.data = data, .ndim = 1, .dims = {n}};
    return v;
}

static soma_tensor *tensor(int ndim, int64_t d0, int64_t d1, const float *data) {
    int64_t dims[2] = {d0, d1};
    soma_tensor *t = NULL;
    cr_assert_eq(soma_tensor_create(&t, ndim, dims, data), SOMA_OK, "%s",
                 soma_last_error());
    return t;
}

#define assert_close(got, want, tol, ...)                                       \
    cr_assert(fabs((double)(got) - (double)(want)) <= (tol),                    \
              "got %.9g, want %.9g (tol %g): " __VA_ARGS__, (double)(got),      \
              (double)(want), (double)(tol))

// Reduced loss through the public API (sum_over_batch_size etc.).
static double loss_eval(const char *spec, const char *reduction, soma_tensor *yt,
                        soma_tensor *yp, soma_tensor *sw) {
    double v = NAN;
    int rc = soma_loss_eval(spec, reduction, yt, yp, sw, &v, NULL, NULL);
    cr_assert_eq(rc, SOMA_OK, "soma_loss_eval(%s, %s): %s", spec, reduction,
                 soma_last_error());
    return v;
}

// Deterministic uniform numbers for the test inputs (xorshift64*).
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(double lo, double hi) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t x = rng_state * 0x2545F4914F6CDD1Dull;
    return lo + (hi - lo) * (double)(x >> 11) / 9007199254740992.0;
}

/* ---- references in double precision -------------------------------------
 * Each computes one row's per-sample loss from the formulas of KERAS.md §2,
 * written again here so that the plugins are checked against something
 * other than themselves. t is the row of y_true (for SCCE: its label). */
typedef struct ref_opt {
    int logits;
    double ls;
} ref_opt;
typedef double (*ref_fn)(const double *t, const double *p, int64_t C,
                         const ref_opt *o);

static const double EPS = 1e-7;

static double clipd(double q) { return q < EPS ? EPS : q > 1 - EPS ? 1 - EPS : q; }

static double ref_mse(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += (t[c] - p[c]) * (t[c] - p[c]);
    return s / C;
}

static double ref_cos(const double *t, const double *p, int64_t C, const ref_opt *o) {
    (void)o;
    double st = 0, sp = 0, d = 0;
    for (int64_t c = 0; c < C; c++) {
        st += t[c] * t[c];
        sp += p[c] * p[c];
        d += t[c] * p[c];
    }
    return -d / sqrt(fmax(st, EPS * EPS)) / sqrt(fmax(sp, EPS * EPS));
}

static double ref_bce(const double *t, const double *p, int64_t C, const ref_opt *o) {
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        double y = t[c] * (1 - o->ls) + 0.5 * o->ls;
        if (o->logits) {
            double x = p[c];
            s += fmax(x, 0) - x * y + log1p(exp(-fabs(x)));
        } else {
            double q = clipd(p[c]);
            s -= y * log(q) + (1 - y) * log(1 - q);
        }
    }
    return s / C;
}

static double ref_lse(const double *x, int64_t C) {
    double m = x[0], s = 0;
    for (int64_t c = 1; c < C; c++) m = fmax(m, x[c]);
    for (int64_t c = 0; c < C; c++) s += exp(x[c] - m);
    return m + log(s);
}

static double ref_cce(const double *t, const double *p, int64_t C, const ref_opt *o) {
    double v = 0, S = 0, lse = o->logits ? ref_lse(p, C) : 0;
    for (int64_t c = 0; c < C; c++) S += p[c];
    for (int64_t c = 0; c < C; c++) {
        double y = t[c] * (1 - o->ls) + o->ls / C;
        v -= y * (o->logits ? p[c] - lse : log(clipd(p[c] / S)));
    }
    return v;
}

static double ref_scce(const double *t, const double *p, int64_t C, const ref_opt *o) {
    int64_t k = (int64_t)t[0];
    if (o->logits) return ref_lse(p, C) - p[k];
    double S = 0;
    for (int64_t c = 0; c < C; c++) S += p[c];
    return -log(clipd(p[k] / S));
}

/* Checks forward against ref and backward against central differences of
 * ref (in double, step h), with random upstream gradients d_values so that
 * the per-row scaling is checked too. yt has t_cols entries per row (C, or 1
 * for a sparse label). */
static void check_loss(const char *spec, ref_fn ref, ref_opt opt, int64_t R,
                       int64_t C, float *yt, int64_t t_cols, float *yp,
                       double h) {
    soma_obj *o = mk(spec);
    const soma_loss_vt *vt = soma_obj_loss(o);
    soma_ctx ctx = soma_ctx_make(NULL);
    soma_tview vt_true = t_cols == 1 && C != 1 ? view1(yt, R) : view2(yt, R, C);
    soma_tview vt_pred = view2(yp, R, C);

    float *values = calloc((size_t)R, sizeof *values);
    float *dv = calloc((size_t)R, sizeof *dv);
    float *grad = calloc((size_t)(R * C), sizeof *grad);
    double *t = calloc((size_t)t_cols, sizeof *t), *p = calloc((size_t)C, sizeof *p);
    cr_assert(values && dv && grad && t && p);
    for (int64_t r = 0; r < R; r++) dv[r] = (float)urand(0.5, 1.5);

    cr_assert_eq(vt->forward(&o->inst, &ctx, &vt_true, &vt_pred, values), SOMA_OK,
                 "%s forward: %s", spec, soma_last_error());
    cr_assert_eq(vt->backward(&o->inst, &ctx, &vt_true, &vt_pred, dv, grad), SOMA_OK,
                 "%s backward: %s", spec, soma_last_error());

    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < t_cols; c++) t[c] = yt[r * t_cols + c];
        for (int64_t c = 0; c < C; c++) p[c] = yp[r * C + c];
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
                         "%s d/dy_pred[%lld][%lld]", spec, (long long)r, (long long)c);
        }
    }
    free(values);
    free(dv);
    free(grad);
    free(t);
    free(p);
    soma_obj_free(o);
}

enum { R = 6, C = 5 };

/* ---- the tutorial's four snippets (KERAS.md values) --------------------- */

Test(tutorial, mean_squared_error) {
    float yt[] = {3, -0.5f, 2, 7}, yp[] = {2.5f, 0, 2, 8};
    soma_tensor *t = tensor(2, 1, 4, yt), *p = tensor(2, 1, 4, yp);
    assert_close(loss_eval("mse", "sum_over_batch_size", t, p, NULL), 0.375, 1e-6);
    assert_close(loss_eval("MeanSquaredError", "sum_over_batch_size", t, p, NULL),
                 0.375, 1e-6);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

Test(tutorial, cosine_similarity) {
    float yt[] = {1, 0, -1, 0, 1, 0}, yp[] = {-1, 0, 1, 0, -1, 0};
    soma_tensor *t = tensor(2, 2, 3, yt), *p = tensor(2, 2, 3, yp);
    assert_close(loss_eval("cosine_similarity(axis=-1)", "sum_over_batch_size", t, p,
                           NULL),
                 1.0, 1e-6);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

Test(tutorial, binary_crossentropy) {
    float yt[] = {0, 1, 1, 0}, yp[] = {0.1f, 0.9f, 0.8f, 0.4f};
    soma_tensor *t = tensor(2, 1, 4, yt), *p = tensor(2, 1, 4, yp);
    double want = -(log(0.9) + log(0.9) + log(0.8) + log(0.6)) / 4;
    double got = loss_eval("binary_crossentropy", "sum_over_batch_size", t, p, NULL);
    assert_close(got, want, 1e-6);
    assert_close(got, 0.23617, 1e-5);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

Test(tutorial, categorical_crossentropy) {
    float yt[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    float yp[] = {0.9f, 0.05f, 0.05f, 0.1f, 0.8f, 0.1f, 0.2f, 0.2f, 0.6f};
    soma_tensor *t = tensor(2, 3, 3, yt), *p = tensor(2, 3, 3, yp);
    double want = -(log(0.9) + log(0.8) + log(0.6)) / 3;
    double got = loss_eval("categorical_crossentropy", "sum_over_batch_size", t, p, NULL);
    assert_close(got, want, 1e-6);
    assert_close(got, 0.27978, 1e-5);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

/* ---- Keras' own test values --------------------------------------------- */

// KERAS.md §2.2: per-sample MSE [110/3, 187/3] under each weighting.
Test(keras_values, mse_reductions_and_weights) {
    float yt[] = {1, 9, 2, -5, -2, 6}, yp[] = {4, 8, 12, 8, 1, 3};
    soma_tensor *t = tensor(2, 2, 3, yt), *p = tensor(2, 2, 3, yp);
    float w23[] = {2.3f, 2.3f}, wcol[] = {1.2f, 3.4f};
    soma_tensor *sw = tensor(1, 2, 0, w23), *swc = tensor(2, 2, 1, wcol);

    assert_close(loss_eval("mse", "sum_over_batch_size", t, p, NULL), 49.5, 1e-4);
    assert_close(loss_eval("mse", "sum_over_batch_size", t, p, sw), 113.85, 1e-4);
    assert_close(loss_eval("mse", "sum_over_batch_size", t, p, swc), 767.8 / 6, 1e-4);
    assert_close(loss_eval("mse", "sum", t, p, sw), 227.7, 1e-3);

    // "none" gives the weighted per-sample values.
    soma_tensor *vals = NULL;
    double v;
    cr_assert_eq(soma_loss_eval("mse", "none", t, p, swc, &v, &vals, NULL), SOMA_OK,
                 "%s", soma_last_error());
    cr_assert_eq(soma_tensor_numel(vals), 2);
    assert_close(soma_tensor_cdata(vals)[0], 110.0 / 3 * 1.2, 1e-4);
    assert_close(soma_tensor_cdata(vals)[1], 187.0 / 3 * 3.4, 1e-4);
    soma_tensor_free(vals);

    // The reduced gradient: d/dp mean_rows(mean_cols((p-y)²)) = 2(p-y)/(R·C).
    soma_tensor *g = NULL;
    cr_assert_eq(soma_loss_eval("mse", "sum_over_batch_size", t, p, NULL, &v, NULL, &g),
                 SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_tensor_numel(g), 6);
    for (int i = 0; i < 6; i++)
        assert_close(soma_tensor_cdata(g)[i], 2.0 * (yp[i] - yt[i]) / 6, 1e-6,
                     "grad[%d]", i);
    soma_tensor_free(g);

    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(sw);
    soma_tensor_free(swc);
}

// Keras' CategoricalCrossentropy tests: the middle row sums to 1.99 and must be
// normalised; the logits case; weights 2.3 and [1.2, 3.4, 5.6].
static const float keras_cce_probs[] = {0.9f, 0.05f, 0.05f, 0.5f, 0.89f,
                                        0.6f, 0.05f, 0.01f, 0.94f};
static const float keras_cce_logits[] = {8, 1, 1, 0, 9, 1, 2, 3, 5};

Test(keras_values, categorical_crossentropy) {
    float yt[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    soma_tensor *t = tensor(2, 3, 3, yt);
    soma_tensor *p = tensor(2, 3, 3, keras_cce_probs);
    soma_tensor *x = tensor(2, 3, 3, keras_cce_logits);
    float w[] = {1.2f, 3.4f, 5.6f}, w23[] = {2.3f, 2.3f, 2.3f};
    soma_tensor *sw = tensor(1, 3, 0, w), *sw23 = tensor(1, 3, 0, w23);

    assert_close(loss_eval("categorical_crossentropy", "sum_over_batch_size", t, p, NULL),
                 0.3239, 1e-4);
    assert_close(loss_eval("categorical_crossentropy", "sum_over_batch_size", t, p, sw23),
                 0.7449, 3e-4);
    assert_close(loss_eval("categorical_crossentropy", "sum_over_batch_size", t, p, sw),
                 1.0696, 1e-4);
    assert_close(loss_eval("categorical_crossentropy(from_logits=true)",
                           "sum_over_batch_size", t, x, NULL),
                 0.0573755, 1e-6);
    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(x);
    soma_tensor_free(sw);
    soma_tensor_free(sw23);
}

Test(keras_values, sparse_categorical_crossentropy) {
    float labels[] = {0, 1, 2};
    soma_tensor *t = tensor(1, 3, 0, labels);
    soma_tensor *p = tensor(2, 3, 3, keras_cce_probs);
    soma_tensor *x = tensor(2, 3, 3, keras_cce_logits);
    assert_close(loss_eval("sparse_categorical_crossentropy", "sum_over_batch_size", t,
                           p, NULL),
                 0.3239, 1e-4);
    assert_close(loss_eval("sparse_categorical_crossentropy(from_logits=true)",
                           "sum_over_batch_size", t, x, NULL),
                 0.0573755, 1e-6);
    // The same labels as a (N, 1) column.
    soma_tensor *tc = tensor(2, 3, 1, labels);
    assert_close(loss_eval("sparse_categorical_crossentropy", "sum_over_batch_size", tc,
                           p, NULL),
                 0.3239, 1e-4);
    soma_tensor_free(tc);
    soma_tensor_free(t);
    soma_tensor_free(p);
    soma_tensor_free(x);
}

// Keras' label-smoothing tests on saturated logits [100, -100, -100].
Test(keras_values, label_smoothing_on_logits) {
    soma_obj *cce = mk("categorical_crossentropy(from_logits=true, label_smoothing=0.1)");
    soma_obj *bce = mk("binary_crossentropy(from_logits=true, label_smoothing=0.1)");
    soma_ctx ctx = soma_ctx_make(NULL);
    float x[] = {100, -100, -100};
    float y_cce[] = {1, 0, 0}, y_bce[] = {1, 0, 1};
    soma_tview vx = view2(x, 1, 3), vc = view2(y_cce, 1, 3), vb = view2(y_bce, 1, 3);
    float v;
    // Two classes each carry ls/3 of the label at log-probability -200.
    cr_assert_eq(soma_obj_loss(cce)->forward(&cce->inst, &ctx, &vc, &vx, &v), SOMA_OK);
    assert_close(v, 400 * 0.1 / 3, 1e-4);
    // Labels become [0.95, 0.05, 0.95]: element losses 5, 5, 95.
    cr_assert_eq(soma_obj_loss(bce)->forward(&bce->inst, &ctx, &vb, &vx, &v), SOMA_OK);
    assert_close(v, (100 + 50 * 0.1) / 3, 1e-4);
    soma_obj_free(cce);
    soma_obj_free(bce);
}

// Label smoothing on probabilities, against the formula by hand.
Test(keras_values, label_smoothing_on_probabilities) {
    soma_obj *bce = mk("bce(label_smoothing=0.2)");
    soma_obj *cce = mk("categorical_crossentropy(label_smoothing=0.3)");
    soma_ctx ctx = soma_ctx_make(NULL);
    float yb[] = {0, 1}, pb[] = {0.3f, 0.6f};
    soma_tview vyb = view2(yb, 1, 2), vpb = view2(pb, 1, 2);
    float v;
    cr_assert_eq(soma_obj_loss(bce)->forward(&bce->inst, &ctx, &vyb, &vpb, &v), SOMA_OK);
    // y → [0.1, 0.9]
    double want = -(0.1 * log(0.3) + 0.9 * log(0.7) + 0.9 * log(0.6) + 0.1 * log(0.4)) / 2;
    assert_close(v, want, 1e-6);

    float yc[] = {0, 1, 0}, pc[] = {0.2f, 0.5f, 0.3f};
    soma_tview vyc = view2(yc, 1, 3), vpc = view2(pc, 1, 3);
    cr_assert_eq(soma_obj_loss(cce)->forward(&cce->inst, &ctx, &vyc, &vpc, &v), SOMA_OK);
    // y → [0.1, 0.8, 0.1]
    want = -(0.1 * log(0.2) + 0.8 * log(0.5) + 0.1 * log(0.3));
    assert_close(v, want, 1e-6);
    soma_obj_free(bce);
    soma_obj_free(cce);
}

/* ---- float32 clipping ------------------------------------------------------ */

// 1 - 1e-7 is 0.99999988 in float32, so a confident wrong prediction costs
// -log(1.1920929e-7) = 15.942385, and the other side -log(1e-7f) = 16.118096.
// Both sit in the clipped region, where the gradient is 0.
Test(clipping, float32_bce_caps) {
    soma_obj *o = mk("binary_crossentropy");
    soma_ctx ctx = soma_ctx_make(NULL);
    float yt[] = {0, 1}, yp[] = {1, 0}, v[2], dv[2] = {1, 1}, g[2] = {7, 7};
    soma_tview t = view2(yt, 2, 1), p = view2(yp, 2, 1);
    cr_assert_eq(soma_obj_loss(o)->forward(&o->inst, &ctx, &t, &p, v), SOMA_OK);
    assert_close(v[0], -log(1.0 - (double)(1.0f - 1e-7f)), 1e-5);
    assert_close(v[0], 15.942385, 1e-5);
    assert_close(v[1], 16.118096, 1e-5);
    cr_assert_eq(soma_obj_loss(o)->backward(&o->inst, &ctx, &t, &p, dv, g), SOMA_OK);
    cr_assert(g[0] == 0 && g[1] == 0, "clipped gradient %g %g", g[0], g[1]);
    soma_obj_free(o);
}

// SCCE with the target held by the clip at either end: every gradient is 0.
Test(clipping, scce_target_clipped) {
    soma_obj *o = mk("sparse_categorical_crossentropy");
    soma_ctx ctx = soma_ctx_make(NULL);
    float labels[] = {0, 0};
    float yp[] = {1e-10f, 1, 1, 1, 1e-10f, 1e-10f};
    float v[2], dv[2] = {1, 1}, g[6];
    soma_tview t = view1(labels, 2), p = view2(yp, 2, 3);
    cr_assert_eq(soma_obj_loss(o)->forward(&o->inst, &ctx, &t, &p, v), SOMA_OK);
    assert_close(v[0], 16.118096, 1e-5);
    assert_close(v[1], -log((double)(1.0f - 1e-7f)), 1e-9);
    cr_assert_eq(soma_obj_loss(o)->backward(&o->inst, &ctx, &t, &p, dv, g), SOMA_OK);
    for (int i = 0; i < 6; i++) cr_assert(g[i] == 0, "g[%d] = %g", i, g[i]);
    soma_obj_free(o);
}

// CCE where one labelled class is clipped: its term is a constant, and the
// normalisation still couples the others. FD with a step small enough to stay
// inside the clip region.
Test(clipping, cce_partly_clipped_gradient) {
    float yt[] = {0.5f, 0.3f, 0.2f, 0, 1, 0};
    float yp[] = {1, 1e-10f, 1, 0.3f, 0.2f, 0.5f};
    check_loss("categorical_crossentropy", ref_cce, (ref_opt){0, 0}, 2, 3, yt, 3, yp,
               1e-8);
    check_loss("sparse_categorical_crossentropy", ref_scce, (ref_opt){0, 0}, 1, 3,
               (float[]){0}, 1, yp, 1e-8);
}

/* ---- from_logits equivalence ---------------------------------------------- */

Test(from_logits, bce_matches_sigmoid_probabilities) {
    float x[R * C], s[R * C], y[R * C];
    for (int i = 0; i < R * C; i++) {
        x[i] = (float)urand(-4, 4);
        s[i] = (float)(1 / (1 + exp(-(double)x[i])));
        y[i] = (float)urand(0, 1);
    }
    soma_tensor *tx = tensor(2, R, C, x), *ts = tensor(2, R, C, s), *ty = tensor(2, R, C, y);
    double a = loss_eval("bce(from_logits=true)", "sum_over_batch_size", ty, tx, NULL);
    double b = loss_eval("bce", "sum_over_batch_size", ty, ts, NULL);
    assert_close(a, b, 1e-5 * fabs(b));
    soma_tensor_free(tx);
    soma_tensor_free(ts);
    soma_tensor_free(ty);
}

Test(from_logits, cce_and_scce_match_softmax_probabilities) {
    float x[R * C], s[R * C], y[R * C], labels[R];
    for (int r = 0; r < R; r++) {
        double m = -INFINITY, z = 0;
        for (int c = 0; c < C; c++) {
            x[r * C + c] = (float)urand(-3, 3);
            m = fmax(m, x[r * C + c]);
        }
        for (int c = 0; c < C; c++) z += exp(x[r * C + c] - m);
        for (int c = 0; c < C; c++) s[r * C + c] = (float)(exp(x[r * C + c] - m) / z);
        labels[r] = (float)(r % C);
        for (int c = 0; c < C; c++) y[r * C + c] = c == r % C;
    }
    soma_tensor *tx = tensor(2, R, C, x), *ts = tensor(2, R, C, s);
    soma_tensor *ty = tensor(2, R, C, y), *tl = tensor(1, R, 0, labels);
    double a = loss_eval("sparse_categorical_crossentropy(from_logits=true)",
                         "sum_over_batch_size", tl, tx, NULL);
    double b = loss_eval("sparse_categorical_crossentropy", "sum_over_batch_size", tl, ts,
                         NULL);
    double c = loss_eval("categorical_crossentropy(from_logits=true)",
                         "sum_over_batch_size", ty, tx, NULL);
    double d = loss_eval("categorical_crossentropy", "sum_over_batch_size", ty, ts, NULL);
    assert_close(a, b, 1e-5 * fabs(b));
    assert_close(c, d, 1e-5 * fabs(d));
    assert_close(a, c, 1e-6 * fabs(c));
    soma_tensor_free(tx);
    soma_tensor_free(ts);
    soma_tensor_free(ty);
    soma_tensor_free(tl);
}

/* ---- value and gradient of every loss and every parameter path ------------- */

static void fill(float *a, int n, double lo, double hi) {
    for (int i = 0; i < n; i++) a[i] = (float)urand(lo, hi);
}

// Soft labels (rows summing to 1) or one-hot rows.
static void fill_labels(float *y, int one_hot) {
    for (int r = 0; r < R; r++) {
        float *row = y + r * C;
        double s = 0;
        for (int c = 0; c < C; c++) {
            row[c] = one_hot ? 0.0f : (float)urand(0.1, 1);
            s += row[c];
        }
        if (one_hot) {
            row[(r * 3) % C] = 1;
        } else {
            for (int c = 0; c < C; c++) row[c] = (float)(row[c] / s);
        }
    }
}

Test(gradients, mean_squared_error) {
    float yt[R * C], yp[R * C];
    fill(yt, R * C, -2, 2);
    fill(yp, R * C, -2, 2);
    check_loss("mse", ref_mse, (ref_opt){0, 0}, R, C, yt, C, yp, 1e-6);
}

Test(gradients, cosine_similarity) {
    float yt[R * C], yp[R * C];
    fill(yt, R * C, -1, 1);
    fill(yp, R * C, -1, 1);
    check_loss("cosine_similarity", ref_cos, (ref_opt){0, 0}, R, C, yt, C, yp, 1e-6);
}

// Predictions whose squared norm is below eps² sit on the floor of the norm:
// the normaliser is the constant 1/eps, so the value is -y·p/(‖y‖·eps) and the
// gradient -l2n(y)/eps (a zero vector gives 0 and that same gradient).
Test(gradients, cosine_similarity_tiny_prediction) {
    float yt[] = {0.6f, -0.8f, 0, 0.6f, -0.8f, 0};
    float yp[] = {3e-8f, -2e-8f, 1e-8f, 0, 0, 0};
    check_loss("cosine_similarity", ref_cos, (ref_opt){0, 0}, 2, 3, yt, 3, yp, 1e-10);
}

Test(gradients, binary_crossentropy_all_paths) {
    float yt[R * C], yp[R * C], x[R * C];
    fill(yt, R * C, 0, 1);
    fill(yp, R * C, 0.05, 0.95);
    fill(x, R * C, -4, 4);
    check_loss("binary_crossentropy", ref_bce, (ref_opt){0, 0}, R, C, yt, C, yp, 1e-6);
    check_loss("binary_crossentropy(label_smoothing=0.2)", ref_bce, (ref_opt){0, 0.2}, R,
               C, yt, C, yp, 1e-6);
    check_loss("binary_crossentropy(from_logits=true)", ref_bce, (ref_opt){1, 0}, R, C, yt,
               C, x, 1e-6);
    check_loss("binary_crossentropy(from_logits=true, label_smoothing=0.3)", ref_bce,
               (ref_opt){1, 0.3}, R, C, yt, C, x, 1e-6);
}

Test(gradients, categorical_crossentropy_all_paths) {
    float soft[R * C], hot[R * C], yp[R * C], x[R * C];
    fill_labels(soft, 0);
    fill_labels(hot, 1);
    // Unnormalised probabilities, so the row-sum normalisation is exercised.
    fill(yp, R * C, 0.05, 1);
    fill(x, R * C, -3, 3);
    check_loss("categorical_crossentropy", ref_cce, (ref_opt){0, 0}, R, C, soft, C, yp,
               1e-6);
    check_loss("categorical_crossentropy", ref_cce, (ref_opt){0, 0}, R, C, hot, C, yp,
               1e-6);
    check_loss("categorical_crossentropy(label_smoothing=0.1)", ref_cce,
               (ref_opt){0, 0.1}, R, C, hot, C, yp, 1e-6);
    check_loss("categorical_crossentropy(from_logits=true)", ref_cce, (ref_opt){1, 0}, R,
               C, soft, C, x, 1e-6);
    check_loss("categorical_crossentropy(from_logits=true, label_smoothing=0.2)", ref_cce,
               (ref_opt){1, 0.2}, R, C, hot, C, x, 1e-6);
}

Test(gradients, sparse_categorical_crossentropy_all_paths) {
    float labels[R], yp[R * C], x[R * C];
    for (int r = 0; r < R; r++) labels[r] = (float)((r * 2) % C);
    fill(yp, R * C, 0.05, 1);
    fill(x, R * C, -3, 3);
    check_loss("sparse_categorical_crossentropy", ref_scce, (ref_opt){0, 0}, R, C, labels,
               1, yp, 1e-6);
    check_loss("sparse_categorical_crossentropy(from_logits=true)", ref_scce,
               (ref_opt){1, 0}, R, C, labels, 1, x, 1e-6);
}

/* ---- names, parameters, errors ---------------------------------------------- */

Test(names, aliases_and_class_names) {
    struct {
        const char *spec, *name;
    } cases[] = {
        {"mse", "mean_squared_error"},
        {"MSE", "mean_squared_error"},
        {"MeanSquaredError", "mean_squared_error"},
        {"bce", "binary_crossentropy"},
        {"BinaryCrossentropy", "binary_crossentropy"},
        {"CategoricalCrossentropy", "categorical_crossentropy"},
        {"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"},
        {"CosineSimilarity", "cosine_similarity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        soma_obj *o = mk(cases[i].spec);
        cr_assert_str_eq(o->item->name, cases[i].name, "%s", cases[i].spec);
        soma_obj_free(o);
    }
}

Test(names, declared_defaults) {
    soma_obj *o = mk("categorical_crossentropy");
    double v = 99;
    cr_assert(soma_obj_param(o, "from_logits", &v) && v == 0);
    cr_assert(soma_obj_param(o, "label_smoothing", &v) && v == 0);
    cr_assert(soma_obj_param(o, "axis", &v) && v == -1);
    soma_obj_free(o);
    o = mk("sparse_categorical_crossentropy");
    cr_assert(soma_obj_param(o, "from_logits", &v) && v == 0);
    cr_assert(soma_obj_param(o, "axis", &v) && v == -1);
    soma_obj_free(o);
    o = mk("binary_crossentropy");
    cr_assert(soma_obj_param(o, "label_smoothing", &v) && v == 0);
    soma_obj_free(o);
}

static int create_rc(const char *spec) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_LOSS, spec, &o);
    if (rc == SOMA_OK) soma_obj_free(o);
    return rc;
}

Test(errors, unknown_parameter) {
    cr_assert_eq(create_rc("mse(foo=1)"), SOMA_E_NOT_FOUND);
    cr_assert_eq(create_rc("bce(axis=-1)"), SOMA_E_NOT_FOUND);
}

Test(errors, unsupported_axis) {
    cr_assert_eq(create_rc("categorical_crossentropy(axis=1)"), SOMA_E_UNSUPPORTED);
    cr_assert(strstr(soma_last_error(), "axis") != NULL, "%s", soma_last_error());
    cr_assert_eq(create_rc("sparse_categorical_crossentropy(axis=0)"), SOMA_E_UNSUPPORTED);
    cr_assert_eq(create_rc("cosine_similarity(axis=1)"), SOMA_E_UNSUPPORTED);
    cr_assert_eq(create_rc("cosine_similarity(axis=-1)"), SOMA_OK);
}

Test(errors, label_smoothing_range) {
    cr_assert_eq(create_rc("bce(label_smoothing=1.5)"), SOMA_E_INVALID);
    cr_assert(strstr(soma_last_error(), "label_smoothing") != NULL, "%s",
              soma_last_error());
    cr_assert_eq(create_rc("categorical_crossentropy(label_smoothing=-0.1)"),
                 SOMA_E_INVALID);
    cr_assert_eq(create_rc("bce(label_smoothing=1)"), SOMA_OK);
}

Test(errors, shape_mismatch) {
    const char *specs[] = {"mse", "cosine_similarity", "bce", "categorical_crossentropy"};
    float a[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f}, v[2], g[8], dv[2] = {1, 1};
    soma_ctx ctx = soma_ctx_make(NULL);
    // Same element count, different last axis; then different counts.
    soma_tview p = view2(a, 2, 4), t1 = view2(a, 4, 2), t2 = view2(a, 2, 3);
    for (int i = 0; i < 4; i++) {
        soma_obj *o = mk(specs[i]);
        const soma_loss_vt *vt = soma_obj_loss(o);
        cr_assert_eq(vt->forward(&o->inst, &ctx, &t1, &p, v), SOMA_E_SHAPE, "%s", specs[i]);
        cr_assert_eq(vt->forward(&o->inst, &ctx, &t2, &p, v), SOMA_E_SHAPE, "%s", specs[i]);
        cr_assert_eq(vt->backward(&o->inst, &ctx, &t2, &p, dv, g), SOMA_E_SHAPE, "%s",
                     specs[i]);
        soma_obj_free(o);
    }
    soma_obj *o = mk("sparse_categorical_crossentropy");
    soma_tview lab = view1(a, 3);
    cr_assert_eq(soma_obj_loss(o)->forward(&o->inst, &ctx, &lab, &p, v), SOMA_E_SHAPE);
    soma_obj_free(o);

    // Through the public API as well.
    soma_tensor *tt = tensor(2, 2, 3, a), *tp = tensor(2, 2, 4, a);
    double d;
    cr_assert_eq(soma_loss_eval("mse", "sum", tt, tp, NULL, &d, NULL, NULL), SOMA_E_SHAPE);
    soma_tensor_free(tt);
    soma_tensor_free(tp);
}

Test(errors, bad_labels) {
    soma_obj *o = mk("sparse_categorical_crossentropy");
    const soma_loss_vt *vt = soma_obj_loss(o);
    soma_ctx ctx = soma_ctx_make(NULL);
    float p[6] = {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f}, v[2], g[6], dv[2] = {1, 1};
    soma_tview vp = view2(p, 2, 3);
    struct {
        float label;
        const char *what;
    } bad[] = {{3, "3"}, {-1, "-1"}, {1.5f, "1.5"}, {NAN, "NaN"}, {INFINITY, "inf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float labels[2] = {0, bad[i].label};
        soma_tview vl = view1(labels, 2);
        int rc = vt->forward(&o->inst, &ctx, &vl, &vp, v);
        cr_assert_eq(rc, SOMA_E_RANGE, "label %s gave %d", bad[i].what, rc);
        const char *msg = soma_last_error();
        cr_assert(strstr(msg, "row 1") != NULL, "message names the row: %s", msg);
        cr_assert(strstr(msg, bad[i].what) != NULL, "message names the value: %s", msg);
        cr_assert_eq(vt->backward(&o->inst, &ctx, &vl, &vp, dv, g), SOMA_E_RANGE);
    }
    float ok[2] = {2, 0};
    soma_tview vl = view1(ok, 2);
    cr_assert_eq(vt->forward(&o->inst, &ctx, &vl, &vp, v), SOMA_OK);
    soma_obj_free(o);
}
