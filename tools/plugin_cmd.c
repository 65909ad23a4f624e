// soma plugin new | check. `new` writes a plugin that builds against the
// installed soma and passes `check` unchanged; `check` loads one plugin file
// and tests what a plugin author most easily gets wrong, using only the
// public API, so it sees a plugin exactly as a host program does.
#include "plugin_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "soma/soma.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage[] =
    "usage: soma plugin new KIND NAME [DIR]\n"
    "       soma plugin check FILE.so\n"
    "\n"
    "new    writes a plugin that builds and passes `soma plugin check` as it is:\n"
    "       DIR/NAME.c (a loss with forward and backward, an initializer's fill or\n"
    "       an optimizer's step; each with one parameter), DIR/CMakeLists.txt\n"
    "       (find_package(soma) and soma_add_plugin) and DIR/README (the one cc\n"
    "       command that builds it). KIND is loss, init or optim; NAME is\n"
    "       lowercase snake_case ([a-z][a-z0-9_]*). DIR defaults to ./NAME; files\n"
    "       already there are never overwritten.\n"
    "\n"
    "check  loads FILE.so alone, reports its descriptor, ABI and parameters, and\n"
    "       tests every item in it with its default parameters:\n"
    "         loss   backward against central finite differences (double\n"
    "                precision) on random inputs of several shapes; finite\n"
    "                values and gradients on edge inputs; each row's value the\n"
    "                same alone as in a batch, and 'sum' the sum of the rows\n"
    "         init   the same seed gives the same values and another seed other\n"
    "                values; finite output; prints mean and standard deviation\n"
    "         optim  50 steps on the convex quadratic sum_i a_i (x_i - c_i)^2\n"
    "                decrease it\n"
    "       Exits 1 when a check fails, saying which and why.\n";

