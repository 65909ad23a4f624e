// soma — the command-line tool. Uses only the public API (soma/soma.h) and
// links the shared libsoma, so it exercises exactly what users get.
//
// Exit status: 0 success, 1 a library error ("soma: <message>"), 2 a usage
// error (message and usage on stderr).
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/soma.h"

#include "plugin_cmd.h"

#define EXIT_LIB 1
#define EXIT_USAGE 2

#define DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

static const char usage_main[] =
    "usage: soma <command> [options]\n"
    "\n"
    "Keras-style neural networks in C.\n"
    "\n"
    "commands:\n"
    "  train     train the Keras tutorial model on Fashion-MNIST and evaluate it\n"
    "  plugins   list the plugins found (initializers, losses, optimizers)\n"
    "  loss      evaluate a loss (and its gradient) on JSON arrays\n"
    "  plugin    write a new plugin (plugin new) or test a built one (plugin check)\n"
    "  activation  apply an activation (and its derivative) to a JSON array\n"
    "  init      run an initializer on a shape: the tensor, or its statistics\n"
    "  optimize  apply optimizer steps to a JSON parameter, one per --grad\n"
    "  topology  show the CPUs hwloc sees, the thread count and the binding plan\n"
    "\n"
    "options:\n"
    "  --help      show this help (soma <command> --help for a command)\n"
    "  --version   show the version\n"
    "\n"
    "environment: SOMA_PLUGIN_PATH (plugin directories, colon-separated),\n"
    "  SOMA_NUM_THREADS, SOMA_CPU, SOMA_PIN, SOMA_LOG=debug|info|warn|error\n";

static const char usage_train[] =
    "usage: soma train [options]\n"
    "\n"
    "Trains Input(784) -> Dense(128, relu, he_normal) -> Dense(64, relu, he_normal)\n"
    "-> Dense(10, softmax, glorot_uniform) on Fashion-MNIST (pixels scaled to [0, 1]),\n"
    "evaluates it on the test set and prints `test_accuracy: 0.NNNN` last.\n"
    "\n"
    "options:\n"
    "  --epochs N             epochs (default 5)\n"
    "  --batch-size B         batch size (default 32)\n"
    "  --seed S               seed for weights and shuffling (default 42)\n"
    "  --threads T            worker threads (default: automatic)\n"
    "  --data DIR             directory with train-images-idx3-ubyte.gz etc.\n"
    "                         (default " DEFAULT_DATA_DIR ")\n"
    "  --limit N              use only the first N training images\n"
    "  --validation-split F   hold out the last fraction F of the training data\n"
    "  --optimizer SPEC       optimizer spec (default \"adam\"),\n"
    "                         e.g. \"sgd(learning_rate=0.1, momentum=0.9)\"\n"
    "  --loss SPEC            loss spec (default \"sparse_categorical_crossentropy\");\n"
    "                         a loss whose name does not start with \"sparse\" gets\n"
    "                         one-hot labels\n"
    "  --verbose 0|1|2        0 silent, 1 progress bar (default), 2 one line per epoch\n"
    "  --plugin-path P        load plugin files or directories first (colon-separated)\n"
    "  --help                 show this help\n";

static const char usage_activation[] =
    "usage: soma activation NAME_OR_SPEC [key=value ...] --x JSON [--grad] [--dy JSON]\n"
    "\n"
    "Applies a Keras activation over the last axis of x and prints act(x) as JSON.\n"
    "With --grad, a second line holds dy * act'(x) (dy = ones unless --dy gives it;\n"
    "for softmax-like activations the row-wise Jacobian-vector product).\n"
    "Names: linear relu sigmoid tanh softmax log_softmax elu selu gelu softplus\n"
    "softsign silu (swish) leaky_relu hard_sigmoid hard_silu (hard_swish) exponential\n"
    "relu6 celu hard_tanh hard_shrink soft_shrink tanh_shrink log_sigmoid mish\n"
    "sparse_plus sparse_sigmoid squareplus threshold sparsemax.\n"
    "  e.g. soma activation relu max_value=6 --x '[-1, 3, 9]'\n";

static const char usage_init[] =
    "usage: soma init NAME_OR_SPEC [key=value ...] --shape A,B[,...] [--seed S] [--stats]\n"
    "\n"
    "Runs an initializer on a new tensor of that shape, with Keras' fans, as a Dense\n"
    "kernel (A, B) would get it, and prints it as JSON; --stats prints one JSON object\n"
    "with mean, std, min and max instead. --seed (default 0) picks the random stream.\n"
    "  e.g. soma init he_normal --shape 784,128 --seed 1 --stats\n";

static const char usage_optimize[] =
    "usage: soma optimize NAME_OR_SPEC [key=value ...] --param JSON --grad JSON [--grad JSON ...]\n"
    "\n"
    "Applies one optimizer step per --grad (in order, each shaped like the parameter)\n"
    "exactly as fit does (learning-rate schedule, clipping, weight decay, EMA) and\n"
    "prints the parameter after each step, one JSON array per line.\n"
    "  e.g. soma optimize adam learning_rate=0.5 --param '[1, 2]' --grad '[1, 6]'\n";

