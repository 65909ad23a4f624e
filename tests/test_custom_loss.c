/* The out-of-tree custom loss of examples/custom_loss: built at test time the
 * way a user builds it (one cc command, the public header only), found through
 * SOMA_PLUGIN_PATH, checked as a loss and used to train a model. */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/registry.h"
#include "soma/soma.h"

static char dir[PATH_MAX];
static char so_path[PATH_MAX + 32];
static char src_copy[PATH_MAX + 32];

static const char *env_or_fail(const char *name) {
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set (run through ctest)", name);
    return v;
}

// Copies the example into dir so that the build sees nothing of the source
// tree but the include folder, as an outside user's build would.
static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    cr_assert_not_null(in, "cannot open %s", from);
    FILE *out = fopen(to, "wb");
    cr_assert_not_null(out, "cannot create %s", to);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n, "short write to %s", to);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

static void build_pinball(void) {
    if (system("command -v cc >/dev/null 2>&1") != 0)
        cr_skip_test("no `cc` on PATH: cannot build the out-of-tree plugin");
    const char *src = env_or_fail("SOMA_SOURCE_DIR");

    snprintf(dir, sizeof dir, "%s/soma-custom-loss-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    char example[PATH_MAX + 64];
    snprintf(example, sizeof example, "%s/examples/custom_loss/pinball.c", src);
    snprintf(src_copy, sizeof src_copy, "%s/pinball.c", dir);
    copy_file(example, src_copy);

    // The README's command, word for word, with <prefix> = the source tree.
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cc -O2 -shared -fPIC -fvisibility=hidden -I'%s/include' "
             "pinball.c -o soma-loss-pinball.so",
             dir, src);
    cr_assert_eq(system(cmd), 0, "build failed: %s", cmd);
    snprintf(so_path, sizeof so_path, "%s/soma-loss-pinball.so", dir);

    // The result is a loadable plugin with one entry point and our item.
    struct stat st;
    cr_assert_eq(stat(so_path, &st), 0, "%s was not produced", so_path);
    cr_assert_gt(st.st_size, 0);
    void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "dlopen: %s", dlerror());
    soma_plugin_entry_fn entry = (soma_plugin_entry_fn)(uintptr_t)dlsym(h, SOMA_PLUGIN_ENTRY_SYMBOL);
    cr_assert_not_null(entry, "no %s in %s", SOMA_PLUGIN_ENTRY_SYMBOL, so_path);
    const soma_plugin_desc *d = entry(soma_host_table());
    cr_assert_not_null(d);
    cr_assert_eq(d->abi_major, SOMA_ABI_MAJOR);
    cr_assert_eq(d->n_items, 1);
    cr_assert_str_eq(d->items[0].name, "pinball");
    cr_assert_eq(d->items[0].kind, SOMA_KIND_LOSS);
    dlclose(h);

    // Our directory first, then whatever the test run already searches.
    const char *old = getenv("SOMA_PLUGIN_PATH");
    char path[3 * PATH_MAX];
    snprintf(path, sizeof path, "%s:%s", dir, old ? old : "");
    cr_assert_eq(setenv("SOMA_PLUGIN_PATH", path, 1), 0);
    soma_registry_reset();

    const soma_item *item = NULL;
    const char *from = NULL;
    cr_assert_eq(soma_registry_find(SOMA_KIND_LOSS, "pinball", &item, &from), SOMA_OK,
                 "%s", soma_last_error());
    char real_dir[PATH_MAX];
    cr_assert_not_null(realpath(dir, real_dir));
    cr_assert(from && strncmp(from, real_dir, strlen(real_dir)) == 0,
              "pinball came from %s, not from %s", from ? from : "(null)", real_dir);
}

static void remove_build(void) {
    if (!dir[0]) return;
    soma_registry_reset();
    unlink(so_path);
    unlink(src_copy);
    rmdir(dir);
}

TestSuite(custom_loss, .init = build_pinball, .fini = remove_build);

/* ---- the loss itself ---------------------------------------------------- */

enum { R = 4, C = 3 };

static double pinball_ref(const float *yt, const float *yp, double tau) {
    double total = 0;
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (int c = 0; c < C; c++) {
            double e = (double)yt[r * C + c] - yp[r * C + c];
            s += e >= 0 ? tau * e : (tau - 1) * e;
        }
        total += s / C;
    }
    return total / R; // sum_over_batch_size
}

static double eval(const char *spec, soma_tensor *t, soma_tensor *p, soma_tensor **grad) {
    double v = NAN;
    int rc = soma_loss_eval(spec, "sum_over_batch_size", t, p, NULL, &v, NULL, grad);
    cr_assert_eq(rc, SOMA_OK, "%s: %s", spec, soma_last_error());
    return v;
}