static int usage_error(const char *fmt, ...) SOMA_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("soma: plugin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

static const char *last_error(void) {
    const char *m = soma_last_error();
    return m && *m ? m : soma_status_name(soma_last_status());
}

static bool name_valid(const char *s) {
    if (!(*s >= 'a' && *s <= 'z') || strlen(s) > 63) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
    return true;
}

/* ==== soma plugin new ======================================================== */

// Templates: @NAME@ becomes the plugin's name, @KIND@ its kind.
static const char loss_template[] =
    "/* @NAME@.c — a loss for soma, written by `soma plugin new loss @NAME@`.\n"
    " *\n"
    " * Build:  cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) \\\n"
    " *           @NAME@.c -o soma-loss-@NAME@.so\n"
    " *    or:  cmake -S . -B build && cmake --build build\n"
    " * Check:  soma plugin check ./soma-loss-@NAME@.so\n"
    " * Use:    SOMA_PLUGIN_PATH=$PWD soma train --loss '@NAME@(scale=1)'\n"
    " *\n"
    " * As written it is a scaled mean squared error. A loss computes one value per\n"
    " * row of y_pred (its last axis) and that value's derivative; soma does the\n"
    " * reduction over rows, sample weights and masks. Put your formula in forward\n"
    " * and its derivative in backward: `soma plugin check` compares the two. */\n"
    "#include <soma/plugin.h>\n"
    "\n"
    "enum { P_SCALE }; // index of each parameter in params[] and self->params[]\n"
    "\n"
    "static const soma_param_spec params[] = {\n"
    "    {.name = \"scale\", .type = SOMA_PARAM_FLOAT, .def_num = 1.0,\n"
    "     .doc = \"factor applied to every value, > 0\"},\n"
    "};\n"
    "\n"
    "// Runs once per use, with the parameters already parsed and typed: a bad\n"
    "// value fails when the model is compiled, not in the middle of training.\n"
    "static int @NAME@_create(const soma_host *host, const soma_param_value *pv,\n"
    "                         void **state) {\n"
    "    *state = NULL;\n"
    "    if (!(pv[P_SCALE].num > 0))\n"
    "        return host->set_error(SOMA_E_INVALID, \"scale must be > 0, got %g\",\n"
    "                               pv[P_SCALE].num);\n"
    "    return SOMA_OK;\n"
    "}\n"
    "\n"
    "static int check_shapes(const soma_ctx *ctx, const soma_tview *yt,\n"
    "                        const soma_tview *yp) {\n"
    "    if (soma_tview_numel(yt) == soma_tview_numel(yp) &&\n"
    "        soma_tview_cols(yt) == soma_tview_cols(yp))\n"
    "        return SOMA_OK;\n"
    "    return ctx->host->set_error(SOMA_E_SHAPE,\n"
    "                                \"y_true (%lld elements) does not match y_pred \"\n"
    "                                \"(%lld elements)\",\n"
    "                                (long long)soma_tview_numel(yt),\n"
    "                                (long long)soma_tview_numel(yp));\n"
    "}\n"
    "\n"
    "// values[r] = scale * mean over c of (y_pred[r, c] - y_true[r, c])^2\n"
    "static int @NAME@_forward(const soma_instance *self, const soma_ctx *ctx,\n"
    "                          const soma_tview *yt, const soma_tview *yp,\n"
    "                          float *values) {\n"
    "    int rc = check_shapes(ctx, yt, yp);\n"
    "    if (rc) return rc;\n"
    "    double scale = self->params[P_SCALE].num;\n"
    "    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);\n"
    "    for (int64_t r = 0; r < rows; r++) {\n"
    "        double s = 0;\n"
    "        for (int64_t c = 0; c < cols; c++) {\n"
    "            double e = (double)yp->data[r * cols + c] - yt->data[r * cols + c];\n"
    "            s += e * e;\n"
    "        }\n"
    "        values[r] = (float)(scale * s / (double)cols);\n"
    "    }\n"
    "    return SOMA_OK;\n"
    "}\n"
    "\n"
    "// d_y_pred[r, c] = d_values[r] * dvalues[r]/dy_pred[r, c]\n"
    "//                = d_values[r] * scale * 2 (y_pred[r, c] - y_true[r, c]) / cols\n"
    "static int @NAME@_backward(const soma_instance *self, const soma_ctx *ctx,\n"
    "                           const soma_tview *yt, const soma_tview *yp,\n"
    "                           const float *d_values, float *d_y_pred) {\n"
    "    int rc = check_shapes(ctx, yt, yp);\n"
    "    if (rc) return rc;\n"
    "    double scale = self->params[P_SCALE].num;\n"
    "    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);\n"
    "    for (int64_t r = 0; r < rows; r++) {\n"
    "        double k = d_values[r] * scale * 2.0 / (double)cols;\n"
    "        for (int64_t c = 0; c < cols; c++) {\n"
    "            int64_t i = r * cols + c;\n"
    "            d_y_pred[i] = (float)(k * ((double)yp->data[i] - yt->data[i]));\n"
    "        }\n"
    "    }\n"
    "    return SOMA_OK;\n"
    "}\n"
    "\n"
    "static const soma_loss_vt @NAME@_vt = {\n"
    "    .size = sizeof(soma_loss_vt),\n"
    "    .name = \"@NAME@\",\n"
    "    .create = @NAME@_create,\n"
    "    .forward = @NAME@_forward,\n"
    "    .backward = @NAME@_backward,\n"
    "};\n"
    "\n"
    "static const soma_item items[] = {{\n"
    "    .size = sizeof(soma_item),\n"
    "    .kind = SOMA_KIND_LOSS,\n"
    "    .name = \"@NAME@\",\n"
    "    .doc = \"scaled mean squared error (edit me)\",\n"
    "    .params = params,\n"
    "    .n_params = 1,\n"
    "    .vtable = &@NAME@_vt,\n"
    "}};\n"
    "\n"
    "SOMA_PLUGIN_DEFINE(loss, @NAME@, items, 1)\n";

static const char init_template[] =
    "/* @NAME@.c — an initializer for soma, written by `soma plugin new init @NAME@`.\n"
    " *\n"
    " * Build:  cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) \\\n"
    " *           @NAME@.c -o soma-init-@NAME@.so\n"
    " *    or:  cmake -S . -B build && cmake --build build\n"
    " * Check:  soma plugin check ./soma-init-@NAME@.so\n"
    " * Use:    soma_model_add_dense(m, 64, \"relu\", \"@NAME@(stddev=0.1)\", \"zeros\")\n"
    " *\n"
    " * As written it draws N(0, stddev). fill must write every element, and every\n"
    " * random number must come from ctx->rng through the host's rng_* functions:\n"
    " * that is what makes the same seed give the same weights on every machine.\n"
    " * fans->fan_in and fans->fan_out are Keras' fans of the tensor's shape, for\n"
    " * variance-scaling formulas. */\n"
    "#include <soma/plugin.h>\n"
    "\n"
    "enum { P_STDDEV }; // index of each parameter in params[] and self->params[]\n"
    "\n"
    "static const soma_param_spec params[] = {\n"
    "    {.name = \"stddev\", .type = SOMA_PARAM_FLOAT, .def_num = 0.05,\n"
    "     .doc = \"standard deviation of the normal distribution, >= 0\"},\n"
    "};\n"
    "\n"
    "// Runs once per use, with the parameters already parsed and typed.\n"
    "static int @NAME@_create(const soma_host *host, const soma_param_value *pv,\n"
    "                         void **state) {\n"
    "    *state = NULL;\n"
    "    if (!(pv[P_STDDEV].num >= 0))\n"
    "        return host->set_error(SOMA_E_INVALID, \"stddev must be >= 0, got %g\",\n"
    "                               pv[P_STDDEV].num);\n"
    "    return SOMA_OK;\n"
    "}\n"
    "\n"
    "static int @NAME@_fill(const soma_instance *self, const soma_ctx *ctx,\n"
    "                       const soma_tview *out, const soma_fans *fans) {\n"
    "    (void)fans;\n"
    "    float stddev = (float)self->params[P_STDDEV].num;\n"
    "    ctx->host->rng_normal(ctx->rng, out->data, (size_t)soma_tview_numel(out),\n"
    "                          0.0f, stddev);\n"
    "    return SOMA_OK;\n"
    "}\n"
    "\n"
    "static const soma_init_vt @NAME@_vt = {\n"
    "    .size = sizeof(soma_init_vt),\n"
    "    .name = \"@NAME@\",\n"
    "    .create = @NAME@_create,\n"
    "    .fill = @NAME@_fill,\n"
    "};\n"
    "\n"
    "static const soma_item items[] = {{\n"
    "    .size = sizeof(soma_item),\n"
    "    .kind = SOMA_KIND_INIT,\n"
    "    .name = \"@NAME@\",\n"
    "    .doc = \"normal distribution N(0, stddev) (edit me)\",\n"
    "    .params = params,\n"
    "    .n_params = 1,\n"
    "    .vtable = &@NAME@_vt,\n"
    "}};\n"
    "\n"
    "SOMA_PLUGIN_DEFINE(init, @NAME@, items, 1)\n";

static const char optim_template[] =
    "/* @NAME@.c — an optimizer for soma, written by `soma plugin new optim @NAME@`.\n"
    " *\n"
    " * Build:  cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) \\\n"
    " *           @NAME@.c -o soma-optim-@NAME@.so\n"
    " *    or:  cmake -S . -B build && cmake --build build\n"
    " * Check:  soma plugin check ./soma-optim-@NAME@.so\n"
    " * Use:    SOMA_PLUGIN_PATH=$PWD soma train --optimizer '@NAME@(learning_rate=0.01)'\n"
    " *\n"
    " * As written it is plain gradient descent. step updates one parameter tensor\n"
    " * in place and MUST treat each element on its own: the host may split a\n"
    " * tensor into ranges and step them on several threads. For state such as\n"
    " * momentum, return the number of per-element buffers from slot_count: the\n"
    " * host allocates them (zeroed), keeps them and passes them to every step. */\n"
    "#include <soma/plugin.h>\n"
    "\n"
    "static const soma_param_spec params[] = {\n"
    "    // The host reads learning_rate (and applies schedules) and passes the\n"
    "    // value for each step in info->lr.\n"
    "    {.name = \"learning_rate\", .type = SOMA_PARAM_FLOAT, .def_num = 0.01,\n"
    "     .doc = \"step size\"},\n"
    "};\n"
    "\n"
    "static int @NAME@_step(const soma_instance *self, const soma_ctx *ctx,\n"
    "                       float *param, const float *grad, float *const *slots,\n"
    "                       size_t n, const soma_step_info *info) {\n"
    "    (void)self, (void)ctx, (void)slots;\n"
    "    float lr = (float)info->lr;\n"
    "    for (size_t i = 0; i < n; i++) param[i] -= lr * grad[i];\n"
    "    return SOMA_OK;\n"
    "}\n"
    "\n"
    "static const soma_optim_vt @NAME@_vt = {\n"
    "    .size = sizeof(soma_optim_vt),\n"
    "    .name = \"@NAME@\",\n"
    "    .step = @NAME@_step,\n"
    "};\n"
    "\n"
    "static const soma_item items[] = {{\n"
    "    .size = sizeof(soma_item),\n"
    "    .kind = SOMA_KIND_OPTIM,\n"
    "    .name = \"@NAME@\",\n"
    "    .doc = \"gradient descent (edit me)\",\n"
    "    .params = params,\n"
    "    .n_params = 1,\n"
    "    .vtable = &@NAME@_vt,\n"
    "}};\n"
    "\n"
    "SOMA_PLUGIN_DEFINE(optim, @NAME@, items, 1)\n";

static const char cmake_template[] =
    "# Builds soma-@KIND@-@NAME@.so against an installed soma:\n"
    "#   cmake -S . -B build && cmake --build build\n"
    "# (add -DCMAKE_PREFIX_PATH=<prefix> when soma is installed outside the\n"
    "# default search path, e.g. ~/.local).\n"
    "cmake_minimum_required(VERSION 3.16)\n"
    "project(soma_@KIND@_@NAME@ C)\n"
    "\n"
    "find_package(soma @VERSION@ REQUIRED)\n"
    "soma_add_plugin(@KIND@ @NAME@ @NAME@.c)\n";

static const char readme_template[] =
    "cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) @NAME@.c -o "
    "soma-@KIND@-@NAME@.so\n";

// text with every @NAME@, @KIND@ and @VERSION@ replaced; malloc'd.
static char *expand(const char *text, const char *kind, const char *name) {
    char version[32];
    snprintf(version, sizeof version, "%d.%d", SOMA_VERSION_MAJOR, SOMA_VERSION_MINOR);
    const struct {
        const char *key, *value;
    } subs[] = {{"@NAME@", name}, {"@KIND@", kind}, {"@VERSION@", version}};
    size_t cap = strlen(text) + 1;
    for (const char *p = text; (p = strchr(p, '@')) != NULL; p++) cap += 64 + 16;
    char *out = malloc(cap), *o = out;
    if (!out) return NULL;
    for (const char *p = text; *p;) {
        bool done = false;
        for (size_t k = 0; k < sizeof subs / sizeof subs[0] && !done; k++) {
            size_t n = strlen(subs[k].key);
            if (strncmp(p, subs[k].key, n) == 0) {
                size_t m = strlen(subs[k].value);
                memcpy(o, subs[k].value, m);
                o += m;
                p += n;
                done = true;
            }
        }
        if (!done) *o++ = *p++;
    }
    *o = '\0';
    return out;
}

// mkdir -p, with 0755 so the plugin directory passes the loader's check.
static int make_dirs(const char *dir) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

// Creates path with text; never replaces an existing file.
static int write_new(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "soma: plugin new: cannot create %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (not overwriting it)" : "");
        return EXIT_FAIL;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "soma: plugin new: cannot write %s: %s\n", path, strerror(errno));
            close(fd);
            return EXIT_FAIL;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "soma: plugin new: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    return 0;
}