static const char usage_plugins[] =
    "usage: soma plugins [--plugin-path P]\n"
    "\n"
    "Lists every plugin found: kind, name, aliases, file, ABI and parameters with\n"
    "their types, defaults and documentation; then every file that failed to load.\n"
    "Exits non-zero when a path given with --plugin-path failed.\n"
    "\n"
    "options:\n"
    "  --plugin-path P   load plugin files or directories first (colon-separated)\n"
    "  --help            show this help\n";

static const char usage_loss[] =
    "usage: soma loss NAME_OR_SPEC [key=value ...] --y-true JSON --y-pred JSON\n"
    "                 [--sample-weight JSON] [--reduction R] [--grad]\n"
    "\n"
    "Evaluates a loss on JSON arrays (nested for rank > 1). key=value pairs are\n"
    "added to the spec: `soma loss huber delta=0.5` means \"huber(delta=0.5)\".\n"
    "\n"
    "Prints the reduced loss as a JSON number (or, for --reduction none, the\n"
    "per-row losses as a JSON array) on the first line; with --grad, the gradient\n"
    "d loss / d y_pred as a nested JSON array, shaped like y_pred, on the second.\n"
    "\n"
    "options:\n"
    "  --y-true JSON          targets, e.g. '[[0, 1], [1, 0]]'\n"
    "  --y-pred JSON          predictions, same leading shape\n"
    "  --sample-weight JSON   one weight per sample (optional)\n"
    "  --reduction R          sum_over_batch_size (default), sum or none\n"
    "  --grad                 also print the gradient\n"
    "  --plugin-path P        load plugin files or directories first (colon-separated)\n"
    "  --help                 show this help\n";

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------
static int usage_error(const char *usage, const char *fmt, ...) SOMA_PRINTF(2, 3);
static int usage_error(const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("soma: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

static int lib_error(void) {
    const char *msg = soma_last_error();
    fprintf(stderr, "soma: %s\n", msg && *msg ? msg : soma_status_name(soma_last_status()));
    return EXIT_LIB;
}

// ---------------------------------------------------------------------------
// Option parsing: "--name value" and "--name=value"; anything else is a
// positional argument; "--" ends the options.
// ---------------------------------------------------------------------------
typedef struct opt {
    const char *name;   // without the leading "--"
    int takes_value;
    const char **value; // where the value goes (takes_value)
    int *flag;          // set to 1 (no value)
} opt;

// Returns 0, or EXIT_USAGE after printing why. Positionals are collected in
// pos (capacity cap, count *npos); help is set for --help.
static int parse_opts(int argc, char **argv, const opt *opts, const char *usage,
                      const char **pos, int cap, int *npos, int *help) {
    int only_pos = 0;
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (*npos >= cap) return usage_error(usage, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            continue;
        }
        if (a[1] != '-') return usage_error(usage, "unknown option '%s'", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = NULL;
        for (const opt *p = opts; p->name; p++)
            if (strlen(p->name) == len && !strncmp(p->name, name, len)) o = p;
        if (!o) return usage_error(usage, "unknown option '--%.*s'", (int)len, name);
        if (o->takes_value) {
            if (eq) {
                *o->value = eq + 1;
            } else {
                if (i + 1 >= argc)
                    return usage_error(usage, "option '--%s' needs a value", o->name);
                *o->value = argv[++i];
            }
        } else {
            if (eq) return usage_error(usage, "option '--%s' takes no value", o->name);
            *o->flag = 1;
        }
    }
    return 0;
}

static int parse_long(const char *usage, const char *name, const char *s, long long lo,
                      long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return usage_error(usage, "--%s: '%s' is not an integer in %lld..%lld", name, s, lo,
                           hi);
    *out = v;
    return 0;
}

static int parse_u64(const char *usage, const char *name, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return usage_error(usage, "--%s: '%s' is not a non-negative integer", name, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return usage_error(usage, "--%s: '%s' is not a non-negative integer", name, s);
    *out = v;
    return 0;
}

// Loads each colon-separated entry of path; returns the number that failed
// (each reported on stderr).
static int load_plugin_path(const char *path) {
    int failed = 0;
    char *copy = strdup(path);
    if (!copy) {
        fprintf(stderr, "soma: out of memory\n");
        return 1;
    }
    for (char *save = NULL, *e = strtok_r(copy, ":", &save); e; e = strtok_r(NULL, ":", &save)) {
        if (soma_plugin_load(e) != SOMA_OK) {
            fprintf(stderr, "soma: %s\n", soma_last_error());
            failed++;
        }
    }
    free(copy);
    return failed;
}

// ---------------------------------------------------------------------------
// soma train
// ---------------------------------------------------------------------------
static int load_idx(const char *dir, const char *name, int flags, soma_tensor **out) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "soma: data path too long: %s/%s\n", dir, name);
        return EXIT_LIB;
    }
    if (soma_idx_load(path, flags, out) != SOMA_OK) return lib_error();
    return 0;
}

// A new tensor of the first n rows of t.
static int first_rows(const soma_tensor *t, int64_t n, soma_tensor **out) {
    int nd = soma_tensor_ndim(t);
    int64_t dims[SOMA_MAX_DIMS];
    for (int i = 0; i < nd && i < SOMA_MAX_DIMS; i++) dims[i] = soma_tensor_dim(t, i);
    dims[0] = n;
    return soma_tensor_create(out, nd, dims, soma_tensor_cdata(t));
}

