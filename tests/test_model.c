// The model end to end: Dense backward against finite differences in
// double precision, loss reduction, accuracy resolution,
// fit/evaluate/predict behaviour, determinism, and every bad-input message.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cpu/fpenv.h"
#include "cpu/cpu.h"
#include "model/model.h"

#define ASSERT_OK(expr)                                                          \
    do {                                                                         \
        int rc_ = (expr);                                                        \
        cr_assert_eq(rc_, SOMA_OK, "%s -> %d: %s", #expr, rc_, soma_last_error()); \
    } while (0)

#define ASSERT_ERR(expr, code, words)                                            \
    do {                                                                         \
        int rc_ = (expr);                                                        \
        cr_assert_eq(rc_, code, "%s -> %d (%s), want %d", #expr, rc_, soma_last_error(), code); \
        cr_assert(strstr(soma_last_error(), words), "message '%s' lacks '%s'",   \
                  soma_last_error(), words);                                     \
    } while (0)

// ---- reduction and accuracy ---------------------------------------------------------------

// The core's reduction with per-row weights as given (no mask).
static double reduce(soma_reduction red, const float *v, const float *w, float *d) {
    return soma_reduce_ex(red, v, w, NULL, 2, w ? (double)w[0] + w[1] : NAN, d);
}

Test(reduce, keras_reductions_and_weights) {
    // KERAS.md §2.2: per-sample MSE [36.667, 62.333] → 49.5; sw 2.3 → 113.85;
    // sw [1.2, 3.4] → 767.8/6 ... (the per-row values are given here directly)
    float v[2] = {110.0f / 3, 187.0f / 3}, d[2], w[2] = {2.3f, 2.3f}, w2[2] = {1.2f, 3.4f};
    cr_assert_float_eq(reduce(SOMA_REDUCE_SUM_OVER_BATCH, v, NULL, d), 49.5, 1e-5);
    cr_assert_float_eq(d[0], 0.5f, 1e-7);
    cr_assert_float_eq(reduce(SOMA_REDUCE_SUM_OVER_BATCH, v, w, d), 113.85, 1e-4);
    cr_assert_float_eq(reduce(SOMA_REDUCE_SUM, v, w, d), 227.7, 1e-4);
    cr_assert_float_eq(d[1], 2.3f, 1e-7);
    cr_assert_float_eq(reduce(SOMA_REDUCE_SUM_OVER_BATCH, v, w2, d), 1.2 * 110 / 6 + 3.4 * 187 / 6, 1e-4);
    float zero[2] = {0, 0};
    // a zero weight still counts in the divisor, and gives 0, not NaN
    cr_assert_eq(reduce(SOMA_REDUCE_SUM_OVER_BATCH, v, zero, d), 0.0);
    soma_reduction red;
    ASSERT_ERR(soma_reduction_parse("average", &red), SOMA_E_NOT_FOUND, "unknown reduction 'average'");
}

Test(accuracy, resolved_from_shapes_as_keras_does) {
    float yt1[3] = {0, 2, 1}, yp[9] = {0.8f, 0.1f, 0.1f, 0.2f, 0.3f, 0.5f, 0.6f, 0.3f, 0.1f};
    soma_tview t = {.data = yt1, .ndim = 1, .dims = {3}}, p = {.data = yp, .ndim = 2, .dims = {3, 3}};
    cr_assert_eq(soma_accuracy_resolve(&t, &p), SOMA_ACC_SPARSE);
    soma_tview t2 = {.data = yt1, .ndim = 2, .dims = {3, 1}};
    cr_assert_eq(soma_accuracy_resolve(&t2, &p), SOMA_ACC_SPARSE);
    float onehot[9] = {1, 0, 0, 0, 0, 1, 1, 0, 0};
    soma_tview t3 = {.data = onehot, .ndim = 2, .dims = {3, 3}};
    cr_assert_eq(soma_accuracy_resolve(&t3, &p), SOMA_ACC_CATEGORICAL);
    float bt[3] = {1, 0, 0}, bp[3] = {0.7f, 0.5f, 0.51f}; // 0.5 counts as class 0
    soma_tview t4 = {.data = bt, .ndim = 2, .dims = {3, 1}}, p4 = {.data = bp, .ndim = 2, .dims = {3, 1}};
    cr_assert_eq(soma_accuracy_resolve(&t4, &p4), SOMA_ACC_BINARY);
}

// ---- Dense backward through the whole model vs finite differences ------------------

// Independent double-precision forward of a 2-layer model (tanh, softmax) with
// Keras' SCCE on probabilities (normalise, clip to [1e-7, 1-1e-7], -log),
// mean over rows.
static int hidden_act; // 0: tanh, 1: silu (whose backward needs the pre-activation)

static double hidden(double a) { return hidden_act ? a / (1 + exp(-a)) : tanh(a); }

static double ref_loss(const double *w1, const double *b1, const double *w2, const double *b2,
                       const float *x, const float *y, int n, int in, int hid, int out) {
    double total = 0;
    for (int s = 0; s < n; s++) {
        double h[16], z[16], mx = -INFINITY, sum = 0;
        for (int j = 0; j < hid; j++) {
            double a = b1[j];
            for (int i = 0; i < in; i++) a += x[s * in + i] * w1[i * hid + j];
            h[j] = hidden(a);
        }
        for (int k = 0; k < out; k++) {
            double a = b2[k];
            for (int j = 0; j < hid; j++) a += h[j] * w2[j * out + k];
            z[k] = a;
            mx = fmax(mx, a);
        }
        for (int k = 0; k < out; k++) sum += exp(z[k] - mx);
        double p = exp(z[(int)y[s]] - mx) / sum;
        p = fmin(fmax(p, 1e-7), 1 - 1e-7);
        total += -log(p);
    }
    return total / n;
}

static void dense_gradients_case(const char *act);

Test(model, dense_gradients_match_finite_differences) {
    hidden_act = 0;
    dense_gradients_case("tanh");
}

Test(model, dense_gradients_with_input_needing_activation) {
    hidden_act = 1;
    dense_gradients_case("silu");
}

static void dense_gradients_case(const char *act) {
    enum { N = 6, IN = 5, HID = 4, OUT = 3 };
    soma_model *m;
    ASSERT_OK(soma_model_create(&m));
    int64_t shape[1] = {IN};
    ASSERT_OK(soma_model_add_input(m, 1, shape));
    ASSERT_OK(soma_model_add_dense(m, HID, act, "random_normal(stddev=0.7)", "random_uniform"));
    ASSERT_OK(soma_model_add_dense(m, OUT, "softmax", NULL, "random_uniform"));
    // learning_rate 0: one fit step leaves the weights alone and the exact
    // gradients of that batch in the gradient block.
    ASSERT_OK(soma_model_compile(m, "sgd(learning_rate=0)", "sparse_categorical_crossentropy", NULL));
    float xs[N * IN], ys[N];
    soma_rng r;
    soma_rng_init(&r, 11, 0);
    soma_rng_uniform(&r, xs, N * IN, -1, 1);
    for (int i = 0; i < N; i++) ys[i] = (float)(i % OUT);
    soma_tensor *x, *y;
    int64_t xd[2] = {N, IN}, yd[1] = {N};
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 1, yd, ys));
    soma_fit_config fc = soma_fit_defaults();
    fc.batch_size = N;
    fc.shuffle = 0;
    fc.verbose = 0;
    ASSERT_OK(soma_model_fit(m, x, y, &fc));
    float *w1, *b1, *w2, *b2;
    ASSERT_OK(soma_model_weights(m, 0, &w1, NULL, NULL, &b1));
    ASSERT_OK(soma_model_weights(m, 1, &w2, NULL, NULL, &b2));
    double dw1[IN * HID], db1[HID], dw2[HID * OUT], db2[OUT];
    for (int i = 0; i < IN * HID; i++) dw1[i] = w1[i];
    for (int i = 0; i < HID; i++) db1[i] = b1[i];
    for (int i = 0; i < HID * OUT; i++) dw2[i] = w2[i];
    for (int i = 0; i < OUT; i++) db2[i] = b2[i];
    double *all[4] = {dw1, db1, dw2, db2};
    const float *grads[4] = {m->layers[0]->dw, m->layers[0]->db, m->layers[1]->dw, m->layers[1]->db};
    int sizes[4] = {IN * HID, HID, HID * OUT, OUT};
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < sizes[t]; i++) {
            double keep = all[t][i], h = 1e-5;
            all[t][i] = keep + h;
            double fp = ref_loss(dw1, db1, dw2, db2, xs, ys, N, IN, HID, OUT);
            all[t][i] = keep - h;
            double fm = ref_loss(dw1, db1, dw2, db2, xs, ys, N, IN, HID, OUT);
            all[t][i] = keep;
            double fd = (fp - fm) / (2 * h);
            cr_assert(fabs(grads[t][i] - fd) < 2e-5 + 1e-3 * fabs(fd),
                      "tensor %d [%d]: grad %.8g, finite difference %.8g", t, i, grads[t][i], fd);
        }
    // and the reported loss equals the double reference
    const soma_logs *h = soma_model_history(m, 0);
    cr_assert_not_null(h);
    cr_assert_float_eq(soma_logs_get(h, "loss", -1), ref_loss(dw1, db1, dw2, db2, xs, ys, N, IN, HID, OUT),
                       1e-5);
    soma_tensor_free(x);
    soma_tensor_free(y);
    soma_model_free(m);
}

