/* A C host that embeds soma: builds a small classifier, trains it on a
 * synthetic three-spiral data set, and reads the history and the test
 * accuracy. Plugins (initializers, loss, optimizer) are found at run time:
 * next to libsoma, or in SOMA_PLUGIN_PATH.
 *
 *   build/examples/host_train [epochs]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <soma/soma.h>

#define CHECK(call)                                                         \
    do {                                                                    \
        if ((call) != SOMA_OK) {                                            \
            fprintf(stderr, "host_train: %s\n", soma_last_error());         \
            return 1;                                                       \
        }                                                                   \
    } while (0)

// Three interleaved spirals in the plane with a little noise: not linearly
// separable, so the hidden layers have to earn their keep.
static void spirals(float *x, float *y, int n, unsigned seed) {
    srand(seed);
    for (int i = 0; i < n; i++) {
        int cls = i % 3;
        float t = (float)(i / 3) / (float)(n / 3) * 3.0f + 0.2f;
        float angle = t * 2.2f + (float)cls * 2.0944f;
        float noise = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.15f;
        x[2 * i] = t * cosf(angle) / 3 + noise;
        x[2 * i + 1] = t * sinf(angle) / 3 - noise;
        y[i] = (float)cls;
    }
    // Shuffle once: fit's validation_split takes the tail, which must look
    // like the rest (Keras does the same and the same advice applies).
    for (int i = n - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        float t0 = x[2 * i], t1 = x[2 * i + 1], ty = y[i];
        x[2 * i] = x[2 * j];
        x[2 * i + 1] = x[2 * j + 1];
        y[i] = y[j];
        x[2 * j] = t0;
        x[2 * j + 1] = t1;
        y[j] = ty;
    }
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 40;
    enum { N_TRAIN = 1500, N_TEST = 600 };
    static float xtr[N_TRAIN * 2], ytr[N_TRAIN], xte[N_TEST * 2], yte[N_TEST];
    spirals(xtr, ytr, N_TRAIN, 1);
    spirals(xte, yte, N_TEST, 2);

    soma_tensor *x_train, *y_train, *x_test, *y_test;
    int64_t xd[2] = {N_TRAIN, 2}, yd[1] = {N_TRAIN}, xtd[2] = {N_TEST, 2}, ytd[1] = {N_TEST};
    CHECK(soma_tensor_create(&x_train, 2, xd, xtr));
    CHECK(soma_tensor_create(&y_train, 1, yd, ytr));
    CHECK(soma_tensor_create(&x_test, 2, xtd, xte));
    CHECK(soma_tensor_create(&y_test, 1, ytd, yte));

    soma_model *m;
    int64_t in[1] = {2};
    CHECK(soma_model_create(&m));
    CHECK(soma_model_set_seed(m, 1234));
    CHECK(soma_model_add_input(m, 1, in));
    CHECK(soma_model_add_dense(m, 64, "tanh", "glorot_uniform", "zeros"));
    CHECK(soma_model_add_dense(m, 64, "relu", "he_normal", "zeros"));
    CHECK(soma_model_add_dense(m, 3, "softmax", NULL, NULL));
    CHECK(soma_model_compile(m, "adam(learning_rate=0.01)", "sparse_categorical_crossentropy",
                             "accuracy"));
    soma_model_summary(m, stdout);

    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = epochs;
    fc.batch_size = 64;
    fc.validation_split = 0.2;
    fc.verbose = 0; // the host reports progress itself, from the history
    CHECK(soma_model_fit(m, x_train, y_train, &fc));
    for (int e = 0; e < soma_model_history_length(m); e += epochs > 10 ? epochs / 10 : 1) {
        const soma_logs *h = soma_model_history(m, e);
        printf("epoch %3d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f\n", e + 1,
               soma_logs_get(h, "loss", NAN), soma_logs_get(h, "accuracy", NAN),
               soma_logs_get(h, "val_loss", NAN), soma_logs_get(h, "val_accuracy", NAN));
    }
    soma_logs res;
    CHECK(soma_model_evaluate(m, x_test, y_test, 0, 0, &res));
    printf("test_accuracy: %.4f\n", soma_logs_get(&res, "accuracy", NAN));

    soma_model_free(m);
    soma_tensor_free(x_train);
    soma_tensor_free(y_train);
    soma_tensor_free(x_test);
    soma_tensor_free(y_test);
    return 0;
}