// Integer labels (N,) → one-hot (N, classes).
static int one_hot(const soma_tensor *y, int64_t classes, soma_tensor **out) {
    int64_t n = soma_tensor_numel(y);
    int64_t dims[2] = {n, classes};
    if (soma_tensor_create(out, 2, dims, NULL) != SOMA_OK) return -1;
    const float *src = soma_tensor_cdata(y);
    float *dst = soma_tensor_data(*out);
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (int64_t)src[i];
        if (c >= 0 && c < classes) dst[i * classes + c] = 1.0f;
    }
    return 0;
}

// Spec name without parameters, lower-cased, underscores dropped: the way
// the library matches names.
static int loss_is_sparse(const char *spec) {
    char norm[64];
    size_t k = 0;
    for (const char *p = spec; *p && *p != '(' && k + 1 < sizeof norm; p++) {
        if (*p == '_' || isspace((unsigned char)*p)) continue;
        norm[k++] = (char)tolower((unsigned char)*p);
    }
    norm[k] = '\0';
    return strncmp(norm, "sparse", 6) == 0;
}

static int cmd_train(int argc, char **argv) {
    const char *epochs_s = "5", *batch_s = "32", *seed_s = "42", *threads_s = NULL;
    const char *data = DEFAULT_DATA_DIR, *limit_s = NULL, *split_s = NULL;
    const char *optimizer = "adam", *loss = "sparse_categorical_crossentropy";
    const char *verbose_s = "1", *plugin_path = NULL;
    const opt opts[] = {
        {"epochs", 1, &epochs_s, NULL},
        {"batch-size", 1, &batch_s, NULL},
        {"seed", 1, &seed_s, NULL},
        {"threads", 1, &threads_s, NULL},
        {"data", 1, &data, NULL},
        {"limit", 1, &limit_s, NULL},
        {"validation-split", 1, &split_s, NULL},
        {"optimizer", 1, &optimizer, NULL},
        {"loss", 1, &loss, NULL},
        {"verbose", 1, &verbose_s, NULL},
        {"plugin-path", 1, &plugin_path, NULL},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0, help = 0;
    int rc = parse_opts(argc, argv, opts, usage_train, pos, 0, &npos, &help);
    if (rc) return rc;
    if (help) {
        fputs(usage_train, stdout);
        return 0;
    }
    long long epochs, batch, threads = 0, limit = 0, verbose;
    uint64_t seed = 42;
    double split = 0;
    if ((rc = parse_long(usage_train, "epochs", epochs_s, 1, INT_MAX, &epochs)) ||
        (rc = parse_long(usage_train, "batch-size", batch_s, 1, INT64_MAX, &batch)) ||
        (rc = parse_u64(usage_train, "seed", seed_s, &seed)) ||
        (threads_s &&
         (rc = parse_long(usage_train, "threads", threads_s, 0, 4096, &threads))) ||
        (limit_s && (rc = parse_long(usage_train, "limit", limit_s, 1, INT64_MAX, &limit))) ||
        (rc = parse_long(usage_train, "verbose", verbose_s, 0, 2, &verbose)))
        return rc;
    if (split_s) {
        char *end;
        errno = 0;
        split = strtod(split_s, &end);
        if (errno || end == split_s || *end || !(split >= 0 && split < 1))
            return usage_error(usage_train,
                               "--validation-split: '%s' is not a number in [0, 1)", split_s);
    }

    if (plugin_path && load_plugin_path(plugin_path)) return EXIT_LIB;
    if (threads_s) soma_set_num_threads((int)threads);

    soma_tensor *xtr = NULL, *ytr = NULL, *xte = NULL, *yte = NULL, *tmp = NULL;
    soma_model *m = NULL;
    const int img = SOMA_IDX_SCALE | SOMA_IDX_FLATTEN;
    if ((rc = load_idx(data, "train-images-idx3-ubyte.gz", img, &xtr)) ||
        (rc = load_idx(data, "train-labels-idx1-ubyte.gz", 0, &ytr)) ||
        (rc = load_idx(data, "t10k-images-idx3-ubyte.gz", img, &xte)) ||
        (rc = load_idx(data, "t10k-labels-idx1-ubyte.gz", 0, &yte)))
        goto done;
    if (soma_tensor_dim(xtr, 0) != soma_tensor_dim(ytr, 0) ||
        soma_tensor_dim(xte, 0) != soma_tensor_dim(yte, 0)) {
        fprintf(stderr, "soma: images and labels in %s differ in count\n", data);
        rc = EXIT_LIB;
        goto done;
    }
    if (limit && limit < soma_tensor_dim(xtr, 0)) {
        if (first_rows(xtr, limit, &tmp) != SOMA_OK) goto lib;
        soma_tensor_free(xtr);
        xtr = tmp;
        tmp = NULL;
        if (first_rows(ytr, limit, &tmp) != SOMA_OK) goto lib;
        soma_tensor_free(ytr);
        ytr = tmp;
        tmp = NULL;
    }
    if (!loss_is_sparse(loss)) {
        if (one_hot(ytr, 10, &tmp)) goto lib;
        soma_tensor_free(ytr);
        ytr = tmp;
        tmp = NULL;
        if (one_hot(yte, 10, &tmp)) goto lib;
        soma_tensor_free(yte);
        yte = tmp;
        tmp = NULL;
    }

    const int64_t in[] = {soma_tensor_dim(xtr, 1)};
    if (soma_model_create(&m) != SOMA_OK || soma_model_set_seed(m, seed) != SOMA_OK ||
        soma_model_add_input(m, 1, in) != SOMA_OK ||
        soma_model_add_dense(m, 128, "relu", "he_normal", "zeros") != SOMA_OK ||
        soma_model_add_dense(m, 64, "relu", "he_normal", "zeros") != SOMA_OK ||
        soma_model_add_dense(m, 10, "softmax", "glorot_uniform", "zeros") != SOMA_OK ||
        soma_model_compile(m, optimizer, loss, "accuracy") != SOMA_OK ||
        soma_model_summary(m, stdout) != SOMA_OK)
        goto lib;
    fflush(stdout);

    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = (int)epochs;
    fc.batch_size = batch;
    fc.validation_split = split;
    fc.verbose = (int)verbose;
    if (soma_model_fit(m, xtr, ytr, &fc) != SOMA_OK) goto lib;

    soma_logs res;
    if (soma_model_evaluate(m, xte, yte, batch, (int)verbose, &res) != SOMA_OK) goto lib;
    double acc = soma_logs_get(&res, "accuracy", NAN);
    double test_loss = soma_logs_get(&res, "loss", NAN);
    if (isnan(acc)) {
        fprintf(stderr, "soma: evaluation reported no accuracy\n");
        rc = EXIT_LIB;
        goto done;
    }
    printf("test_loss: %.4f\n", test_loss);
    printf("test_accuracy: %.4f\n", acc);
    rc = fflush(stdout) == 0 ? 0 : EXIT_LIB;
    goto done;

lib:
    rc = lib_error();
done:
    soma_model_free(m);
    soma_tensor_free(tmp);
    soma_tensor_free(xtr);
    soma_tensor_free(ytr);
    soma_tensor_free(xte);
    soma_tensor_free(yte);
    return rc;
}

// ---------------------------------------------------------------------------
// soma plugins
// ---------------------------------------------------------------------------
static const char *param_type_name(int type) {
    switch (type) {
    case SOMA_PARAM_FLOAT: return "float";
    case SOMA_PARAM_INT: return "int";
    case SOMA_PARAM_BOOL: return "bool";
    case SOMA_PARAM_STRING: return "string";
    default: return "?";
    }
}

static void print_default(const soma_param_spec *p) {
    switch (p->type) {
    case SOMA_PARAM_FLOAT: printf("%.9g", p->def_num); break;
    case SOMA_PARAM_INT: printf("%.0f", p->def_num); break;
    case SOMA_PARAM_BOOL: printf("%s", p->def_num != 0 ? "true" : "false"); break;
    case SOMA_PARAM_STRING:
        if (p->def_str) printf("\"%s\"", p->def_str);
        else printf("none");
        break;
    default: printf("?"); break;
    }
}

static int cmd_plugins(int argc, char **argv) {
    const char *plugin_path = NULL;
    const opt opts[] = {{"plugin-path", 1, &plugin_path, NULL}, {NULL, 0, NULL, NULL}};
    const char *pos[1];
    int npos = 0, help = 0;
    int rc = parse_opts(argc, argv, opts, usage_plugins, pos, 0, &npos, &help);
    if (rc) return rc;
    if (help) {
        fputs(usage_plugins, stdout);
        return 0;
    }
    int explicit_failed = plugin_path ? load_plugin_path(plugin_path) : 0;
    if (soma_plugin_discover() != SOMA_OK) return lib_error();

    int n = soma_plugin_count();
    printf("%d plugin item%s\n", n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        soma_plugin_info info;
        if (soma_plugin_get(i, &info) != SOMA_OK) return lib_error();
        printf("\n%s %s\n", soma_kind_name(info.kind), info.name);
        if (info.aliases && info.aliases[0]) {
            printf("  aliases: ");
            for (int a = 0; info.aliases[a]; a++) printf("%s%s", a ? ", " : "", info.aliases[a]);
            printf("\n");
        }
        printf("  file:    %s\n", info.path ? info.path : "(built in)");
        printf("  abi:     %d.%d\n", info.abi_major, info.abi_minor);
        if (info.doc && *info.doc) printf("  doc:     %s\n", info.doc);
        if (info.n_params == 0) printf("  params:  none\n");
        else printf("  params:\n");
        for (uint32_t k = 0; k < info.n_params; k++) {
            const soma_param_spec *p = &info.params[k];
            printf("    %s: %s = ", p->name, param_type_name(p->type));
            print_default(p);
            if (p->doc && *p->doc) printf("  -- %s", p->doc);
            printf("\n");
        }
    }

    int nf = soma_plugin_failure_count();
    if (nf > 0) {
        printf("\n%d failed file%s\n", nf, nf == 1 ? "" : "s");
        for (int i = 0; i < nf; i++) {
            const char *path = NULL, *msg = NULL;
            if (soma_plugin_failure(i, &path, &msg) != SOMA_OK) return lib_error();
            printf("  %s: %s\n", path ? path : "?", msg ? msg : "");
        }
    }
    if (fflush(stdout) != 0) return EXIT_LIB;
    return explicit_failed ? EXIT_LIB : 0;
}

// ---------------------------------------------------------------------------
// soma loss: JSON arrays → tensors
// ---------------------------------------------------------------------------
// Appends "[i][j]..." for the first depth indices of idx to buf.
static const char *index_str(const int64_t *idx, int depth, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = '\0';
    for (int d = 0; d < depth && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "[%lld]", (long long)idx[d]);
    return buf;
}

static const char *json_kind(const cJSON *j) {
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsObject(j)) return "an object";
    return "not a number";
}