// ---- fit on real data ----------------------------------------------------------------------

static soma_tensor *load(const char *name, int flags) {
    const char *dir = getenv("SOMA_DATA_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/usr/share/datasets/fashion-mnist", name);
    soma_tensor *t = NULL;
    int rc = soma_idx_load(path, flags, &t);
    cr_assert_eq(rc, SOMA_OK, "%s", soma_last_error());
    return t;
}

static soma_model *tutorial_model(uint64_t seed) {
    soma_model *m;
    int64_t in[1] = {784};
    ASSERT_OK(soma_model_create(&m));
    ASSERT_OK(soma_model_set_seed(m, seed));
    ASSERT_OK(soma_model_add_input(m, 1, in));
    ASSERT_OK(soma_model_add_dense(m, 128, "relu", "he_normal", "zeros"));
    ASSERT_OK(soma_model_add_dense(m, 64, "relu", "he_normal", "zeros"));
    ASSERT_OK(soma_model_add_dense(m, 10, "softmax", "glorot_uniform", "zeros"));
    ASSERT_OK(soma_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"));
    return m;
}

// Keeps the first n samples of a (N, ...) tensor.
static void truncate_rows(soma_tensor *t, int64_t n) {
    int64_t per = t->numel / t->dims[0];
    t->dims[0] = n;
    t->numel = n * per;
}

Test(fit, tutorial_model_learns_fashion_mnist_subset, .timeout = 600) {
    soma_tensor *xtr = load("train-images-idx3-ubyte.gz", SOMA_IDX_SCALE | SOMA_IDX_FLATTEN);
    soma_tensor *ytr = load("train-labels-idx1-ubyte.gz", 0);
    soma_tensor *xte = load("t10k-images-idx3-ubyte.gz", SOMA_IDX_SCALE | SOMA_IDX_FLATTEN);
    soma_tensor *yte = load("t10k-labels-idx1-ubyte.gz", 0);
    truncate_rows(xtr, 6000);
    truncate_rows(ytr, 6000);
    soma_model *m = tutorial_model(42);
    cr_assert_eq(soma_model_param_count(m), 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10);
    soma_fit_config fc = soma_fit_defaults();
    fc.verbose = 0;
    fc.validation_split = 0.1;
    ASSERT_OK(soma_model_fit(m, xtr, ytr, &fc));
    const soma_logs *h = soma_model_history(m, 0);
    cr_assert_eq(soma_model_history_length(m), 1);
    cr_assert(soma_logs_get(h, "val_accuracy", -1) > 0.6, "val_accuracy %g", soma_logs_get(h, "val_accuracy", -1));
    soma_logs res;
    ASSERT_OK(soma_model_evaluate(m, xte, yte, 0, 0, &res));
    double acc = soma_logs_get(&res, "accuracy", -1);
    cr_assert(acc >= 0.75, "test accuracy after 1 epoch on 6000 images: %.4f", acc);
    // evaluate's accuracy equals an independent argmax over predict's output
    soma_tensor *pred;
    ASSERT_OK(soma_model_predict(m, xte, 1000, &pred));
    cr_assert_eq(soma_tensor_dim(pred, 0), 10000);
    cr_assert_eq(soma_tensor_dim(pred, 1), 10);
    int64_t correct = 0;
    for (int64_t i = 0; i < 10000; i++) {
        const float *p = pred->data + i * 10;
        int best = 0;
        double sum = 0;
        for (int k = 0; k < 10; k++) {
            sum += p[k];
            if (p[k] > p[best]) best = k;
        }
        cr_assert_float_eq(sum, 1.0, 1e-5);
        correct += best == (int)yte->data[i];
    }
    cr_assert_float_eq(acc, correct / 10000.0, 1e-9);
    soma_tensor_free(pred);
    soma_model_free(m);
    soma_tensor_free(xtr);
    soma_tensor_free(ytr);
    soma_tensor_free(xte);
    soma_tensor_free(yte);
}

// Same seed ⇒ bit-identical weights after training; another seed ⇒ different.
Test(fit, deterministic_under_a_seed) {
    enum { N = 300, IN = 20 };
    float xs[N * IN], ys[N];
    soma_rng r;
    soma_rng_init(&r, 3, 0);
    soma_rng_uniform(&r, xs, N * IN, 0, 1);
    for (int i = 0; i < N; i++) ys[i] = (float)(xs[i * IN] > 0.5f) + (float)(xs[i * IN + 1] > 0.5f);
    int64_t xd[2] = {N, IN}, yd[1] = {N};
    soma_tensor *x, *y;
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 1, yd, ys));
    float *w[3];
    for (int run = 0; run < 3; run++) {
        soma_model *m;
        ASSERT_OK(soma_model_create(&m));
        ASSERT_OK(soma_model_set_seed(m, run == 2 ? 8 : 7));
        ASSERT_OK(soma_model_add_dense(m, 16, "relu", "he_normal", NULL));
        ASSERT_OK(soma_model_add_dense(m, 3, "softmax", NULL, NULL));
        ASSERT_OK(soma_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"));
        soma_fit_config fc = soma_fit_defaults();
        fc.epochs = 3;
        fc.verbose = 0;
        ASSERT_OK(soma_model_fit(m, x, y, &fc));
        soma_fit_timings tm;
        ASSERT_OK(soma_model_fit_timings(m, &tm));
        cr_assert_eq(tm.steps, 3 * 10); // 3 epochs of ceil(300/32) steps
        // Every phase ran (wall-clock sums; no bound on them: timing tests flake).
        cr_assert(tm.forward_s > 0 && tm.backward_s > 0 && tm.optimizer_s > 0 && tm.loss_s > 0);
        float *k;
        int64_t rows, cols;
        ASSERT_OK(soma_model_weights(m, 0, &k, &rows, &cols, NULL));
        cr_assert_eq(rows, IN);
        w[run] = malloc((size_t)(rows * cols) * sizeof(float));
        memcpy(w[run], k, (size_t)(rows * cols) * sizeof(float));
        soma_model_free(m);
    }
    cr_assert(memcmp(w[0], w[1], IN * 16 * sizeof(float)) == 0, "same seed gave different weights");
    cr_assert(memcmp(w[0], w[2], IN * 16 * sizeof(float)) != 0, "different seeds gave the same weights");
    for (int i = 0; i < 3; i++) free(w[i]);
    soma_tensor_free(x);
    soma_tensor_free(y);
}

