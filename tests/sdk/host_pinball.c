/* host_pinball.c — a host program built against the installed soma only:
 *
 *   cc host_pinball.c $(pkg-config --cflags --libs soma) -o host_pinball
 *   SOMA_PLUGIN_PATH=<dir with soma-loss-pinball.so> ./host_pinball
 *
 * It fits y = w·x + b to data whose noise is uniform on [0, 1) with the
 * custom pinball loss at tau = 0.9, so the fitted line is the 0.9-quantile:
 * 90% of the targets should lie below it. Prints the file the loss came from
 * and that fraction; exits 0 when it is 0.9 ± 0.05 (tests/test_sdk.c). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <soma/soma.h>

enum { N = 512 };

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double uniform(void) { // xorshift64*: the host's own data, not soma's RNG
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static int fail(const char *what) {
    fprintf(stderr, "host_pinball: %s: %s\n", what, soma_last_error());
    return 1;
}

int main(void) {
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)uniform();
        y[i] = (float)(2.0 * x[i] + uniform());
    }
    int64_t xd[2] = {N, 1}, yd[2] = {N, 1}, in[1] = {1};
    soma_tensor *tx, *ty, *pred = NULL;
    soma_model *m;
    if (soma_tensor_create(&tx, 2, xd, x) || soma_tensor_create(&ty, 2, yd, y))
        return fail("tensors");
    if (soma_model_create(&m) || soma_model_set_seed(m, 7) || soma_model_add_input(m, 1, in) ||
        soma_model_add_dense(m, 1, "linear", NULL, NULL))
        return fail("model");
    if (soma_model_compile(m, "adam(learning_rate=0.02)", "pinball(tau=0.9)", NULL))
        return fail("compile");
    for (int i = 0; i < soma_plugin_count(); i++) {
        soma_plugin_info info;
        if (soma_plugin_get(i, &info) == SOMA_OK && info.kind == SOMA_KIND_LOSS &&
            strcmp(info.name, "pinball") == 0)
            printf("pinball from %s\n", info.path);
    }
    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = 60;
    fc.verbose = 0;
    if (soma_model_fit(m, tx, ty, &fc)) return fail("fit");
    if (soma_model_predict(m, tx, 0, &pred)) return fail("predict");
    int below = 0;
    for (int i = 0; i < N; i++) below += y[i] <= soma_tensor_cdata(pred)[i];
    double frac = (double)below / N;
    printf("fraction of targets below the fit: %.3f\n", frac);
    soma_tensor_free(pred);
    soma_tensor_free(tx);
    soma_tensor_free(ty);
    soma_model_free(m);
    return frac > 0.85 && frac < 0.95 ? 0 : 1;
}