typedef struct json_tensor {
    const char *what; // "--y-true" etc.
    int ndim;
    int64_t dims[SOMA_MAX_DIMS];
    float *data;
    int64_t filled;
    int64_t idx[SOMA_MAX_DIMS];
} json_tensor;

// Walks j at depth d, checking it is an array of dims[d] items (or a number
// at the deepest level) and storing numbers in row-major order.
static int json_fill(json_tensor *jt, const cJSON *j, int d) {
    char at[160];
    if (d == jt->ndim) {
        if (!cJSON_IsNumber(j)) {
            fprintf(stderr, "soma: %s: element %s is %s, expected a number\n", jt->what,
                    index_str(jt->idx, d, at, sizeof at), json_kind(j));
            return EXIT_USAGE;
        }
        double v = j->valuedouble;
        float f = (float)v;
        if (!isfinite(f)) {
            fprintf(stderr, "soma: %s: element %s (%g) is not a finite float32\n", jt->what,
                    index_str(jt->idx, d, at, sizeof at), v);
            return EXIT_USAGE;
        }
        jt->data[jt->filled++] = f;
        return 0;
    }
    if (!cJSON_IsArray(j)) {
        fprintf(stderr, "soma: %s: ragged array: element %s is %s, expected an array of %lld\n",
                jt->what, index_str(jt->idx, d, at, sizeof at), json_kind(j),
                (long long)jt->dims[d]);
        return EXIT_USAGE;
    }
    int64_t n = cJSON_GetArraySize(j);
    if (n != jt->dims[d]) {
        fprintf(stderr,
                "soma: %s: ragged array: element %s has %lld item%s, expected %lld (as in "
                "the first row)\n",
                jt->what, d ? index_str(jt->idx, d, at, sizeof at) : "(top level)",
                (long long)n, n == 1 ? "" : "s", (long long)jt->dims[d]);
        return EXIT_USAGE;
    }
    int64_t i = 0;
    for (const cJSON *c = j->child; c; c = c->next, i++) {
        jt->idx[d] = i;
        int rc = json_fill(jt, c, d + 1);
        if (rc) return rc;
    }
    return 0;
}