typedef struct fp_seen {
    soma_fpenv want;
    int calls, wrong;
} fp_seen;

static int check_callback_fpenv(void *user, int event, int epoch, int64_t step, const soma_logs *logs) {
    (void)event, (void)epoch, (void)step, (void)logs;
    fp_seen *s = user;
    s->calls++;
    s->wrong += soma_fpenv_get() != s->want;
    return 0;
}

// fit/evaluate/predict flush denormals (a weight of 1e-39 reads as 0, as on
// TensorFlow) unless the model keeps them; either way the caller's own
// floating-point state comes back, and fit's callback runs under it.
Test(fit, denormals_flush_to_zero_inside_and_the_callers_state_is_kept) {
#if !defined(__x86_64__) && !defined(__aarch64__)
    cr_skip_test("no flush-to-zero control on this architecture");
#endif
    soma_fpenv user = soma_fpenv_get();
    cr_assert_eq(soma_fpenv_flushing(user) == user, 0, "the test process already flushes denormals");
    float one = 1.0f, target = 0.0f;
    int64_t d[2] = {1, 1};
    soma_tensor *x, *y, *out;
    ASSERT_OK(soma_tensor_create(&x, 2, d, &one));
    ASSERT_OK(soma_tensor_create(&y, 2, d, &target));
    soma_model *m;
    ASSERT_OK(soma_model_create(&m));
    ASSERT_OK(soma_model_add_input(m, 1, (int64_t[]){1})); // built (initialised) by compile
    ASSERT_OK(soma_model_add_dense(m, 1, "linear", "constant(value=1e-39)", "zeros"));
    ASSERT_OK(soma_model_compile(m, "sgd(learning_rate=0)", "mse", NULL));
    const float denormal = 1e-39f; // below FLT_MIN, 1.18e-38

    ASSERT_OK(soma_model_predict(m, x, 0, &out));
    cr_assert_eq(out->data[0], 0.0f, "flushing: 1·1e-39 gave %g", (double)out->data[0]);
    soma_tensor_free(out);
    cr_assert_eq(soma_fpenv_get(), user, "predict left the thread's floating-point state changed");
    ASSERT_OK(soma_model_set_flush_denormals(m, 0));
    ASSERT_OK(soma_model_predict(m, x, 0, &out));
    cr_assert_eq(out->data[0], denormal, "IEEE: 1·1e-39 gave %g", (double)out->data[0]);
    soma_tensor_free(out);
    cr_assert_eq(soma_fpenv_get(), user);
    ASSERT_OK(soma_model_set_flush_denormals(m, 1));

    // A step of SGD with learning rate 0 under flushing reads the weight as 0
    // and writes back 0 (TensorFlow does the same).
    fp_seen seen = {.want = user};
    soma_fit_config fc = soma_fit_defaults();
    fc.verbose = 0;
    fc.epochs = 2;
    fc.callback = check_callback_fpenv;
    fc.callback_user = &seen;
    ASSERT_OK(soma_model_fit(m, x, y, &fc));
    cr_assert_eq(seen.calls, 4); // batch end and epoch end, twice
    cr_assert_eq(seen.wrong, 0, "the callback ran under fit's state %d times", seen.wrong);
    cr_assert_eq(soma_fpenv_get(), user, "fit left the thread's floating-point state changed");
    float *k;
    ASSERT_OK(soma_model_weights(m, 0, &k, NULL, NULL, NULL));
    cr_assert_eq(k[0], 0.0f, "the denormal weight after fit is %g", (double)k[0]);
    soma_logs logs;
    ASSERT_OK(soma_model_evaluate(m, x, y, 0, 0, &logs));
    cr_assert_eq(soma_logs_get(&logs, "loss", -1), 0.0);
    cr_assert_eq(soma_fpenv_get(), user);

    ASSERT_ERR(soma_model_set_flush_denormals(NULL, 1), SOMA_E_INVALID, "NULL");
    soma_model_free(m);
    soma_tensor_free(x);
    soma_tensor_free(y);
}

