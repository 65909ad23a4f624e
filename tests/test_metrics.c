// Metrics: Keras' accuracy family (values worked by hand from the rules in
// KERAS.md §4), top-k with TF's tie rule, losses as metrics, and how they
// appear in fit/evaluate logs under the user's names.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "model/model.h"

#define ASSERT_OK(expr)                                                            \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        cr_assert_eq(rc_, SOMA_OK, "%s -> %d: %s", #expr, rc_, soma_last_error()); \
    } while (0)

static double metric_value(const char *spec, float *yt, int yt_ndim, int64_t yt_cols, float *yp,
                           int64_t rows, int64_t cols) {
    soma_metric m;
    ASSERT_OK(soma_metric_create(spec, &m));
    soma_tview t = {.data = yt, .ndim = yt_ndim, .dims = {rows, yt_cols}};
    soma_tview p = {.data = yp, .ndim = 2, .dims = {rows, cols}};
    float scratch[16];
    double sum = 0;
    ASSERT_OK(soma_metric_update(&m, &t, &p, scratch, &sum));
    soma_metric_free(&m);
    return sum / (double)rows;
}

Test(metrics, accuracy_family) {
    // binary: [[1],[1],[0],[0]] vs [[0.98],[1],[0],[0.6]] → 3 of 4
    float bt[4] = {1, 1, 0, 0}, bp[4] = {0.98f, 1, 0, 0.6f};
    cr_assert_float_eq(metric_value("binary_accuracy", bt, 2, 1, bp, 4, 1), 0.75, 1e-12);
    cr_assert_float_eq(metric_value("binary_accuracy(threshold=0.7)", bt, 2, 1, bp, 4, 1), 1.0, 1e-12);
    cr_assert_float_eq(metric_value("accuracy", bt, 2, 1, bp, 4, 1), 0.75, 1e-12); // resolves to binary
    // strictly greater: exactly 0.5 is class 0
    float half_t[2] = {0, 1}, half_p[2] = {0.5f, 0.5f};
    cr_assert_float_eq(metric_value("binary_accuracy", half_t, 2, 1, half_p, 2, 1), 0.5, 1e-12);
    // sparse: labels [2, 1] vs rows argmax 1, 1 → 0.5
    float st[2] = {2, 1}, sp[6] = {0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0};
    cr_assert_float_eq(metric_value("sparse_categorical_accuracy", st, 1, 1, sp, 2, 3), 0.5, 1e-12);
    cr_assert_float_eq(metric_value("acc", st, 1, 1, sp, 2, 3), 0.5, 1e-12); // resolves to sparse
    // categorical: one-hot [[0,0,1],[0,1,0]] vs the same rows → 0.5
    float ct[6] = {0, 0, 1, 0, 1, 0};
    cr_assert_float_eq(metric_value("categorical_accuracy", ct, 2, 3, sp, 2, 3), 0.5, 1e-12);
    // top-k on [[0.1,0.9,0.8],[0.05,0.95,0]] with targets 2 and 1
    float kp[6] = {0.1f, 0.9f, 0.8f, 0.05f, 0.95f, 0};
    cr_assert_float_eq(metric_value("top_k_categorical_accuracy(k=1)", ct, 2, 3, kp, 2, 3), 0.5, 1e-12);
    cr_assert_float_eq(metric_value("top_k_categorical_accuracy(k=2)", ct, 2, 3, kp, 2, 3), 1.0, 1e-12);
    cr_assert_float_eq(metric_value("sparse_top_k_categorical_accuracy(k=1)", st, 1, 1, kp, 2, 3), 0.5, 1e-12);
    // ties at the boundary count as in the top k (TF's in_top_k)
    float tie[3] = {0.4f, 0.4f, 0.2f}, lab[1] = {1};
    cr_assert_float_eq(metric_value("sparse_top_k_categorical_accuracy(k=1)", lab, 1, 1, tie, 1, 3), 1.0, 1e-12);
    // and argmax ties resolve to the first index
    cr_assert_float_eq(metric_value("sparse_categorical_accuracy", lab, 1, 1, tie, 1, 3), 0.0, 1e-12);
}