// Parses text into a new tensor; the shape comes from the first element at
// each depth and every other element must agree.
static int json_tensor_parse(const char *what, const char *text, soma_tensor **out) {
    *out = NULL;
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        if (e && *e)
            fprintf(stderr, "soma: %s: invalid JSON at offset %lld: near '%.20s'\n", what,
                    (long long)(e - text), e);
        else
            fprintf(stderr, "soma: %s: invalid JSON: '%s'\n", what, text);
        return EXIT_USAGE;
    }
    json_tensor jt = {.what = what};
    const cJSON *j = root;
    while (cJSON_IsArray(j)) {
        if (jt.ndim == SOMA_MAX_DIMS) {
            fprintf(stderr, "soma: %s: arrays nested deeper than %d\n", what, SOMA_MAX_DIMS);
            cJSON_Delete(root);
            return EXIT_USAGE;
        }
        int64_t n = cJSON_GetArraySize(j);
        if (n == 0) {
            fprintf(stderr, "soma: %s: empty array at depth %d\n", what, jt.ndim);
            cJSON_Delete(root);
            return EXIT_USAGE;
        }
        jt.dims[jt.ndim++] = n;
        j = j->child;
    }
    int rc = 0;
    int64_t numel = 1;
    for (int d = 0; d < jt.ndim; d++) numel *= jt.dims[d];
    jt.data = malloc((size_t)numel * sizeof(float));
    if (!jt.data) {
        fprintf(stderr, "soma: %s: out of memory\n", what);
        cJSON_Delete(root);
        return EXIT_LIB;
    }
    rc = json_fill(&jt, root, 0);
    if (!rc && soma_tensor_create(out, jt.ndim, jt.dims, jt.data) != SOMA_OK)
        rc = lib_error();
    free(jt.data);
    cJSON_Delete(root);
    return rc;
}

static void print_num(double v) {
    // JSON has no NaN or Infinity; use the spelling Python's json module reads.
    if (isnan(v)) printf("NaN");
    else if (isinf(v)) printf(v > 0 ? "Infinity" : "-Infinity");
    else printf("%.9g", v);
}

static void print_json_rec(const float *x, const soma_tensor *t, int d, int64_t *off) {
    int nd = soma_tensor_ndim(t);
    if (d == nd) {
        print_num(x[(*off)++]);
        return;
    }
    int64_t n = soma_tensor_dim(t, d);
    putchar('[');
    for (int64_t i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        print_json_rec(x, t, d + 1, off);
    }
    putchar(']');
}