// ---- bad input --------------------------------------------------------------------------

Test(errors, unknown_names_are_named) {
    soma_model *m;
    ASSERT_OK(soma_model_create(&m));
    ASSERT_ERR(soma_model_add_dense(m, 10, "relu6x", NULL, NULL), SOMA_E_NOT_FOUND, "relu6x");
    ASSERT_ERR(soma_model_add_dense(m, 10, "relu", "he_normall", NULL), SOMA_E_NOT_FOUND, "he_normall");
    ASSERT_ERR(soma_model_add_dense(m, 10, "relu", "he_normal(stdev=1)", NULL), SOMA_E_NOT_FOUND, "stdev");
    ASSERT_ERR(soma_model_add_dense(m, 0, "relu", NULL, NULL), SOMA_E_INVALID, "units");
    ASSERT_OK(soma_model_add_dense(m, 10, "softmax", NULL, NULL));
    ASSERT_ERR(soma_model_compile(m, "adamm", "mse", NULL), SOMA_E_NOT_FOUND, "adamm");
    ASSERT_ERR(soma_model_compile(m, "adam", "msee", NULL), SOMA_E_NOT_FOUND, "msee");
    ASSERT_ERR(soma_model_compile(m, "adam(learning_rate=fast)", "mse", NULL), SOMA_E_INVALID, "learning_rate");
    ASSERT_ERR(soma_model_compile(m, "adam", "mse", "precision"), SOMA_E_NOT_FOUND, "precision");
    ASSERT_ERR(soma_model_compile(m, "sgd(momentum=2)", "mse", NULL), SOMA_E_INVALID, "momentum");
    // a failed compile leaves the model usable
    ASSERT_OK(soma_model_compile(m, "Adam", "SparseCategoricalCrossentropy", "acc"));
    soma_model_free(m);
}