static int cmd_new(int argc, char **argv) {
    if (argc < 2) return usage_error("new: KIND and NAME are required");
    if (argc > 3) return usage_error("new: unexpected argument '%s'", argv[3]);
    const char *kind = argv[0], *name = argv[1];
    const char *tmpl;
    if (!strcmp(kind, "loss")) tmpl = loss_template;
    else if (!strcmp(kind, "init")) tmpl = init_template;
    else if (!strcmp(kind, "optim")) tmpl = optim_template;
    else return usage_error("new: KIND '%s' is not one of loss, init, optim", kind);
    if (!name_valid(name))
        return usage_error("new: NAME '%s' is not lowercase snake_case ([a-z][a-z0-9_]*, at most "
                           "63 bytes)",
                           name);
    const char *dir = argc == 3 ? argv[2] : name;

    char paths[3][PATH_MAX];
    const char *files[3] = {NULL, "CMakeLists.txt", "README"};
    char src_name[80];
    snprintf(src_name, sizeof src_name, "%s.c", name);
    files[0] = src_name;
    for (int i = 0; i < 3; i++) {
        if (snprintf(paths[i], PATH_MAX, "%s/%s", dir, files[i]) >= PATH_MAX)
            return usage_error("new: DIR '%s' is too long", dir);
        // Checked up front, so a refusal leaves nothing half written.
        if (access(paths[i], F_OK) == 0) {
            fprintf(stderr, "soma: plugin new: %s already exists (not overwriting it)\n", paths[i]);
            return EXIT_FAIL;
        }
    }
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "soma: plugin new: cannot create directory %s: %s\n", dir, strerror(errno));
        return EXIT_FAIL;
    }
    const char *texts[3] = {tmpl, cmake_template, readme_template};
    for (int i = 0; i < 3; i++) {
        char *text = expand(texts[i], kind, name);
        if (!text) {
            fprintf(stderr, "soma: plugin new: out of memory\n");
            return EXIT_FAIL;
        }
        int rc = write_new(paths[i], text);
        free(text);
        if (rc) return rc;
    }
    printf("wrote %s, %s, %s\n\n", paths[0], paths[1], paths[2]);
    printf("build it (either way):\n"
           "  cd %s\n"
           "  cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) %s -o "
           "soma-%s-%s.so\n"
           "  cmake -S . -B build && cmake --build build    # makes build/soma-%s-%s.so\n"
           "check it:\n"
           "  soma plugin check ./soma-%s-%s.so\n",
           dir, src_name, kind, name, kind, name, kind, name);
    if (!strcmp(kind, "loss"))
        printf("use it:\n  SOMA_PLUGIN_PATH=$PWD soma train --loss %s\n", name);
    else if (!strcmp(kind, "optim"))
        printf("use it:\n  SOMA_PLUGIN_PATH=$PWD soma train --optimizer %s\n", name);
    else
        printf("use it:\n  SOMA_PLUGIN_PATH=$PWD, then soma_model_add_dense(m, 64, \"relu\", \"%s\", "
               "\"zeros\")\n",
               name);
    return 0;
}