static void print_json_tensor(const soma_tensor *t) {
    int64_t off = 0;
    print_json_rec(soma_tensor_cdata(t), t, 0, &off);
    putchar('\n');
}

// "name" + ["k=v", ...] → "name(k=v, ...)"; merges into an existing
// "name(a=1)" as "name(a=1, k=v)". Returns a malloc'd string or NULL.
static char *build_spec(const char *base, const char **kv, int nkv) {
    size_t len = strlen(base) + 3;
    for (int i = 0; i < nkv; i++) len += strlen(kv[i]) + 2;
    char *s = malloc(len);
    if (!s) return NULL;
    strcpy(s, base);
    if (nkv == 0) return s;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    int has_params = 0;
    if (n && s[n - 1] == ')') {
        s[--n] = '\0';
        // "name()" has no parameters to separate from.
        has_params = !(n && s[n - 1] == '(');
    } else {
        s[n++] = '(';
        s[n] = '\0';
    }
    for (int i = 0; i < nkv; i++) {
        if (has_params || i) strcat(s, ", ");
        strcat(s, kv[i]);
    }
    strcat(s, ")");
    return s;
}

static int cmd_loss(int argc, char **argv) {
    const char *y_true_s = NULL, *y_pred_s = NULL, *sw_s = NULL;
    const char *reduction = "sum_over_batch_size", *plugin_path = NULL;
    int want_grad = 0;
    const opt opts[] = {
        {"y-true", 1, &y_true_s, NULL},
        {"y-pred", 1, &y_pred_s, NULL},
        {"sample-weight", 1, &sw_s, NULL},
        {"reduction", 1, &reduction, NULL},
        {"grad", 0, NULL, &want_grad},
        {"plugin-path", 1, &plugin_path, NULL},
        {NULL, 0, NULL, NULL},
    };
    enum { MAX_POS = 64 };
    const char *pos[MAX_POS];
    int npos = 0, help = 0;
    int rc = parse_opts(argc, argv, opts, usage_loss, pos, MAX_POS, &npos, &help);
    if (rc) return rc;
    if (help) {
        fputs(usage_loss, stdout);
        return 0;
    }
    if (npos == 0) return usage_error(usage_loss, "loss: missing NAME_OR_SPEC");
    for (int i = 1; i < npos; i++) {
        const char *eq = strchr(pos[i], '=');
        if (!eq || eq == pos[i] || !eq[1])
            return usage_error(usage_loss, "loss: '%s' is not key=value", pos[i]);
    }
    if (!y_true_s) return usage_error(usage_loss, "loss: --y-true is required");
    if (!y_pred_s) return usage_error(usage_loss, "loss: --y-pred is required");

    if (plugin_path && load_plugin_path(plugin_path)) return EXIT_LIB;

    char *spec = build_spec(pos[0], pos + 1, npos - 1);
    soma_tensor *yt = NULL, *yp = NULL, *sw = NULL, *values = NULL, *grad = NULL;
    if (!spec) {
        fprintf(stderr, "soma: out of memory\n");
        return EXIT_LIB;
    }
    if ((rc = json_tensor_parse("--y-true", y_true_s, &yt)) ||
        (rc = json_tensor_parse("--y-pred", y_pred_s, &yp)) ||
        (sw_s && (rc = json_tensor_parse("--sample-weight", sw_s, &sw))))
        goto done;

    int none = strcmp(reduction, "none") == 0;
    double value = NAN;
    if (soma_loss_eval(spec, reduction, yt, yp, sw, &value, none ? &values : NULL,
                       want_grad ? &grad : NULL) != SOMA_OK) {
        rc = lib_error();
        goto done;
    }
    if (none) {
        if (!values) {
            fprintf(stderr, "soma: loss '%s' returned no per-row values\n", spec);
            rc = EXIT_LIB;
            goto done;
        }
        print_json_tensor(values);
    } else {
        print_num(value);
        putchar('\n');
    }
    if (want_grad) {
        if (!grad) {
            fprintf(stderr, "soma: loss '%s' returned no gradient\n", spec);
            rc = EXIT_LIB;
            goto done;
        }
        print_json_tensor(grad);
    }
    rc = fflush(stdout) == 0 ? 0 : EXIT_LIB;
done:
    soma_tensor_free(yt);
    soma_tensor_free(yp);
    soma_tensor_free(sw);
    soma_tensor_free(values);
    soma_tensor_free(grad);
    free(spec);
    return rc;
}

// key=value positionals after the name → a spec; returns NULL after printing why.
static char *spec_from_args(const char *usage, const char *cmd, const char **pos, int npos) {
    if (npos == 0) {
        usage_error(usage, "%s: missing NAME_OR_SPEC", cmd);
        return NULL;
    }
    for (int i = 1; i < npos; i++) {
        const char *eq = strchr(pos[i], '=');
        if (!eq || eq == pos[i] || !eq[1]) {
            usage_error(usage, "%s: '%s' is not key=value", cmd, pos[i]);
            return NULL;
        }
    }
    char *spec = build_spec(pos[0], pos + 1, npos - 1);
    if (!spec) fprintf(stderr, "soma: out of memory\n");
    return spec;
}