static soma_model *small_model(int in, const char *loss) {
    soma_model *m;
    int64_t shape[1] = {in};
    ASSERT_OK(soma_model_create(&m));
    ASSERT_OK(soma_model_add_input(m, 1, shape));
    ASSERT_OK(soma_model_add_dense(m, 3, "softmax", NULL, NULL));
    ASSERT_OK(soma_model_compile(m, "adam", loss, "accuracy"));
    return m;
}

Test(errors, data_problems_are_named) {
    float xs[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f}, ys[4] = {0, 1, 2, 1};
    soma_tensor *x, *y, *x3;
    int64_t xd[2] = {4, 2}, yd[1] = {4}, x3d[2] = {2, 4};
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 1, yd, ys));
    ASSERT_OK(soma_tensor_create(&x3, 2, x3d, xs));
    soma_model *m = small_model(2, "sparse_categorical_crossentropy");
    soma_fit_config fc = soma_fit_defaults();
    fc.verbose = 0;
    ASSERT_ERR(soma_model_fit(m, x3, y, &fc), SOMA_E_SHAPE, "features");
    int64_t yd3[1] = {3};
    soma_tensor *y3;
    ASSERT_OK(soma_tensor_create(&y3, 1, yd3, ys));
    ASSERT_ERR(soma_model_fit(m, x, y3, &fc), SOMA_E_SHAPE, "samples");
    y->data[2] = 7; // label out of range
    ASSERT_ERR(soma_model_fit(m, x, y, &fc), SOMA_E_RANGE, "epoch 1, step 1");
    y->data[2] = 2;
    x->data[5] = NAN;
    ASSERT_ERR(soma_model_fit(m, x, y, &fc), SOMA_E_NUMERIC, "sample 2, feature 1");
    x->data[5] = 0.6f;
    y->data[3] = NAN;
    ASSERT_ERR(soma_model_fit(m, x, y, &fc), SOMA_E_NUMERIC, "y[sample 3, 0] is NaN");
    ASSERT_ERR(soma_model_evaluate(m, x, y, 0, 0, NULL), SOMA_E_NUMERIC, "y[sample 3, 0] is NaN");
    y->data[3] = 1;
    {
        // predict checks each batch as it comes: a bad value far in, in a
        // later batch, is still named, and no output is handed back.
        enum { N = 2100 };
        float *big = calloc(N * 2, sizeof(float));
        big[1500 * 2 + 1] = -INFINITY;
        soma_tensor *xb, *out = (soma_tensor *)1;
        ASSERT_OK(soma_tensor_create(&xb, 2, (int64_t[]){N, 2}, big));
        ASSERT_ERR(soma_model_predict(m, xb, 100, &out), SOMA_E_NUMERIC,
                   "predict: x[sample 1500, feature 1] is infinite");
        cr_assert_null(out);
        ASSERT_ERR(soma_model_evaluate(m, xb, NULL, 0, 0, NULL), SOMA_E_INVALID, "y is NULL");
        xb->data[1500 * 2 + 1] = 0;
        xb->data[N * 2 - 1] = NAN;
        ASSERT_ERR(soma_model_predict(m, xb, 1000, &out), SOMA_E_NUMERIC, "x[sample 2099, feature 1] is NaN");
        xb->data[N * 2 - 1] = 0;
        ASSERT_OK(soma_model_predict(m, xb, 1000, &out));
        cr_assert_eq(soma_tensor_dim(out, 0), N);
        soma_tensor_free(out);
        soma_tensor_free(xb);
        free(big);
    }
    {
        // A batch of 80,000 floats is scanned by both threads: still the
        // first bad value is the one named, whichever thread finds which.
        enum { N = 40000 };
        soma_set_num_threads(2);
        soma_tensor *xb, *out = NULL;
        ASSERT_OK(soma_tensor_create(&xb, 2, (int64_t[]){N, 2}, NULL));
        for (int64_t i = 0; i < 2 * N; i++) xb->data[i] = 0.5f;
        xb->data[35000 * 2] = NAN;
        xb->data[30001 * 2 + 1] = INFINITY;
        ASSERT_ERR(soma_model_predict(m, xb, N, &out), SOMA_E_NUMERIC,
                   "predict: x[sample 30001, feature 1] is infinite");
        cr_assert_null(out);
        xb->data[30001 * 2 + 1] = 0;
        ASSERT_ERR(soma_model_predict(m, xb, N, &out), SOMA_E_NUMERIC, "x[sample 35000, feature 0] is NaN");
        xb->data[2] = -INFINITY;
        ASSERT_ERR(soma_model_predict(m, xb, N, &out), SOMA_E_NUMERIC, "x[sample 1, feature 0] is infinite");
        soma_tensor_free(xb);
        soma_set_num_threads(0);
    }
    fc.validation_split = 0.1; // floor(4·0.9) = 3 train, 1 val: fine
    ASSERT_OK(soma_model_fit(m, x, y, &fc));
    fc.validation_split = 1.5;
    ASSERT_ERR(soma_model_fit(m, x, y, &fc), SOMA_E_INVALID, "validation_split");
    soma_model_free(m);
    soma_model *u;
    ASSERT_OK(soma_model_create(&u));
    ASSERT_OK(soma_model_add_dense(u, 2, NULL, NULL, NULL));
    ASSERT_ERR(soma_model_fit(u, x, y, &fc), SOMA_E_STATE, "compile");
    soma_model_free(u);
    soma_tensor_free(x);
    soma_tensor_free(y);
    soma_tensor_free(x3);
    soma_tensor_free(y3);
}