Test(custom_loss, value_and_gradient) {
    // Errors of both signs, all at least 0.1 from the kink at e = 0.
    float yt[R * C] = {1.0f, -2.0f, 0.5f, 3.0f, 0.0f, -1.0f,
                       2.5f, 1.5f, -0.5f, 0.2f, 0.7f, -3.0f};
    float d[R * C] = {0.4f, -0.3f, 1.2f, -0.8f, 0.15f, -2.0f,
                      0.9f, -0.25f, 0.6f, -1.1f, 0.35f, 0.5f};
    float yp[R * C];
    for (int i = 0; i < R * C; i++) yp[i] = yt[i] - d[i];
    int64_t dims[2] = {R, C};
    soma_tensor *t, *p;
    cr_assert_eq(soma_tensor_create(&t, 2, dims, yt), SOMA_OK);
    cr_assert_eq(soma_tensor_create(&p, 2, dims, yp), SOMA_OK);

    // Default tau is 0.5: half the mean absolute error.
    cr_assert_float_eq(eval("pinball", t, p, NULL), pinball_ref(yt, yp, 0.5), 1e-6);

    soma_tensor *g = NULL;
    const double tau = 0.9;
    double v = eval("pinball(tau=0.9)", t, p, &g);
    cr_assert_float_eq(v, pinball_ref(yt, yp, tau), 1e-6);
    cr_assert_not_null(g);
    cr_assert_eq(soma_tensor_numel(g), R * C);

    // Central differences of the reduced loss through soma_loss_eval itself;
    // the loss is linear within ±h of every point, so they are exact up to
    // float32 rounding of the two values.
    const float h = 0.03f;
    float *pd = soma_tensor_data(p);
    for (int i = 0; i < R * C; i++) {
        float keep = pd[i];
        pd[i] = keep + h;
        double up = eval("pinball(tau=0.9)", t, p, NULL);
        pd[i] = keep - h;
        double down = eval("pinball(tau=0.9)", t, p, NULL);
        pd[i] = keep;
        double fd = (up - down) / (2.0 * h);
        double want = (d[i] >= 0 ? -tau : 1 - tau) / (R * C);
        cr_assert_float_eq(soma_tensor_cdata(g)[i], want, 1e-7, "analytic grad[%d]", i);
        cr_assert_float_eq(soma_tensor_cdata(g)[i], fd, 1e-4, "FD grad[%d]", i);
    }
    soma_tensor_free(g);

    double tmp;
    cr_assert_eq(soma_loss_eval("pinball(tau=1.5)", "sum", t, p, NULL, &tmp, NULL, NULL),
                 SOMA_E_INVALID);
    cr_assert(strstr(soma_last_error(), "tau") != NULL, "%s", soma_last_error());
    cr_assert_eq(soma_loss_eval("pinball(tau=0)", "sum", t, p, NULL, &tmp, NULL, NULL),
                 SOMA_E_INVALID);
    soma_tensor_free(t);
    soma_tensor_free(p);
}

/* ---- training with it ----------------------------------------------------- */

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static double unit(void) {
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return (double)((rs * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

// y = 2x + 3 + 0.5·z with z ~ N(0, 1): the 0.9-quantile of y given x is the
// line 2x + 3 + 0.5·1.2815516 = 2x + 3.6408, which one Dense unit can fit.
Test(custom_loss, fits_the_upper_quantile) {
    enum { N = 1024 };
    static float xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        double u1 = unit(), u2 = unit();
        double z = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
        xs[i] = (float)(2 * unit() - 1);
        ys[i] = (float)(2 * xs[i] + 3 + 0.5 * z);
    }
    int64_t dims[2] = {N, 1};
    soma_tensor *x, *y;
    cr_assert_eq(soma_tensor_create(&x, 2, dims, xs), SOMA_OK);
    cr_assert_eq(soma_tensor_create(&y, 2, dims, ys), SOMA_OK);

    soma_model *m;
    cr_assert_eq(soma_model_create(&m), SOMA_OK);
    int64_t in[] = {1};
    cr_assert_eq(soma_model_add_input(m, 1, in), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_model_add_dense(m, 1, NULL, NULL, NULL), SOMA_OK, "%s",
                 soma_last_error());
    cr_assert_eq(soma_model_set_seed(m, 7), SOMA_OK);
    cr_assert_eq(soma_model_compile(m, "adam(learning_rate=0.01)", "pinball(tau=0.9)", NULL),
                 SOMA_OK, "%s", soma_last_error());

    soma_logs before, after;
    cr_assert_eq(soma_model_evaluate(m, x, y, 0, 0, &before), SOMA_OK, "%s",
                 soma_last_error());
    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = 60;
    fc.batch_size = 32;
    fc.verbose = 0;
    cr_assert_eq(soma_model_fit(m, x, y, &fc), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_model_evaluate(m, x, y, 0, 0, &after), SOMA_OK, "%s",
                 soma_last_error());

    double l0 = soma_logs_get(&before, "loss", NAN), l1 = soma_logs_get(&after, "loss", NAN);
    cr_assert(isfinite(l0) && isfinite(l1), "loss before %g, after %g", l0, l1);
    // Starting around 0.9·3 and ending near the optimum 0.5·φ(1.2816) = 0.088.
    cr_assert_lt(l1, 0.1 * l0, "loss went from %g to %g only", l0, l1);
    cr_assert_lt(l1, 0.11, "loss %g is far above the quantile optimum 0.088", l1);

    float *kernel, *bias;
    int64_t kr, kc;
    cr_assert_eq(soma_model_weights(m, 0, &kernel, &kr, &kc, &bias), SOMA_OK);
    cr_assert_float_eq(kernel[0], 2.0, 0.15, "slope %g", kernel[0]);
    cr_assert_float_eq(bias[0], 3.6408, 0.1, "intercept %g", bias[0]);

    soma_tensor *pred = NULL;
    cr_assert_eq(soma_model_predict(m, x, 0, &pred), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_tensor_numel(pred), N);
    int below = 0;
    for (int i = 0; i < N; i++) below += ys[i] < soma_tensor_cdata(pred)[i];
    double frac = (double)below / N;
    cr_assert(fabs(frac - 0.9) <= 0.05, "%.3f of the targets are below the fit, not 0.9",
              frac);

    soma_tensor_free(pred);
    soma_model_free(m);
    soma_tensor_free(x);
    soma_tensor_free(y);
}