static int cmd_activation(int argc, char **argv) {
    const char *x_s = NULL, *dy_s = NULL;
    int want_grad = 0;
    const opt opts[] = {
        {"x", 1, &x_s, NULL},
        {"dy", 1, &dy_s, NULL},
        {"grad", 0, NULL, &want_grad},
        {NULL, 0, NULL, NULL},
    };
    enum { MAX_POS = 64 };
    const char *pos[MAX_POS];
    int npos = 0, help = 0;
    int rc = parse_opts(argc, argv, opts, usage_activation, pos, MAX_POS, &npos, &help);
    if (rc) return rc;
    if (help) {
        fputs(usage_activation, stdout);
        return 0;
    }
    if (!x_s) return usage_error(usage_activation, "activation: --x is required");
    if (dy_s) want_grad = 1;
    char *spec = spec_from_args(usage_activation, "activation", pos, npos);
    if (!spec) return npos ? EXIT_LIB : EXIT_USAGE;
    soma_tensor *x = NULL, *dy = NULL, *y = NULL, *dx = NULL;
    if ((rc = json_tensor_parse("--x", x_s, &x)) || (dy_s && (rc = json_tensor_parse("--dy", dy_s, &dy))))
        goto done;
    if (want_grad && !dy) {
        int64_t dims[SOMA_MAX_DIMS];
        for (int i = 0; i < soma_tensor_ndim(x); i++) dims[i] = soma_tensor_dim(x, i);
        if (soma_tensor_create(&dy, soma_tensor_ndim(x), dims, NULL) != SOMA_OK) {
            rc = lib_error();
            goto done;
        }
        float *d = soma_tensor_data(dy);
        for (int64_t i = 0; i < soma_tensor_numel(dy); i++) d[i] = 1.0f;
    }
    if (soma_activation_eval(spec, x, &y, want_grad ? dy : NULL, want_grad ? &dx : NULL) != SOMA_OK) {
        rc = lib_error();
        goto done;
    }
    print_json_tensor(y);
    if (want_grad) print_json_tensor(dx);
    rc = fflush(stdout) == 0 ? 0 : EXIT_LIB;
done:
    soma_tensor_free(x);
    soma_tensor_free(dy);
    soma_tensor_free(y);
    soma_tensor_free(dx);
    free(spec);
    return rc;
}

static int cmd_init(int argc, char **argv) {
    const char *shape_s = NULL, *seed_s = "0";
    int want_stats = 0;
    const opt opts[] = {
        {"shape", 1, &shape_s, NULL},
        {"seed", 1, &seed_s, NULL},
        {"stats", 0, NULL, &want_stats},
        {NULL, 0, NULL, NULL},
    };
    enum { MAX_POS = 64 };
    const char *pos[MAX_POS];
    int npos = 0, help = 0;
    int rc = parse_opts(argc, argv, opts, usage_init, pos, MAX_POS, &npos, &help);
    if (rc) return rc;
    if (help) {
        fputs(usage_init, stdout);
        return 0;
    }
    if (!shape_s) return usage_error(usage_init, "init: --shape is required");
    uint64_t seed;
    if ((rc = parse_u64(usage_init, "seed", seed_s, &seed))) return rc;
    int64_t dims[SOMA_MAX_DIMS];
    int ndim = 0;
    for (const char *p = shape_s; *p;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || ndim == SOMA_MAX_DIMS || (*end && *end != ','))
            return usage_error(usage_init, "init: --shape '%s' is not a list like 784,128 (at most %d "
                               "non-negative sizes)", shape_s, SOMA_MAX_DIMS);
        dims[ndim++] = v;
        p = *end ? end + 1 : end;
    }
    char *spec = spec_from_args(usage_init, "init", pos, npos);
    if (!spec) return npos ? EXIT_LIB : EXIT_USAGE;
    soma_tensor *t = NULL;
    if (soma_init_eval(spec, seed, ndim, dims, &t) != SOMA_OK) {
        rc = lib_error();
    } else if (want_stats) {
        const float *d = soma_tensor_cdata(t);
        int64_t n = soma_tensor_numel(t);
        double sum = 0, sq = 0, mn = n ? d[0] : NAN, mx = n ? d[0] : NAN;
        for (int64_t i = 0; i < n; i++) {
            sum += d[i];
            mn = fmin(mn, d[i]);
            mx = fmax(mx, d[i]);
        }
        double mean = n ? sum / (double)n : NAN;
        for (int64_t i = 0; i < n; i++) sq += (d[i] - mean) * (d[i] - mean);
        printf("{\"mean\": ");
        print_num(mean);
        printf(", \"std\": ");
        print_num(n ? sqrt(sq / (double)n) : NAN);
        printf(", \"min\": ");
        print_num(mn);
        printf(", \"max\": ");
        print_num(mx);
        printf(", \"count\": %lld}\n", (long long)n);
        rc = fflush(stdout) == 0 ? 0 : EXIT_LIB;
    } else {
        print_json_tensor(t);
        rc = fflush(stdout) == 0 ? 0 : EXIT_LIB;
    }
    soma_tensor_free(t);
    free(spec);
    return rc;
}