Test(errors, nan_loss_stops_with_epoch_and_step) {
    enum { N = 64 };
    float xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = (float)i;
        ys[i] = 1e3f * (float)i;
    }
    soma_tensor *x, *y;
    int64_t d[2] = {N, 1};
    ASSERT_OK(soma_tensor_create(&x, 2, d, xs));
    ASSERT_OK(soma_tensor_create(&y, 2, d, ys));
    soma_model *m;
    ASSERT_OK(soma_model_create(&m));
    ASSERT_OK(soma_model_add_dense(m, 1, NULL, "ones", NULL));
    // A learning rate this large overflows the weights within a few steps.
    ASSERT_OK(soma_model_compile(m, "sgd(learning_rate=1e30)", "mse", NULL));
    soma_fit_config fc = soma_fit_defaults();
    fc.verbose = 0;
    fc.epochs = 5;
    fc.batch_size = 8;
    int rc = soma_model_fit(m, x, y, &fc);
    cr_assert_eq(rc, SOMA_E_NUMERIC, "%s", soma_last_error());
    cr_assert(strstr(soma_last_error(), "epoch 1, step"), "%s", soma_last_error());
    cr_assert(strstr(soma_last_error(), "loss is"), "%s", soma_last_error());
    soma_model_free(m);
    soma_tensor_free(x);
    soma_tensor_free(y);
}