Test(metrics, losses_as_metrics_and_errors) {
    // mse per sample: [[1,9,2],[-5,-2,6]] vs [[4,8,12],[8,1,3]] → (110/3 + 187/3)/2 = 49.5
    float yt[6] = {1, 9, 2, -5, -2, 6}, yp[6] = {4, 8, 12, 8, 1, 3};
    cr_assert_float_eq(metric_value("mse", yt, 2, 3, yp, 2, 3), 49.5, 1e-4);
    cr_assert_float_eq(metric_value("mean_absolute_error", yt, 2, 3, yp, 2, 3), 5.5, 1e-5);
    soma_metric m;
    int rc = soma_metric_create("precision", &m);
    cr_assert_eq(rc, SOMA_E_NOT_FOUND);
    cr_assert(strstr(soma_last_error(), "unknown metric 'precision'"), "%s", soma_last_error());
    rc = soma_metric_create("top_k_categorical_accuracy(k=0)", &m);
    cr_assert_eq(rc, SOMA_E_INVALID, "%s", soma_last_error());
    rc = soma_metric_create("binary_accuracy(cutoff=1)", &m);
    cr_assert_eq(rc, SOMA_E_NOT_FOUND, "%s", soma_last_error());
    cr_assert(strstr(soma_last_error(), "cutoff"), "%s", soma_last_error());
}

// Several metrics through compile → evaluate, checked against sums done here.
Test(metrics, compile_and_evaluate_logs) {
    enum { N = 40, C = 4 };
    float xs[N * 2], ys[N];
    for (int i = 0; i < N; i++) {
        xs[2 * i] = (float)(i % 7) / 7.0f;
        xs[2 * i + 1] = (float)(i % 5) / 5.0f;
        ys[i] = (float)(i % C);
    }
    soma_tensor *x, *y, *pred;
    int64_t xd[2] = {N, 2}, yd[1] = {N};
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 1, yd, ys));
    soma_model *mdl;
    ASSERT_OK(soma_model_create(&mdl));
    ASSERT_OK(soma_model_add_dense(mdl, 8, "tanh", NULL, NULL));
    ASSERT_OK(soma_model_add_dense(mdl, C, "softmax", NULL, NULL));
    ASSERT_OK(soma_model_compile(mdl, "adam", "sparse_categorical_crossentropy",
                                 "acc, sparse_top_k_categorical_accuracy(k=2), sparse_categorical_crossentropy"));
    soma_logs logs;
    ASSERT_OK(soma_model_evaluate(mdl, x, y, 16, 0, &logs));
    ASSERT_OK(soma_model_predict(mdl, x, 0, &pred));
    double acc = 0, top2 = 0, ce = 0;
    for (int i = 0; i < N; i++) {
        const float *p = pred->data + i * C;
        int t = (int)ys[i], best = 0, higher = 0;
        double sum = 0;
        for (int k = 0; k < C; k++) {
            if (p[k] > p[best]) best = k;
            higher += p[k] > p[t];
            sum += p[k];
        }
        acc += best == t;
        top2 += higher < 2;
        ce += -log(p[t] / sum);
    }
    cr_assert_float_eq(soma_logs_get(&logs, "acc", -1), acc / N, 1e-9);
    cr_assert_float_eq(soma_logs_get(&logs, "sparse_top_k_categorical_accuracy", -1), top2 / N, 1e-9);
    cr_assert_float_eq(soma_logs_get(&logs, "sparse_categorical_crossentropy", -1), ce / N, 1e-5);
    cr_assert_float_eq(soma_logs_get(&logs, "loss", -1), ce / N, 1e-5);
    soma_tensor_free(pred);
    soma_tensor_free(x);
    soma_tensor_free(y);
    soma_model_free(mdl);
}
