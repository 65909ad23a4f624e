// The soma command-line tool and the example host, run as a user runs them:
// outputs, exit codes and error messages.
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

// Runs a shell command, captures stdout+stderr into out; returns the exit code.
static int run(char *out, size_t len, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *soma(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/bin/soma", getenv("SOMA_BUILD_DIR"));
    return path;
}

static char out[1 << 16];

Test(cli, loss_reproduces_the_tutorial_snippets) {
    cr_assert_eq(run(out, sizeof out, "%s loss mse --y-true '[3, -0.5, 2, 7]' --y-pred '[2.5, 0.0, 2, 8]'", soma()), 0, "%s", out);
    cr_assert_float_eq(atof(out), 0.375, 1e-7, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s loss cosine_similarity --y-true '[[1,0,-1],[0,1,0]]' --y-pred '[[-1,0,1],[0,-1,0]]'", soma()), 0, "%s", out);
    cr_assert_float_eq(atof(out), 1.0, 1e-6, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s loss binary_crossentropy --y-true '[0,1,1,0]' --y-pred '[0.1,0.9,0.8,0.4]'", soma()), 0, "%s", out);
    cr_assert_float_eq(atof(out), 0.23617, 1e-5, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s loss categorical_crossentropy --y-true '[[1,0,0],[0,1,0],[0,0,1]]' "
                     "--y-pred '[[0.9,0.05,0.05],[0.1,0.8,0.1],[0.2,0.2,0.6]]'", soma()), 0, "%s", out);
    cr_assert_float_eq(atof(out), 0.27978, 1e-5, "%s", out);
}

Test(cli, loss_gradient_and_parameters) {
    // d/dp mean((y-p)^2) over one row of 2 = (p - y) for n = 2, halved by the batch mean of 1 row.
    cr_assert_eq(run(out, sizeof out, "%s loss mse --y-true '[[1, 2]]' --y-pred '[[2, 0]]' --grad", soma()), 0, "%s", out);
    cr_assert(strstr(out, "2.5"), "%s", out);      // (1 + 4) / 2
    cr_assert(strstr(out, "[[1, -2]]") || strstr(out, "[[1,-2]]"), "gradient missing: %s", out);
    cr_assert_eq(run(out, sizeof out, "%s loss binary_crossentropy from_logits=true --y-true '[1]' --y-pred '[0]'", soma()), 0, "%s", out);
    cr_assert_float_eq(atof(out), 0.693147181, 1e-6, "%s", out);
}

Test(cli, loss_errors_are_clear) {
    cr_assert_eq(run(out, sizeof out, "%s loss nosuch --y-true '[1]' --y-pred '[1]'", soma()), 1, "%s", out);
    cr_assert(strstr(out, "unknown loss 'nosuch'"), "%s", out);
    cr_assert_neq(run(out, sizeof out, "%s loss mse --y-true '[[1, 2]]' --y-pred '[[1]]'", soma()), 0, "%s", out);
    cr_assert(strstr(out, "shape") || strstr(out, "differ") || strstr(out, "match"), "%s", out);
    cr_assert_neq(run(out, sizeof out, "%s loss mse --y-true '[1, [2]]' --y-pred '[1, 2]'", soma()), 0, "%s", out);
    cr_assert_neq(run(out, sizeof out, "%s loss mse --y-true '[1, 2' --y-pred '[1, 2]'", soma()), 0, "%s", out);
    cr_assert_neq(run(out, sizeof out, "%s loss 'mse(foo=1)' --y-true '[1]' --y-pred '[1]'", soma()), 0, "%s", out);
    cr_assert(strstr(out, "foo"), "%s", out);
}

Test(cli, plugins_lists_every_shipped_plugin) {
    cr_assert_eq(run(out, sizeof out, "%s plugins", soma()), 0, "%s", out);
    const char *names[] = {"zeros", "ones", "constant", "random_uniform", "random_normal",
                           "glorot_uniform", "he_normal", "orthogonal", "mean_squared_error",
                           "cosine_similarity", "binary_crossentropy", "categorical_crossentropy",
                           "sparse_categorical_crossentropy", "sgd", "adam", "learning_rate"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        cr_assert(strstr(out, names[i]), "'%s' missing from:\n%s", names[i], out);
    cr_assert_neq(run(out, sizeof out, "%s plugins --plugin-path /nonexistent/dir", soma()), 0, "%s", out);
    cr_assert(strstr(out, "/nonexistent/dir"), "%s", out);
}

Test(cli, usage_errors_exit_2) {
    cr_assert_eq(run(out, sizeof out, "%s train --epochs abc", soma()), 2, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s frobnicate", soma()), 2, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s --help", soma()), 0, "%s", out);
    cr_assert(strstr(out, "train"), "%s", out);
}

Test(cli, train_errors_name_the_problem) {
    cr_assert_eq(run(out, sizeof out, "%s train --data /nonexistent/fmnist --epochs 1", soma()), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/fmnist"), "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s train --optimizer 'adam(lr=1)' --epochs 1 --limit 100", soma()), 1, "%s", out);
    cr_assert(strstr(out, "lr"), "%s", out);
}

Test(cli, train_prints_test_accuracy_last, .timeout = 600) {
    cr_assert_eq(run(out, sizeof out, "%s train --epochs 1 --limit 4000 --verbose 2", soma()), 0, "%s", out);
    const char *last = strstr(out, "test_accuracy: ");
    cr_assert_not_null(last, "%s", out);
    double acc = atof(last + strlen("test_accuracy: "));
    cr_assert(acc >= 0.70 && acc <= 1.0, "test_accuracy %g", acc);
    cr_assert(strchr(last, '\n') == NULL || strchr(last, '\n')[1] == '\0', "test_accuracy is not the last line:\n%s", out);
    cr_assert(strstr(out, "- accuracy: ") && strstr(out, "- loss: "), "no Keras-style epoch line:\n%s", out);
}

Test(cli, example_host_trains, .timeout = 600) {
    cr_assert_eq(run(out, sizeof out, "%s/examples/host_train 30", getenv("SOMA_BUILD_DIR")), 0, "%s", out);
    const char *t = strstr(out, "test_accuracy: ");
    cr_assert_not_null(t, "%s", out);
    cr_assert(atof(t + strlen("test_accuracy: ")) >= 0.9, "%s", out);
}

// Keras' single-step optimizer tests (vars [1,2,3,4], grads [1,6,7,2], lr 0.5).
Test(cli, optimize_reproduces_keras_single_steps) {
    cr_assert_eq(run(out, sizeof out, "%s optimize adam learning_rate=0.5 --param '[1,2,3,4]' --grad '[1,6,7,2]'", soma()), 0, "%s", out);
    float v[4];
    cr_assert_eq(sscanf(out, "[%f, %f, %f, %f]", &v[0], &v[1], &v[2], &v[3]), 4, "%s", out);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(v[i], 0.5 + i, 1e-4, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s optimize rmsprop learning_rate=0.5 --param '[1,2,3,4]' --grad '[1,6,7,2]'", soma()), 0, "%s", out);
    cr_assert_eq(sscanf(out, "[%f, %f, %f, %f]", &v[0], &v[1], &v[2], &v[3]), 4, "%s", out);
    const float rms[4] = {-0.5811f, 0.4189f, 1.4189f, 2.4189f};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(v[i], rms[i], 1e-4, "%s", out);
    // one line per --grad; plain SGD: 1 - 0.1 - 0.1 = 0.8
    cr_assert_eq(run(out, sizeof out, "%s optimize sgd learning_rate=0.1 --param '[1]' --grad '[1]' --grad '[1]'", soma()), 0, "%s", out);
    float a, b;
    cr_assert_eq(sscanf(out, "[%f]\n[%f]", &a, &b), 2, "%s", out);
    cr_assert_float_eq(a, 0.9, 1e-6, "%s", out);
    cr_assert_float_eq(b, 0.8, 1e-6, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s optimize sgd --param '[1]'", soma()), 2, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s optimize sgd --param '[1, 2]' --grad '[1]'", soma()), 1, "%s", out);
}

Test(cli, activation_and_init) {
    cr_assert_eq(run(out, sizeof out, "%s activation relu max_value=6 --x '[-1, 3, 9]' --grad", soma()), 0, "%s", out);
    cr_assert(strstr(out, "[0, 3, 6]\n[0, 1, 0]"), "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s activation selu --x '[1]'", soma()), 0, "%s", out);
    cr_assert_float_eq(atof(out + 1), 1.0507009873554805, 1e-7, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s activation nope --x '[1]'", soma()), 1, "%s", out);
    cr_assert(strstr(out, "unknown activation 'nope'"), "%s", out);
    // he_normal on (784, 128): std sqrt(2/784) = 0.0505, |x| <= 2 sigma_raw = 0.1148
    cr_assert_eq(run(out, sizeof out, "%s init he_normal --shape 784,128 --seed 3 --stats", soma()), 0, "%s", out);
    double mean, sd, mn, mx;
    cr_assert_eq(sscanf(out, "{\"mean\": %lf, \"std\": %lf, \"min\": %lf, \"max\": %lf", &mean, &sd, &mn, &mx), 4, "%s", out);
    cr_assert(fabs(sd - sqrt(2.0 / 784)) < 0.001 && fabs(mean) < 0.001, "%s", out);
    cr_assert(mn >= -2 * sqrt(2.0 / 784) / 0.87962566 && mx <= 2 * sqrt(2.0 / 784) / 0.87962566, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s init constant value=2.5 --shape 2,2", soma()), 0, "%s", out);
    cr_assert(strstr(out, "[[2.5, 2.5], [2.5, 2.5]]"), "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s init orthogonal --shape 5", soma()), 1, "%s", out);
    cr_assert_eq(run(out, sizeof out, "%s init zeros --shape 2,x", soma()), 2, "%s", out);
}