// softmax + crossentropy on probabilities is fused into p − y (what Keras on
// TensorFlow computes through its logits shortcut). Its gradients must equal
// those of a linear output with the plugin's from_logits path, which is
// checked against finite differences in test_losses.
static void grads_after_one_step(const char *act, const char *loss, const float *xs, const float *ys,
                                 int n, int in, int out, float *dw, float *db) {
    soma_model *m;
    int64_t shape[1] = {in};
    ASSERT_OK(soma_model_create(&m));
    ASSERT_OK(soma_model_set_seed(m, 5));
    ASSERT_OK(soma_model_add_input(m, 1, shape));
    ASSERT_OK(soma_model_add_dense(m, out, act, "random_normal(stddev=2)", NULL));
    ASSERT_OK(soma_model_compile(m, "sgd(learning_rate=0)", loss, NULL));
    soma_tensor *x, *y;
    int64_t xd[2] = {n, in}, yd[2] = {n, out};
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 2, yd, ys));
    soma_fit_config fc = soma_fit_defaults();
    fc.batch_size = n;
    fc.shuffle = 0;
    fc.verbose = 0;
    ASSERT_OK(soma_model_fit(m, x, y, &fc));
    memcpy(dw, m->layers[0]->dw, (size_t)(in * out) * sizeof(float));
    memcpy(db, m->layers[0]->db, (size_t)out * sizeof(float));
    soma_tensor_free(x);
    soma_tensor_free(y);
    soma_model_free(m);
}

Test(model, fused_softmax_crossentropy_equals_the_logits_path) {
    enum { N = 8, IN = 6, OUT = 4 };
    float xs[N * IN], ys[N * OUT] = {0};
    soma_rng r;
    soma_rng_init(&r, 21, 0);
    soma_rng_uniform(&r, xs, N * IN, -2, 2);
    for (int i = 0; i < N; i++) ys[i * OUT + i % OUT] = 1;
    float dw1[IN * OUT], db1[OUT], dw2[IN * OUT], db2[OUT];
    grads_after_one_step("softmax", "categorical_crossentropy(label_smoothing=0.1)", xs, ys, N, IN, OUT, dw1, db1);
    grads_after_one_step("linear", "categorical_crossentropy(from_logits=true, label_smoothing=0.1)", xs, ys, N, IN,
                         OUT, dw2, db2);
    for (int i = 0; i < IN * OUT; i++)
        cr_assert(fabsf(dw1[i] - dw2[i]) <= 1e-5f + 1e-4f * fabsf(dw2[i]), "dw[%d]: %g vs %g", i, dw1[i], dw2[i]);
    for (int i = 0; i < OUT; i++)
        cr_assert(fabsf(db1[i] - db2[i]) <= 1e-5f + 1e-4f * fabsf(db2[i]), "db[%d]: %g vs %g", i, db1[i], db2[i]);
}

