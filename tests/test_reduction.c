// Reductions, sample weights and masks, done by the core for every loss
// (KERAS.md §2.2–2.3), checked through the public soma_loss_eval against
// numbers worked out here.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "soma/soma.h"

#define ASSERT_OK(expr)                                                            \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        cr_assert_eq(rc_, SOMA_OK, "%s -> %d: %s", #expr, rc_, soma_last_error()); \
    } while (0)

static soma_tensor *tensor(int ndim, int64_t a, int64_t b, const float *data) {
    soma_tensor *t;
    int64_t d[2] = {a, b};
    ASSERT_OK(soma_tensor_create(&t, ndim, d, data));
    return t;
}

// KERAS.md's MSE example: per-sample [110/3, 187/3].
static const float YT[6] = {1, 9, 2, -5, -2, 6}, YP[6] = {4, 8, 12, 8, 1, 3};

Test(reduction, mean_with_sample_weight) {
    soma_tensor *yt = tensor(2, 2, 3, YT), *yp = tensor(2, 2, 3, YP);
    float w2[2] = {1.2f, 3.4f}, w1[1] = {2.3f};
    soma_tensor *sw = tensor(1, 2, 0, w2), *ss = tensor(1, 1, 0, w1);
    double v;
    ASSERT_OK(soma_loss_eval("mse", "mean_with_sample_weight", yt, yp, sw, &v, NULL, NULL));
    cr_assert_float_eq(v, (1.2 * 110 / 3 + 3.4 * 187 / 3) / 4.6, 1e-4);
    // a scalar weight divides by that scalar only: Σ(v·2.3)/2.3 = Σv
    ASSERT_OK(soma_loss_eval("mse", "mean_with_sample_weight", yt, yp, ss, &v, NULL, NULL));
    cr_assert_float_eq(v, 99.0, 1e-4);
    ASSERT_OK(soma_loss_eval("mse", "mean_with_sample_weight", yt, yp, NULL, &v, NULL, NULL));
    cr_assert_float_eq(v, 49.5, 1e-4);
    ASSERT_OK(soma_loss_eval("mse", "mean", yt, yp, sw, &v, NULL, NULL)); // = sum_over_batch_size
    cr_assert_float_eq(v, (1.2 * 110 / 3 + 3.4 * 187 / 3) / 2, 1e-4);
    // gradient of mean_with_sample_weight: w_r/Σw · ∂v_r/∂p = w_r/Σw · 2(p−y)/3
    soma_tensor *g;
    ASSERT_OK(soma_loss_eval("mse", "mean_with_sample_weight", yt, yp, sw, &v, NULL, &g));
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(soma_tensor_data(g)[i], w2[i / 3] / 4.6 * 2 * (YP[i] - YT[i]) / 3, 1e-5, "i=%d", i);
    soma_tensor_free(g);
    soma_tensor *bad = tensor(1, 3, 0, YT);
    int rc = soma_loss_eval("mse", "mean_with_sample_weight", yt, yp, bad, &v, NULL, NULL);
    cr_assert_eq(rc, SOMA_E_SHAPE, "%s", soma_last_error());
    rc = soma_loss_eval("mse", "average", yt, yp, NULL, &v, NULL, NULL);
    cr_assert_eq(rc, SOMA_E_NOT_FOUND, "%s", soma_last_error());
    soma_tensor_free(bad);
    soma_tensor_free(yt);
    soma_tensor_free(yp);
    soma_tensor_free(sw);
    soma_tensor_free(ss);
}

static double lse_loss(const float *x, int n, int k) {
    double m = x[0], s = 0;
    for (int i = 1; i < n; i++) m = fmax(m, x[i]);
    for (int i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s) - x[k];
}