/* ==== soma plugin check ====================================================== */

// splitmix64: the checker's inputs are the same on every run and machine.
typedef struct prng {
    uint64_t s;
} prng;
static double unit(prng *p) {
    uint64_t z = (p->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

typedef struct tally {
    int passed, failed;
    char first_failure[64];
} tally;

static void pass(tally *t, const char *fmt, ...) SOMA_PRINTF(2, 3);
static void pass(tally *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("  ok    ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    t->passed++;
}

// what: the check's short name for the summary line.
static void fail(tally *t, const char *what, const char *fmt, ...) SOMA_PRINTF(3, 4);
static void fail(tally *t, const char *what, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("  FAIL  ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    if (!t->failed) snprintf(t->first_failure, sizeof t->first_failure, "%s", what);
    t->failed++;
}

static void note(const char *fmt, ...) SOMA_PRINTF(1, 2);
static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("        ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

static const char *shape_str(int ndim, const int64_t *dims, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (o < cap) snprintf(buf + o, cap - o, ndim == 1 ? ",)" : ")");
    return buf;
}

// "[1, 2]": the position of flat index i in a tensor of shape dims.
static const char *index_str(int ndim, const int64_t *dims, int64_t i, char *buf, size_t cap) {
    int64_t idx[SOMA_MAX_DIMS];
    for (int a = ndim - 1; a >= 0; a--) {
        idx[a] = dims[a] ? i % dims[a] : 0;
        i = dims[a] ? i / dims[a] : 0;
    }
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int a = 0; a < ndim && o < cap; a++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", a ? ", " : "", (long long)idx[a]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

static bool all_finite(const soma_tensor *t) {
    const float *d = soma_tensor_cdata(t);
    for (int64_t i = 0; i < soma_tensor_numel(t); i++)
        if (!isfinite(d[i])) return false;
    return true;
}

/* ---- losses ------------------------------------------------------------------ */

// How y_true is made for a y_pred: the same shape with values in (0, 1)
// (regression, binary and categorical losses), or integer class labels with
// the last axis dropped (sparse losses). A loss may reject either kind.
enum { TARGETS_DENSE, TARGETS_LABELS, N_TARGET_KINDS };
static const char *const target_kind_name[] = {"targets in (0, 1)", "integer labels"};

typedef struct loss_case {
    soma_tensor *yt, *yp, *w;
    int64_t rows, cols;
    int ndim;
    int64_t dims[SOMA_MAX_DIMS];
} loss_case;

static void case_free(loss_case *c) {
    soma_tensor_free(c->yt);
    soma_tensor_free(c->yp);
    soma_tensor_free(c->w);
    memset(c, 0, sizeof *c);
}

// Random predictions in [0.05, 0.95], far enough from 0 and 1 for a finite
// difference step of 1e-3 to stay inside every loss's domain, targets of
// the given kind, and one random positive weight per row so that backward
// is tested with unequal d_values.
static int case_make(loss_case *c, int kind, int ndim, const int64_t *dims, prng *rng) {
    memset(c, 0, sizeof *c);
    if (kind == TARGETS_LABELS && ndim < 2) return SOMA_E_SHAPE;
    c->ndim = ndim;
    memcpy(c->dims, dims, (size_t)ndim * sizeof *dims);
    c->cols = dims[ndim - 1];
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= dims[i];
    c->rows = numel / c->cols;
    int64_t wdims[1] = {c->rows};
    int rc;
    if ((rc = soma_tensor_create(&c->yp, ndim, dims, NULL)) ||
        (rc = soma_tensor_create(&c->w, 1, wdims, NULL)))
        goto fail;
    if (kind == TARGETS_DENSE) rc = soma_tensor_create(&c->yt, ndim, dims, NULL);
    else rc = soma_tensor_create(&c->yt, ndim - 1, dims, NULL);
    if (rc) goto fail;
    float *yp = soma_tensor_data(c->yp), *yt = soma_tensor_data(c->yt), *w = soma_tensor_data(c->w);
    for (int64_t i = 0; i < numel; i++) yp[i] = (float)(0.05 + 0.9 * unit(rng));
    if (kind == TARGETS_DENSE)
        for (int64_t i = 0; i < numel; i++) yt[i] = (float)(0.05 + 0.9 * unit(rng));
    else
        for (int64_t r = 0; r < c->rows; r++) yt[r] = (float)(int64_t)(unit(rng) * (double)c->cols);
    for (int64_t r = 0; r < c->rows; r++) w[r] = (float)(0.5 + unit(rng));
    return SOMA_OK;
fail:
    case_free(c);
    return rc;
}

// A status with which a loss says "not an input I take" rather than failing.
static bool is_rejection(int rc) {
    return rc == SOMA_E_SHAPE || rc == SOMA_E_RANGE || rc == SOMA_E_INVALID ||
           rc == SOMA_E_UNSUPPORTED;
}

// Σ_r w_r·values_r, and its gradient when grad is not NULL.
static int loss_sum(const char *name, const loss_case *c, double *value, soma_tensor **grad) {
    return soma_loss_eval(name, "sum", c->yt, c->yp, c->w, value, NULL, grad);
}

// The first kind of targets the loss accepts for this shape, in *c; 1 when
// it rejects all of them (why gets the last message), or a failure status.
static int case_accepted(const char *name, int ndim, const int64_t *dims, prng *rng, loss_case *c,
                         int *kind, char *why, size_t why_cap) {
    for (int k = 0; k < N_TARGET_KINDS; k++) {
        int rc = case_make(c, k, ndim, dims, rng);
        if (rc == SOMA_E_SHAPE) continue; // no such targets for this rank
        if (rc) return rc;
        double v;
        soma_tensor *g = NULL;
        rc = loss_sum(name, c, &v, &g);
        soma_tensor_free(g);
        if (rc == SOMA_OK) {
            *kind = k;
            return SOMA_OK;
        }
        snprintf(why, why_cap, "%s", last_error());
        case_free(c);
        if (!is_rejection(rc)) return rc;
    }
    return 1;
}

typedef struct grad_report {
    double worst;          // largest |backward - central difference| / tolerance
    double worst_abs;      // and that difference
    int kinks;             // elements where the loss has a kink within ±h
} grad_report;

// Backward against central differences of forward, element by element, in
// double precision from the float values the loss returns. Near a kink
// (|x| in an L1 loss) the one-sided differences disagree; there backward may
// be anything between them.
static int grad_check(const char *name, loss_case *c, grad_report *rep, tally *t) {
    const double h = 1e-3;
    double f0;
    soma_tensor *grad = NULL, *vals = NULL;
    char shp[96], at[96];
    shape_str(c->ndim, c->dims, shp, sizeof shp);
    if (loss_sum(name, c, &f0, &grad) != SOMA_OK) {
        fail(t, "gradient", "gradient: shape %s: %s", shp, last_error());
        return 1;
    }
    // Float rounding in the values the loss returns, divided by the step,
    // sets how closely a difference quotient can be trusted.
    double mag = 0;
    if (soma_loss_eval(name, "none", c->yt, c->yp, c->w, NULL, &vals, NULL) == SOMA_OK) {
        for (int64_t r = 0; r < soma_tensor_numel(vals); r++)
            mag += fabs((double)soma_tensor_cdata(vals)[r]);
        soma_tensor_free(vals);
    }
    double atol = 2e-6 * (1.0 + mag) / h;
    float *yp = soma_tensor_data(c->yp);
    const float *g = soma_tensor_cdata(grad);
    int bad = 0;
    for (int64_t i = 0; i < soma_tensor_numel(c->yp) && !bad; i++) {
        float x0 = yp[i], xp = (float)((double)x0 + h), xm = (float)((double)x0 - h);
        double fp, fm;
        yp[i] = xp;
        int rc = loss_sum(name, c, &fp, NULL);
        yp[i] = xm;
        if (!rc) rc = loss_sum(name, c, &fm, NULL);
        yp[i] = x0;
        index_str(c->ndim, c->dims, i, at, sizeof at);
        if (rc) {
            fail(t, "gradient", "gradient: shape %s, y_pred%s moved by %g: %s", shp, at, h,
                 last_error());
            bad = 1;
            break;
        }
        double central = (fp - fm) / ((double)xp - xm);
        double left = (f0 - fm) / ((double)x0 - xm), right = (fp - f0) / ((double)xp - x0);
        double gi = g[i];
        double tol = 1e-2 * fmax(fabs(gi), fabs(central)) + atol;
        double err = fabs(gi - central);
        if (!isfinite(gi)) {
            fail(t, "gradient", "gradient: shape %s, y_pred%s: backward gives %g", shp, at, gi);
            bad = 1;
        } else if (err <= tol) {
            if (err / tol > rep->worst) {
                rep->worst = err / tol;
                rep->worst_abs = err;
            }
        } else if (fabs(left - right) > tol && gi >= fmin(left, right) - tol &&
                   gi <= fmax(left, right) + tol) {
            rep->kinks++;
        } else {
            const char *hint = "";
            if (gi * central < 0 && fabs(fabs(gi) - fabs(central)) <= tol) hint = " (wrong sign)";
            else if (fabs(central) > tol && fabs(gi / central - 2) < 0.02) hint = " (twice too big)";
            else if (fabs(central) > tol && fabs(gi / central - 0.5) < 0.01) hint = " (half)";
            fail(t, "gradient",
                 "gradient: shape %s, y_pred%s: backward gives %.6g, the central finite difference "
                 "of forward %.6g%s",
                 shp, at, gi, central, hint);
            note("(d loss/d y_pred of 'sum' with row weights; step %g, tolerance %.2g)", h, tol);
            bad = 1;
        }
    }
    soma_tensor_free(grad);
    return bad;
}

// Edge inputs on one shape: predictions exactly right and exactly wrong at
// 0 and 1, very large and very small predictions, all-zero targets.
enum { EDGE_RIGHT, EDGE_WRONG, EDGE_LARGE, EDGE_TINY, EDGE_ZERO_TARGETS, N_EDGES };
static const char *const edge_name[] = {
    "one-hot targets, predictions exactly right (0 and 1)",
    "one-hot targets, predictions exactly wrong (0 and 1)",
    "predictions of 1e3",
    "predictions of 1e-12",
    "all-zero targets",
};

static void edge_fill(loss_case *c, int kind, int edge, prng *rng) {
    float *yp = soma_tensor_data(c->yp), *yt = soma_tensor_data(c->yt);
    for (int64_t r = 0; r < c->rows; r++) {
        int64_t label = (int64_t)(unit(rng) * (double)c->cols);
        int64_t other = c->cols > 1 ? (label + 1) % c->cols : label;
        if (kind == TARGETS_LABELS) yt[r] = (float)label;
        for (int64_t k = 0; k < c->cols; k++) {
            float *p = &yp[r * c->cols + k];
            if (kind == TARGETS_DENSE)
                yt[r * c->cols + k] = edge == EDGE_ZERO_TARGETS ? 0.0f : (float)(k == label);
            switch (edge) {
            case EDGE_RIGHT: *p = (float)(k == label); break;
            case EDGE_WRONG: *p = (float)(k == other); break;
            case EDGE_LARGE: *p = 1e3f; break;
            case EDGE_TINY: *p = 1e-12f; break;
            default: *p = (float)(0.05 + 0.9 * unit(rng)); break;
            }
        }
    }
}

static void check_edges(const char *name, loss_case *c, int kind, prng *rng, tally *t) {
    int tried = 0, rejected = 0, failures = t->failed;
    char shp[96];
    shape_str(c->ndim, c->dims, shp, sizeof shp);
    for (int e = 0; e < N_EDGES; e++) {
        if (e == EDGE_ZERO_TARGETS && kind == TARGETS_LABELS) continue;
        edge_fill(c, kind, e, rng);
        tried++;
        double v;
        soma_tensor *vals = NULL, *grad = NULL;
        int rc = soma_loss_eval(name, "none", c->yt, c->yp, NULL, &v, &vals, NULL);
        if (!rc) rc = loss_sum(name, c, &v, &grad);
        if (rc && is_rejection(rc)) {
            note("edge input \"%s\" rejected: %s", edge_name[e], last_error());
            rejected++;
        } else if (rc) {
            fail(t, "edge inputs", "edge input \"%s\", shape %s: %s", edge_name[e], shp, last_error());
        } else if (!all_finite(vals) || !all_finite(grad)) {
            const soma_tensor *bad = all_finite(vals) ? grad : vals;
            int64_t i = 0;
            while (isfinite(soma_tensor_cdata(bad)[i])) i++;
            fail(t, "edge inputs", "edge input \"%s\", shape %s: %s[%lld] is %g", edge_name[e], shp,
                 bad == vals ? "the value of row" : "the gradient", (long long)i,
                 (double)soma_tensor_cdata(bad)[i]);
        }
        soma_tensor_free(vals);
        soma_tensor_free(grad);
    }
    if (t->failed == failures)
        pass(t, "finite values and gradients on %d edge inputs%s (shape %s, %s)", tried - rejected,
             rejected ? ", the others rejected with a message" : "", shp, target_kind_name[kind]);
}

// A row's value must be the row's alone: a loss that averages over rows
// itself (or writes only values[0]) would be reduced twice by the host.
static void check_rows(const char *name, loss_case *c, int kind, tally *t) {
    char shp[96];
    shape_str(c->ndim, c->dims, shp, sizeof shp);
    soma_tensor *vals = NULL, *again = NULL;
    double sum = 0;
    if (soma_loss_eval(name, "none", c->yt, c->yp, NULL, NULL, &vals, NULL) ||
        soma_loss_eval(name, "none", c->yt, c->yp, NULL, NULL, &again, NULL) ||
        soma_loss_eval(name, "sum", c->yt, c->yp, NULL, &sum, NULL, NULL)) {
        fail(t, "rows", "per-row values, shape %s: %s", shp, last_error());
        goto done;
    }
    const float *v = soma_tensor_cdata(vals);
    if (memcmp(v, soma_tensor_cdata(again), (size_t)c->rows * sizeof(float)) != 0) {
        fail(t, "deterministic", "the same input twice gives different values (shape %s)", shp);
        goto done;
    }
    double total = 0, mag = 0;
    for (int64_t r = 0; r < c->rows; r++) {
        total += v[r];
        mag += fabs((double)v[r]);
    }
    if (fabs(total - sum) > 1e-5 * (1 + mag)) {
        fail(t, "rows", "shape %s: reduction 'sum' gives %.8g but the rows' values add up to %.8g",
             shp, sum, total);
        goto done;
    }
    const float *yt = soma_tensor_cdata(c->yt), *yp = soma_tensor_cdata(c->yp);
    int64_t tcols = soma_tensor_numel(c->yt) / c->rows;
    for (int64_t r = 0; r < c->rows; r++) {
        int64_t pd[2] = {1, c->cols}, td[2] = {1, tcols};
        soma_tensor *yt1 = NULL, *yp1 = NULL, *v1 = NULL;
        int rc = soma_tensor_create(&yp1, 2, pd, yp + r * c->cols);
        if (!rc) rc = soma_tensor_create(&yt1, kind == TARGETS_LABELS ? 1 : 2, td, yt + r * tcols);
        if (!rc) rc = soma_loss_eval(name, "none", yt1, yp1, NULL, NULL, &v1, NULL);
        double alone = rc ? NAN : (double)soma_tensor_cdata(v1)[0];
        soma_tensor_free(yt1);
        soma_tensor_free(yp1);
        soma_tensor_free(v1);
        if (rc) {
            fail(t, "rows", "row %lld of shape %s on its own: %s", (long long)r, shp, last_error());
            goto done;
        }
        if (!(fabs(alone - v[r]) <= 1e-5 * (1 + fabs(alone)))) {
            fail(t, "rows",
                 "row %lld of shape %s: value %.8g in the batch but %.8g on its own; a loss "
                 "MUST NOT reduce over rows (the host does)",
                 (long long)r, shp, (double)v[r], alone);
            goto done;
        }
    }
    pass(t, "each row's value is the same alone as in a batch of %lld; 'sum' adds them up; "
            "deterministic", (long long)c->rows);
done:
    soma_tensor_free(vals);
    soma_tensor_free(again);
}

static void check_loss(const char *name, tally *t) {
    static const struct {
        int ndim;
        int64_t dims[3];
    } shapes[] = {{2, {1, 1}}, {2, {4, 3}}, {2, {5, 1}}, {3, {2, 3, 4}}, {1, {6}}};
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };
    prng rng = {0x5eed};
    grad_report rep = {0};
    char list[256] = "", shp[96], why[512] = "";
    int checked = 0, grad_failed = 0;
    loss_case rows_case = {0};
    int rows_kind = 0;
    for (int s = 0; s < N_SHAPES; s++) {
        loss_case c;
        int kind = TARGETS_DENSE;
        shape_str(shapes[s].ndim, shapes[s].dims, shp, sizeof shp);
        int rc = case_accepted(name, shapes[s].ndim, shapes[s].dims, &rng, &c, &kind, why,
                               sizeof why);
        if (rc == 1) {
            note("shape %s rejected for every kind of target: %s", shp, why);
            continue;
        }
        if (rc) {
            fail(t, "gradient", "shape %s: %s", shp, last_error());
            grad_failed = 1;
            continue;
        }
        if (grad_check(name, &c, &rep, t)) grad_failed = 1;
        checked++;
        size_t o = strlen(list);
        snprintf(list + o, sizeof list - o, "%s%s", o ? " " : "", shp);
        // The largest batch with several rows is kept for the row checks.
        if (c.rows > 1 && c.rows >= rows_case.rows) {
            case_free(&rows_case);
            rows_case = c;
            rows_kind = kind;
        } else {
            case_free(&c);
        }
    }
    if (checked == 0) {
        if (!grad_failed)
            fail(t, "gradient", "the loss rejected every input tried; the last message: %s", why);
        return;
    }
    if (!grad_failed)
        pass(t, "backward = central finite differences on %s (largest difference %.2g%s)", list,
             rep.worst_abs, rep.kinks ? ", kinks skipped" : "");
    if (rows_case.rows > 1) {
        check_rows(name, &rows_case, rows_kind, t);
        check_edges(name, &rows_case, rows_kind, &rng, t);
    } else {
        note("no accepted shape has more than one row: per-row and edge checks skipped");
    }
    case_free(&rows_case);
}

/* ---- initializers --------------------------------------------------------------- */

static int64_t distinct_values(const float *v, int64_t n, int64_t stop_at) {
    int64_t count = 0;
    for (int64_t i = 0; i < n && count < stop_at; i++) {
        bool seen = false;
        for (int64_t j = 0; j < i && !seen; j++) seen = v[j] == v[i];
        if (!seen) count++;
    }
    return count;
}

static void check_init(const char *name, tally *t) {
    static const struct {
        int ndim;
        int64_t dims[4];
    } shapes[] = {{2, {64, 32}}, {2, {5, 5}}, {1, {7}}, {4, {3, 3, 2, 4}}};
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };
    char shp[96];
    int accepted = 0, failures = t->failed;
    bool seed_free = false;
    for (int s = 0; s < N_SHAPES; s++) {
        shape_str(shapes[s].ndim, shapes[s].dims, shp, sizeof shp);
        soma_tensor *a = NULL, *b = NULL, *c = NULL;
        int rc = soma_init_eval(name, 1, shapes[s].ndim, shapes[s].dims, &a);
        if (rc && is_rejection(rc)) {
            note("shape %s rejected: %s", shp, last_error());
            continue;
        }
        if (rc) {
            fail(t, "fill", "shape %s: %s", shp, last_error());
            continue;
        }
        accepted++;
        if ((rc = soma_init_eval(name, 1, shapes[s].ndim, shapes[s].dims, &b)) ||
            (rc = soma_init_eval(name, 2, shapes[s].ndim, shapes[s].dims, &c))) {
            fail(t, "fill", "shape %s, second call: %s", shp, last_error());
            goto next;
        }
        int64_t n = soma_tensor_numel(a);
        const float *va = soma_tensor_cdata(a), *vb = soma_tensor_cdata(b),
                    *vc = soma_tensor_cdata(c);
        // A constant or identity initializer does not depend on the seed and
        // need not; random-looking values that ignore it come from a generator
        // of the plugin's own.
        int64_t distinct = distinct_values(va, n, 3);
        bool same = n && memcmp(va, vc, (size_t)n * sizeof(float)) == 0;
        if (s == 0 && n > 0) {
            double mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY;
            for (int64_t i = 0; i < n; i++) mean += va[i];
            mean /= (double)n;
            for (int64_t i = 0; i < n; i++) {
                m2 += (va[i] - mean) * (va[i] - mean);
                lo = fmin(lo, va[i]);
                hi = fmax(hi, va[i]);
            }
            note("shape %s, seed 1: mean %.5g, std %.5g, min %.5g, max %.5g%s", shp, mean,
                 sqrt(m2 / (double)n), lo, hi, same ? " (the same for seed 2)" : "");
        }
        if (n && memcmp(va, vb, (size_t)n * sizeof(float)) != 0) {
            int64_t i = 0;
            while (va[i] == vb[i]) i++;
            fail(t, "seed",
                 "shape %s: seed 1 twice gives different values (element %lld: %g, then %g); "
                 "draw every random number from ctx->rng through host->rng_*",
                 shp, (long long)i, (double)va[i], (double)vb[i]);
            goto next;
        }
        if (same && distinct > 2) {
            fail(t, "seed",
                 "shape %s: seeds 1 and 2 give the same values, yet they vary like random "
                 "numbers: the initializer ignores the seed; draw from ctx->rng through "
                 "host->rng_*",
                 shp);
            goto next;
        }
        if (same) seed_free = true;
    next:
        soma_tensor_free(a);
        soma_tensor_free(b);
        soma_tensor_free(c);
    }
    if (accepted == 0 && t->failed == failures) {
        fail(t, "fill", "the initializer rejected every shape tried");
        return;
    }
    if (t->failed == failures && seed_free)
        pass(t, "every element written and finite; the same values for every seed: it "
                "draws no random numbers, like zeros or identity (%d shapes)", accepted);
    else if (t->failed == failures)
        pass(t, "every element written and finite; the same seed gives the same values and "
                "another seed other values (%d shapes)", accepted);
}

/* ---- optimizers ----------------------------------------------------------------- */

enum { QUAD_N = 12, QUAD_STEPS = 50 };

typedef struct quadratic {
    double a[QUAD_N], c[QUAD_N];
} quadratic;

static double quad_value(const quadratic *q, const float *x) {
    double f = 0;
    for (int i = 0; i < QUAD_N; i++) f += q->a[i] * (x[i] - q->c[i]) * (x[i] - q->c[i]);
    return f;
}

static int quad_grad(void *user, int step, const soma_tensor *param, soma_tensor *grad) {
    (void)step;
    const quadratic *q = user;
    const float *x = soma_tensor_cdata(param);
    float *g = soma_tensor_data(grad);
    for (int i = 0; i < QUAD_N; i++) g[i] = (float)(2 * q->a[i] * (x[i] - q->c[i]));
    return SOMA_OK;
}

static void check_optim(const char *name, const soma_plugin_info *info, tally *t) {
    prng rng = {0x0971};
    quadratic q;
    float x0[QUAD_N];
    for (int i = 0; i < QUAD_N; i++) {
        q.a[i] = 0.5 + 1.5 * unit(&rng);
        q.c[i] = 2 * unit(&rng) - 1;
        // Start at least 0.5 away from the minimum in every coordinate.
        x0[i] = (float)(q.c[i] + (unit(&rng) < 0.5 ? -1 : 1) * (0.5 + unit(&rng)));
    }
    double lr = NAN;
    for (uint32_t p = 0; p < info->n_params; p++)
        if (!strcmp(info->params[p].name, "learning_rate")) lr = info->params[p].def_num;
    if (isnan(lr))
        note("declares no learning_rate parameter: the host passes info->lr = 0");
    int64_t dims[1] = {QUAD_N};
    soma_tensor *x = NULL, *traj = NULL, *x2 = NULL, *traj2 = NULL;
    int rc = soma_tensor_create(&x, 1, dims, x0);
    if (!rc) rc = soma_optim_run(name, x, quad_grad, &q, QUAD_STEPS, &traj);
    if (rc) {
        fail(t, "step", "%d steps on a quadratic: %s", QUAD_STEPS, last_error());
        goto done;
    }
    double f0 = quad_value(&q, x0), f = f0;
    int64_t first_bad = -1;
    for (int s = 0; s < QUAD_STEPS && first_bad < 0; s++) {
        const float *xs = soma_tensor_cdata(traj) + (size_t)s * QUAD_N;
        for (int i = 0; i < QUAD_N; i++)
            if (!isfinite(xs[i])) first_bad = s;
        if (first_bad < 0) f = quad_value(&q, xs);
    }
    if (first_bad >= 0) {
        fail(t, "descent", "a parameter became NaN or infinite at step %lld of %d on a quadratic",
             (long long)first_bad + 1, QUAD_STEPS);
        goto done;
    }
    if (!(f < f0)) {
        fail(t, "descent",
             "%d steps on sum_i a_i (x_i - c_i)^2 (%d variables) took it from %.6g to %.6g: "
             "it must decrease%s",
             QUAD_STEPS, QUAD_N, f0, f, f > 2 * f0 ? " (the optimizer diverges)" : "");
        goto done;
    }
    if ((rc = soma_tensor_create(&x2, 1, dims, x0)) ||
        (rc = soma_optim_run(name, x2, quad_grad, &q, QUAD_STEPS, &traj2))) {
        fail(t, "step", "second run: %s", last_error());
        goto done;
    }
    if (memcmp(soma_tensor_cdata(traj), soma_tensor_cdata(traj2),
               (size_t)QUAD_STEPS * QUAD_N * sizeof(float)) != 0) {
        fail(t, "deterministic", "two runs from the same start take different steps");
        goto done;
    }
    pass(t, "%d steps on sum_i a_i (x_i - c_i)^2 decrease it from %.6g to %.6g "
            "(learning_rate %g); deterministic",
         QUAD_STEPS, f0, f, isnan(lr) ? 0.0 : lr);
done:
    soma_tensor_free(x);
    soma_tensor_free(traj);
    soma_tensor_free(x2);
    soma_tensor_free(traj2);
}

/* ---- the report ----------------------------------------------------------------- */

static const char *type_name(int type) {
    switch (type) {
    case SOMA_PARAM_FLOAT: return "float";
    case SOMA_PARAM_INT: return "int";
    case SOMA_PARAM_BOOL: return "bool";
    case SOMA_PARAM_STRING: return "string";
    default: return "?";
    }
}

static void print_params(const soma_plugin_info *info) {
    if (info->n_params == 0) {
        printf("  parameters: none\n");
        return;
    }
    printf("  parameters:\n");
    for (uint32_t p = 0; p < info->n_params; p++) {
        const soma_param_spec *s = &info->params[p];
        char def[64];
        switch (s->type) {
        case SOMA_PARAM_INT: snprintf(def, sizeof def, "%.0f", s->def_num); break;
        case SOMA_PARAM_BOOL: snprintf(def, sizeof def, "%s", s->def_num ? "true" : "false"); break;
        case SOMA_PARAM_STRING:
            snprintf(def, sizeof def, "%s%s%s", s->def_str ? "\"" : "",
                     s->def_str ? s->def_str : "none", s->def_str ? "\"" : "");
            break;
        default: snprintf(def, sizeof def, "%.9g", s->def_num); break;
        }
        printf("    %-20s %-6s = %-12s %s\n", s->name, type_name(s->type), def,
               s->doc ? s->doc : "");
    }
}

static int cmd_check(int argc, char **argv) {
    if (argc < 1) return usage_error("check: FILE.so is required");
    if (argc > 1) return usage_error("check: unexpected argument '%s'", argv[1]);
    const char *file = argv[0];
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode))
        return usage_error("check: %s is a directory; give one plugin file", file);
    char real[PATH_MAX];
    if (!realpath(file, real)) {
        fprintf(stderr, "soma: plugin check: cannot open [%s]: %s\n", file, strerror(errno));
        return EXIT_FAIL;
    }
    printf("file      %s\n", real);
    // Loaded before anything else asks for a name, so its items come first
    // even where a built-in plugin has the same name.
    if (soma_plugin_load(real) != SOMA_OK) {
        printf("  FAIL  load: %s\n", last_error());
        printf("\n%s: FAILED (it does not load)\n", file);
        return EXIT_FAIL;
    }
    int n = soma_plugin_count(), items = 0;
    soma_plugin_info *infos = calloc((size_t)(n > 0 ? n : 1), sizeof *infos);
    if (!infos) {
        fprintf(stderr, "soma: out of memory\n");
        return EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        soma_plugin_info info;
        if (soma_plugin_get(i, &info) == SOMA_OK && info.path && !strcmp(info.path, real))
            infos[items++] = info;
    }
    tally t = {0};
    if (items == 0) {
        fail(&t, "load", "no items were registered from this file");
    } else {
        printf("ABI       plugin %d.%d, host %d.%d%s\n", infos[0].abi_major, infos[0].abi_minor,
               SOMA_ABI_MAJOR, SOMA_ABI_MINOR,
               infos[0].abi_minor > SOMA_ABI_MINOR
                   ? " (built against a newer minor: fields this host does not know are ignored)"
                   : "");
        pass(&t, "descriptor valid: %d item%s, names, vtables and parameter schemas accepted",
             items, items == 1 ? "" : "s");
    }
    // The items are copied: checking one may run discovery, which adds other
    // files to the registry and may reorder it.
    for (int i = 0; i < items; i++) {
        const soma_plugin_info *info = &infos[i];
        printf("\n%s '%s'%s%s\n", soma_kind_name(info->kind), info->name, info->doc ? ": " : "",
               info->doc ? info->doc : "");
        if (info->aliases && info->aliases[0]) {
            printf("  aliases:");
            for (int a = 0; info->aliases[a]; a++) printf(" %s", info->aliases[a]);
            printf("\n");
        }
        print_params(info);
        switch (info->kind) {
        case SOMA_KIND_LOSS: check_loss(info->name, &t); break;
        case SOMA_KIND_INIT: check_init(info->name, &t); break;
        case SOMA_KIND_OPTIM: check_optim(info->name, info, &t); break;
        default: fail(&t, "kind", "unknown kind %d", info->kind); break;
        }
    }
    free(infos);
    if (t.failed) {
        printf("\n%s: FAILED %d of %d checks (first: %s)\n", file, t.failed, t.passed + t.failed,
               t.first_failure);
        return EXIT_FAIL;
    }
    printf("\n%s: all %d checks passed\n", file, t.passed);
    return 0;
}

/* ==== dispatch ================================================================== */

int soma_plugin_cmd(int argc, char **argv) {
    if (argc < 1) return usage_error("missing subcommand (new or check)");
    const char *sub = argv[0];
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(sub, "new")) return cmd_new(argc - 1, argv + 1);
    if (!strcmp(sub, "check")) return cmd_check(argc - 1, argv + 1);
    return usage_error("unknown subcommand '%s' (new or check)", sub);
}