// Same seed ⇒ bit-identical weights for 1 and 2 threads: GEMM never splits K
// and optimizer steps are elementwise, so nothing depends on the split.
Test(fit, bit_identical_across_thread_counts) {
    enum { N = 512, IN = 300 };
    static float xs[N * IN], ys[N];
    soma_rng r;
    soma_rng_init(&r, 13, 0);
    soma_rng_uniform(&r, xs, N * IN, 0, 1);
    for (int i = 0; i < N; i++) ys[i] = (float)(i % 10);
    int64_t xd[2] = {N, IN}, yd[1] = {N};
    soma_tensor *x, *y;
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 1, yd, ys));
    float *w[2];
    int64_t size = 0;
    for (int t = 0; t < 2; t++) {
        soma_set_num_threads(t + 1);
        soma_model *m;
        ASSERT_OK(soma_model_create(&m));
        ASSERT_OK(soma_model_set_seed(m, 99));
        ASSERT_OK(soma_model_add_dense(m, 256, "relu", "he_normal", NULL));
        ASSERT_OK(soma_model_add_dense(m, 10, "softmax", NULL, NULL));
        ASSERT_OK(soma_model_compile(m, "adam", "sparse_categorical_crossentropy", NULL));
        soma_fit_config fc = soma_fit_defaults();
        fc.epochs = 2;
        fc.batch_size = 128;
        fc.verbose = 0;
        ASSERT_OK(soma_model_fit(m, x, y, &fc));
        float *k;
        int64_t rows, cols;
        ASSERT_OK(soma_model_weights(m, 0, &k, &rows, &cols, NULL));
        size = rows * cols;
        w[t] = malloc((size_t)size * sizeof(float));
        memcpy(w[t], k, (size_t)size * sizeof(float));
        soma_model_free(m);
    }
    soma_set_num_threads(0);
    cr_assert(memcmp(w[0], w[1], (size_t)size * sizeof(float)) == 0, "1 and 2 threads trained different weights");
    free(w[0]);
    free(w[1]);
    soma_tensor_free(x);
    soma_tensor_free(y);
}

// Every optimizer of the catalogue trains: a tiny classifier's loss falls.
Test(fit, every_optimizer_trains) {
    enum { N = 256, IN = 8, C = 3 };
    static float xs[N * IN], ys[N];
    soma_rng r;
    soma_rng_init(&r, 17, 0);
    soma_rng_uniform(&r, xs, N * IN, -1, 1);
    for (int i = 0; i < N; i++) ys[i] = (float)((xs[i * IN] > 0) + (xs[i * IN + 1] > 0.3f));
    int64_t xd[2] = {N, IN}, yd[1] = {N};
    soma_tensor *x, *y;
    ASSERT_OK(soma_tensor_create(&x, 2, xd, xs));
    ASSERT_OK(soma_tensor_create(&y, 1, yd, ys));
    // Learning rates where each makes progress in a few epochs (Keras' defaults
    // are tuned for longer runs; adadelta's 0.001 barely moves in 20 epochs).
    const char *opts[] = {"sgd(learning_rate=0.1)", "sgd(learning_rate=0.05, momentum=0.9, nesterov=true)",
                          "adam(learning_rate=0.01)", "adamw(learning_rate=0.01)", "rmsprop(learning_rate=0.01)",
                          "adagrad(learning_rate=0.1)", "adadelta(learning_rate=1.0)", "adamax(learning_rate=0.01)",
                          "nadam(learning_rate=0.01)", "ftrl(learning_rate=0.1)", "lion(learning_rate=0.001)"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        soma_model *m;
        ASSERT_OK(soma_model_create(&m));
        ASSERT_OK(soma_model_add_dense(m, 16, "relu", "he_normal", NULL));
        ASSERT_OK(soma_model_add_dense(m, C, "softmax", NULL, NULL));
        ASSERT_OK(soma_model_compile(m, opts[i], "sparse_categorical_crossentropy", "accuracy"));
        soma_fit_config fc = soma_fit_defaults();
        fc.epochs = 20;
        fc.verbose = 0;
        ASSERT_OK(soma_model_fit(m, x, y, &fc));
        double first = soma_logs_get(soma_model_history(m, 0), "loss", -1);
        double last = soma_logs_get(soma_model_history(m, 19), "loss", -1);
        cr_assert(last < 0.8 * first, "%s: loss %g -> %g", opts[i], first, last);
        soma_model_free(m);
    }
    soma_tensor_free(x);
    soma_tensor_free(y);
}