// SCCE(ignore_class=-1): ignored rows give 0, the mean runs over the others,
// and their gradient is 0.
Test(reduction, ignore_class_masks_rows) {
    float logits[9] = {0.854f, 0.698f, 0.598f, 0.088f, 0.86f, 0.018f, 1.5f, -0.2f, 0.3f};
    float labels[3] = {-1, 2, 0};
    soma_tensor *yt = tensor(1, 3, 0, labels), *yp = tensor(2, 3, 3, logits);
    double l1 = lse_loss(logits + 3, 3, 2), l2 = lse_loss(logits + 6, 3, 0);
    const char *spec = "sparse_categorical_crossentropy(from_logits=true, ignore_class=-1)";
    double v;
    soma_tensor *vals, *g;
    ASSERT_OK(soma_loss_eval(spec, "sum_over_batch_size", yt, yp, NULL, &v, NULL, &g));
    cr_assert_float_eq(v, (l1 + l2) / 2, 1e-6); // over the 2 valid rows, not 3
    for (int c = 0; c < 3; c++) cr_assert_eq(soma_tensor_data(g)[c], 0.0f);
    // valid rows: (softmax − onehot)/2
    double z = exp(0.088) + exp(0.86) + exp(0.018);
    cr_assert_float_eq(soma_tensor_data(g)[3 + 2], (exp(0.018) / z - 1) / 2, 1e-6);
    soma_tensor_free(g);
    ASSERT_OK(soma_loss_eval(spec, "sum", yt, yp, NULL, &v, NULL, NULL));
    cr_assert_float_eq(v, l1 + l2, 1e-6);
    ASSERT_OK(soma_loss_eval(spec, "none", yt, yp, NULL, &v, &vals, NULL));
    cr_assert_eq(soma_tensor_data(vals)[0], 0.0f);
    cr_assert_float_eq(soma_tensor_data(vals)[1], l1, 1e-6);
    soma_tensor_free(vals);
    // without ignore_class the -1 label is an error naming the row
    int rc = soma_loss_eval("sparse_categorical_crossentropy(from_logits=true)", NULL, yt, yp, NULL, &v, NULL, NULL);
    cr_assert_eq(rc, SOMA_E_RANGE);
    cr_assert(strstr(soma_last_error(), "row 0"), "%s", soma_last_error());
    // every row ignored: 0/0 gives 0, not NaN
    float all[3] = {-1, -1, -1};
    soma_tensor *none = tensor(1, 3, 0, all);
    ASSERT_OK(soma_loss_eval(spec, NULL, none, yp, NULL, &v, NULL, NULL));
    cr_assert_eq(v, 0.0);
    soma_tensor_free(none);
    soma_tensor_free(yt);
    soma_tensor_free(yp);
}

// Without ignore_class SCCE has no mask, so mean_with_sample_weight divides by
// the weight as given (Keras: 0.8675005 for this input with sample_weight 2).
Test(reduction, no_mask_without_ignore_class) {
    float labels[2] = {0, 1}, probs[4] = {0.7f, 0.3f, 0.4f, 0.6f}, w[1] = {2};
    soma_tensor *yt = tensor(1, 2, 0, labels), *yp = tensor(2, 2, 2, probs), *sw = tensor(1, 1, 0, w);
    double v;
    ASSERT_OK(soma_loss_eval("sparse_categorical_crossentropy", "mean_with_sample_weight", yt, yp, sw, &v,
                             NULL, NULL));
    cr_assert_float_eq(v, -log(0.7) - log(0.6), 1e-6);
    // with ignore_class set (and nothing ignored) Keras masks: divide by the merged weights
    ASSERT_OK(soma_loss_eval("sparse_categorical_crossentropy(ignore_class=5)", "mean_with_sample_weight", yt,
                             yp, sw, &v, NULL, NULL));
    cr_assert_float_eq(v, (-log(0.7) - log(0.6)) / 2, 1e-6);
    soma_tensor_free(yt);
    soma_tensor_free(yp);
    soma_tensor_free(sw);
}

// fit with ignore_class: unlabeled rows (-1) train nothing and raise no error.
Test(reduction, fit_with_ignored_labels) {
    enum { N = 64 };
    float xs[N * 2], ys[N];
    for (int i = 0; i < N; i++) {
        xs[2 * i] = (float)(i % 2);
        xs[2 * i + 1] = (float)((i / 2) % 2);
        ys[i] = i % 3 == 0 ? -1.0f : (float)(i % 2);
    }
    soma_tensor *x = tensor(2, N, 2, xs), *y = tensor(1, N, 0, ys);
    soma_model *m;
    ASSERT_OK(soma_model_create(&m));
    ASSERT_OK(soma_model_add_dense(m, 2, "softmax", NULL, NULL));
    ASSERT_OK(soma_model_compile(m, "adam(learning_rate=0.1)",
                                 "sparse_categorical_crossentropy(ignore_class=-1)", NULL));
    soma_fit_config fc = soma_fit_defaults();
    fc.verbose = 0;
    fc.epochs = 30;
    ASSERT_OK(soma_model_fit(m, x, y, &fc));
    double last = soma_logs_get(soma_model_history(m, 29), "loss", -1);
    cr_assert(last < 0.1, "loss %g", last);
    soma_model_free(m);
    soma_tensor_free(x);
    soma_tensor_free(y);
}