static int cmd_optimize(int argc, char **argv) {
    // --grad repeats, so it is taken out before the ordinary option parsing.
    enum { MAX_STEPS = 4096, MAX_POS = 64 };
    const char **grads_s = malloc(sizeof(char *) * MAX_STEPS);
    char **rest = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!grads_s || !rest) {
        free(grads_s);
        free(rest);
        fprintf(stderr, "soma: out of memory\n");
        return EXIT_LIB;
    }
    int nsteps = 0, nrest = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--grad") || !strncmp(argv[i], "--grad=", 7)) {
            const char *v = argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                rc = usage_error(usage_optimize, "option '--grad' needs a value");
                break;
            }
            if (nsteps == MAX_STEPS) {
                rc = usage_error(usage_optimize, "optimize: at most %d --grad", MAX_STEPS);
                break;
            }
            grads_s[nsteps++] = v;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    const char *param_s = NULL;
    const opt opts[] = {
        {"param", 1, &param_s, NULL},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[MAX_POS];
    int npos = 0, help = 0;
    char *spec = NULL;
    soma_tensor *param = NULL, *traj = NULL, **grads = NULL;
    if (rc || (rc = parse_opts(nrest, rest, opts, usage_optimize, pos, MAX_POS, &npos, &help))) goto done;
    if (help) {
        fputs(usage_optimize, stdout);
        goto done;
    }
    if (!param_s) {
        rc = usage_error(usage_optimize, "optimize: --param is required");
        goto done;
    }
    if (nsteps == 0) {
        rc = usage_error(usage_optimize, "optimize: at least one --grad is required");
        goto done;
    }
    if (!(spec = spec_from_args(usage_optimize, "optimize", pos, npos))) {
        rc = npos ? EXIT_LIB : EXIT_USAGE;
        goto done;
    }
    if ((rc = json_tensor_parse("--param", param_s, &param))) goto done;
    grads = calloc((size_t)nsteps, sizeof *grads);
    if (!grads) {
        fprintf(stderr, "soma: out of memory\n");
        rc = EXIT_LIB;
        goto done;
    }
    for (int i = 0; i < nsteps; i++) {
        char what[32];
        snprintf(what, sizeof what, "--grad #%d", i + 1);
        if ((rc = json_tensor_parse(what, grads_s[i], &grads[i]))) goto done;
    }
    if (soma_optim_eval(spec, param, (const soma_tensor *const *)grads, nsteps, &traj) != SOMA_OK) {
        rc = lib_error();
        goto done;
    }
    // One line per step: the trajectory row reshaped like the parameter.
    {
        int nd = soma_tensor_ndim(param);
        int64_t dims[SOMA_MAX_DIMS], numel = soma_tensor_numel(param);
        for (int d = 0; d < nd; d++) dims[d] = soma_tensor_dim(param, d);
        for (int st = 0; st < nsteps; st++) {
            soma_tensor *row;
            if (soma_tensor_create(&row, nd, dims, soma_tensor_cdata(traj) + (int64_t)st * numel) != SOMA_OK) {
                rc = lib_error();
                goto done;
            }
            print_json_tensor(row);
            soma_tensor_free(row);
        }
    }
    rc = fflush(stdout) == 0 ? 0 : EXIT_LIB;
done:
    for (int i = 0; grads && i < nsteps; i++) soma_tensor_free(grads[i]);
    free(grads);
    soma_tensor_free(param);
    soma_tensor_free(traj);
    free(spec);
    free(grads_s);
    free(rest);
    return rc;
}

// ---------------------------------------------------------------------------
// soma topology: what hwloc sees and how soma will use it (no options but --help).
static int cmd_topology(int argc, char **argv) {
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        puts("usage: soma topology\n\n"
             "Prints the packages, cores, PUs and caches hwloc sees of the CPUs this\n"
             "process may use, its affinity mask and cgroup CPU quota, the thread count\n"
             "and the rule that chose it, whether workers are pinned, and the binding plan.\n"
             "Honours SOMA_NUM_THREADS and SOMA_PIN like every other command.");
        return 0;
    }
    if (argc > 0) return usage_error(usage_main, "topology: unexpected argument '%s'", argv[0]);
    int n = soma_topology_describe(NULL, 0);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!text || soma_topology_describe(text, (size_t)n + 1) < 0) {
        free(text);
        fprintf(stderr, "soma: %s\n", n < 0 ? soma_last_error() : "out of memory");
        return EXIT_LIB;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage_error(usage_main, "missing command");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("soma %d.%d.%d (plugin ABI %d.%d)\n", SOMA_VERSION_MAJOR, SOMA_VERSION_MINOR,
               SOMA_VERSION_PATCH, SOMA_ABI_MAJOR, SOMA_ABI_MINOR);
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "plugins")) return cmd_plugins(argc - 2, argv + 2);
    if (!strcmp(cmd, "loss")) return cmd_loss(argc - 2, argv + 2);
    if (!strcmp(cmd, "plugin")) return soma_plugin_cmd(argc - 2, argv + 2);
    if (!strcmp(cmd, "activation")) return cmd_activation(argc - 2, argv + 2);
    if (!strcmp(cmd, "init")) return cmd_init(argc - 2, argv + 2);
    if (!strcmp(cmd, "optimize")) return cmd_optimize(argc - 2, argv + 2);
    if (!strcmp(cmd, "topology")) return cmd_topology(argc - 2, argv + 2);
    if (cmd[0] == '-') return usage_error(usage_main, "unknown option '%s'", cmd);
    return usage_error(usage_main, "unknown command '%s'", cmd);
}
