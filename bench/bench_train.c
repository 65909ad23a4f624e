// Training and inference speed of the Keras tutorial model on Fashion-MNIST,
// soma's side of the comparison with Keras 3 (train_keras.py) and PyTorch
// (train_torch.py); tools/bench-train runs all three and prints the table
// (bench/README.md, "Training and inference against Keras and PyTorch").
//
// Model: Input 784 → Dense 128 relu he_normal → Dense 64 relu he_normal →
// Dense 10 softmax glorot_uniform; adam (lr 0.001, eps 1e-7);
// sparse_categorical_crossentropy; accuracy. Data: the IDX files of
// Fashion-MNIST, scaled to [0, 1] and flattened.
//
//   bench_train [--data DIR] [--epochs N] [--batch 32,128,256] [--threads 1,2]
//               [--infer] [--infer-batch 1,32,1000] [--seed S] [--min-time S]
//   bench_train --probe [--batch B --threads T]
//
// For every thread count and batch size: train --epochs epochs on the 60k
// training images from fresh weights, then measure test accuracy on the 10k
// test images. With --infer, after the last batch size of a thread count,
// images/s of soma_model_predict on the test set at each --infer-batch.
// Multi-threaded training runs also record the core-to-core round trip just
// before and after ("core_rtt_us", load.h), since where the host put the two
// CPUs can change from one minute to the next; --probe measures only that
// ("kind": "probe", tagged with --batch/--threads when given) and exits, for
// tools/bench-train to take before the other frameworks' runs.
// stdout: one JSON object per line ("kind": "train", "infer" or "probe");
// stderr: the same in words. Only the public API (soma/soma.h) is used.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <soma/soma.h>

#include "load.h"

enum { MAX_LIST = 16, MAX_EPOCHS = 1000 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    if (n <= 0) return 0;
    double s[MAX_EPOCHS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// ---- options ----------------------------------------------------------------------
typedef struct options {
    const char *data;
    int epochs;
    int64_t batch[MAX_LIST];
    int nbatch;
    int threads[MAX_LIST];
    int nthreads;
    int infer, probe;
    int64_t infer_batch[MAX_LIST];
    int ninfer;
    uint64_t seed;
    double min_time;
} options;

static int parse_list(const char *s, int64_t *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v <= 0 || n == max) return -1;
        out[n++] = v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

static void usage(FILE *f) {
    fputs("usage: bench_train [--data DIR] [--epochs N] [--batch 32,128,256] [--threads 1,2]\n"
          "                   [--infer] [--infer-batch 1,32,1000] [--seed S] [--min-time S]\n"
          "       bench_train --probe [--batch B --threads T]   (core-to-core round trip only)\n",
          f);
}

static int parse_args(int argc, char **argv, options *o) {
    int64_t tmp[MAX_LIST];
    *o = (options){.data = "/usr/share/datasets/fashion-mnist", .epochs = 10, .nbatch = 3,
                   .batch = {32, 128, 256}, .nthreads = 2, .threads = {1, 2}, .ninfer = 3,
                   .infer_batch = {1, 32, 1000}, .seed = 1, .min_time = 0.5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--infer")) {
            o->infer = 1;
            continue;
        }
        if (!strcmp(a, "--probe")) {
            o->probe = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "bench_train: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "--epochs")) {
            o->epochs = atoi(v);
            if (o->epochs < 0 || o->epochs > MAX_EPOCHS) goto bad;
        } else if (!strcmp(a, "--batch")) {
            if ((o->nbatch = parse_list(v, o->batch, MAX_LIST)) <= 0) goto bad;
        } else if (!strcmp(a, "--threads")) {
            if ((o->nthreads = parse_list(v, tmp, MAX_LIST)) <= 0) goto bad;
            for (int k = 0; k < o->nthreads; k++) o->threads[k] = (int)tmp[k];
        } else if (!strcmp(a, "--infer-batch")) {
            if ((o->ninfer = parse_list(v, o->infer_batch, MAX_LIST)) <= 0) goto bad;
        } else if (!strcmp(a, "--seed")) {
            o->seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--min-time")) {
            o->min_time = atof(v);
        } else {
            fprintf(stderr, "bench_train: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "bench_train: bad value '%s' for %s\n", v, a);
        return -1;
    }
    return 0;
}

// ---- the model ----------------------------------------------------------------------
#define CHECK(what, call)                                                                   \
    do {                                                                                    \
        if ((call) != SOMA_OK) {                                                            \
            fprintf(stderr, "bench_train: %s: %s\n", what, soma_last_error());              \
            return -1;                                                                      \
        }                                                                                   \
    } while (0)

static int make_model(soma_model **out, uint64_t seed) {
    soma_model *m;
    int64_t in[1] = {784};
    CHECK("model", soma_model_create(&m));
    *out = m;
    CHECK("seed", soma_model_set_seed(m, seed));
    CHECK("input", soma_model_add_input(m, 1, in));
    CHECK("dense 1", soma_model_add_dense(m, 128, "relu", "he_normal", "zeros"));
    CHECK("dense 2", soma_model_add_dense(m, 64, "relu", "he_normal", "zeros"));
    CHECK("dense 3", soma_model_add_dense(m, 10, "softmax", "glorot_uniform", "zeros"));
    CHECK("compile", soma_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"));
    return 0;
}

// Epoch ends as fit reports them; the first epoch starts just before fit, so
// it carries fit's one-time planning, which is why the median skips it.
typedef struct epoch_clock {
    double start;
    double end[MAX_EPOCHS];
    int n;
} epoch_clock;

static int on_fit_event(void *user, int event, int epoch, int64_t step, const soma_logs *logs) {
    (void)epoch, (void)step, (void)logs;
    epoch_clock *c = user;
    if (event == SOMA_FIT_EPOCH_END && c->n < MAX_EPOCHS) c->end[c->n++] = now_s();
    return 0;
}

static int train_one(const options *o, const soma_tensor *xtr, const soma_tensor *ytr,
                     const soma_tensor *xte, const soma_tensor *yte, int threads, int64_t batch,
                     soma_model **model_out) {
    soma_model *m = NULL;
    if (make_model(&m, o->seed)) {
        soma_model_free(m);
        return -1;
    }
    *model_out = m;
    int64_t n = soma_tensor_dim(xtr, 0), steps = (n + batch - 1) / batch;

    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = o->epochs;
    fc.batch_size = batch;
    fc.verbose = 0;
    static epoch_clock clock; // 8 KB: off the stack
    memset(&clock, 0, sizeof clock);
    fc.callback = on_fit_event;
    fc.callback_user = &clock;

    const double rtt0 = threads > 1 ? bench_core_rtt_us() : -1;
    bench_jiffies j0 = bench_jiffies_now();
    clock.start = now_s();
    CHECK("fit", soma_model_fit(m, xtr, ytr, &fc));
    double total = now_s() - clock.start;
    bench_load ld = bench_load_between(j0, bench_jiffies_now());
    const double rtt1 = threads > 1 ? bench_core_rtt_us() : -1;

    double epoch_s[MAX_EPOCHS];
    for (int e = 0; e < clock.n; e++) epoch_s[e] = clock.end[e] - (e ? clock.end[e - 1] : clock.start);
    double med = clock.n > 1 ? median(epoch_s + 1, clock.n - 1) : epoch_s[0];

    soma_fit_timings t;
    CHECK("fit timings", soma_model_fit_timings(m, &t));
    double per = t.steps > 0 ? 1e6 / (double)t.steps : 0;
    double split_sum = t.data_s + t.forward_s + t.loss_s + t.backward_s + t.optimizer_s;
    // Everything fit spent outside the five phases (logs, the callback,
    // shuffling, planning), per step over the whole fit.
    double other_us = t.steps > 0 ? (total - split_sum) * per : 0;

    soma_logs ev;
    CHECK("evaluate", soma_model_evaluate(m, xte, yte, 1000, 0, &ev));
    double acc = soma_logs_get(&ev, "accuracy", -1), tloss = soma_logs_get(&ev, "loss", -1);
    const soma_logs *last = soma_model_history_length(m) > 0
                                ? soma_model_history(m, soma_model_history_length(m) - 1)
                                : NULL;
    double train_loss = last ? soma_logs_get(last, "loss", -1) : -1;
    double train_acc = last ? soma_logs_get(last, "accuracy", -1) : -1;

    printf("{\"framework\":\"soma\",\"kind\":\"train\",\"variant\":\"fit\",\"batch\":%lld,"
           "\"threads\":%d,\"threads_reported\":%d,\"epochs\":%d,\"steps_per_epoch\":%lld,"
           "\"epoch_s\":[",
           (long long)batch, threads, soma_get_num_threads(), clock.n, (long long)steps);
    for (int e = 0; e < clock.n; e++) printf("%s%.6f", e ? "," : "", epoch_s[e]);
    printf("],\"epoch_median_s\":%.6f,\"first_epoch_s\":%.6f,\"fit_s\":%.6f,"
           "\"us_per_step\":%.3f,\"split_us\":{\"data\":%.3f,\"forward\":%.3f,\"loss\":%.3f,"
           "\"backward\":%.3f,\"optimizer\":%.3f,\"other\":%.3f},"
           "\"test_accuracy\":%.6f,\"test_loss\":%.6f,\"train_loss\":%.6f,\"train_accuracy\":%.6f,"
           "\"busy_cpus\":%.3f,\"cpu_per_wall\":%.3f,\"core_rtt_us\":[%.3f,%.3f],\"seed\":%llu}\n",
           med, clock.n ? epoch_s[0] : 0.0, total, med * 1e6 / (double)steps, t.data_s * per,
           t.forward_s * per, t.loss_s * per, t.backward_s * per, t.optimizer_s * per, other_us,
           acc, tloss, train_loss, train_acc, ld.busy, ld.cpu_per_wall, rtt0, rtt1,
           (unsigned long long)o->seed);
    fflush(stdout);
    fprintf(stderr,
            "soma  batch %4lld threads %d: epoch %.3f s (median of %d after the first; first "
            "%.3f s), %.1f us/step = data %.1f + fwd %.1f + loss %.1f + bwd %.1f + opt %.1f + "
            "other %.1f; test acc %.4f; busy %.2f CPU, cpu/wall %.2f",
            (long long)batch, threads, med, clock.n > 1 ? clock.n - 1 : clock.n,
            clock.n ? epoch_s[0] : 0.0, med * 1e6 / (double)steps, t.data_s * per,
            t.forward_s * per, t.loss_s * per, t.backward_s * per, t.optimizer_s * per, other_us,
            acc, ld.busy, ld.cpu_per_wall);
    if (threads > 1) fprintf(stderr, "; core-to-core %.2f/%.2f us", rtt0, rtt1);
    fputc('\n', stderr);
    return 0;
}

// images/s of predict over the test set: one untimed pass, then passes until
// min_time has gone by (at least 3), the median pass reported. A pass too
// slow for the budget would run on a prefix (never happens for soma; the
// comparator scripts share the rule, and record "images" when they use it).
static int infer(const options *o, soma_model *m, const soma_tensor *xte, int threads) {
    int64_t n = soma_tensor_dim(xte, 0);
    printf("{\"framework\":\"soma\",\"kind\":\"infer\",\"variant\":\"predict\",\"threads\":%d,"
           "\"images\":%lld,\"results\":[",
           threads, (long long)n);
    fprintf(stderr, "soma  inference threads %d:", threads);
    for (int b = 0; b < o->ninfer; b++) {
        int64_t batch = o->infer_batch[b];
        soma_tensor *p = NULL;
        CHECK("predict", soma_model_predict(m, xte, batch, &p));
        soma_tensor_free(p);
        double pass[64];
        int np = 0;
        bench_jiffies j0 = bench_jiffies_now();
        double start = now_s();
        while (np < 64 && (np < 3 || now_s() - start < o->min_time)) {
            double t0 = now_s();
            CHECK("predict", soma_model_predict(m, xte, batch, &p));
            pass[np++] = now_s() - t0;
            soma_tensor_free(p);
        }
        bench_load ld = bench_load_between(j0, bench_jiffies_now());
        double ips = (double)n / median(pass, np);
        printf("%s{\"batch\":%lld,\"images_per_s\":%.1f,\"passes\":%d,\"busy_cpus\":%.3f,"
               "\"cpu_per_wall\":%.3f}",
               b ? "," : "", (long long)batch, ips, np, ld.busy, ld.cpu_per_wall);
        fprintf(stderr, " batch %lld %.0f img/s (busy %.2f);", (long long)batch, ips, ld.busy);
    }
    printf("]}\n");
    fflush(stdout);
    fputc('\n', stderr);
    return 0;
}

static int load_data(const options *o, const char *name, int flags, soma_tensor **t) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->data, name);
    if (soma_idx_load(path, flags, t) != SOMA_OK) {
        fprintf(stderr, "bench_train: %s\n", soma_last_error());
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o)) return 2;
    if (o.probe) {
        const double us = bench_core_rtt_us();
        printf("{\"framework\":\"soma\",\"kind\":\"probe\",\"batch\":%lld,\"threads\":%d,"
               "\"core_rtt_us\":%.3f}\n",
               o.nbatch == 1 ? (long long)o.batch[0] : 0LL, o.nthreads == 1 ? o.threads[0] : 0, us);
        if (us < 0) fputs("core-to-core round trip: not measured (one CPU, or the other busy)\n", stderr);
        else fprintf(stderr, "core-to-core round trip: %.3f us\n", us);
        return 0;
    }
    soma_tensor *xtr = NULL, *ytr = NULL, *xte = NULL, *yte = NULL;
    const int img = SOMA_IDX_SCALE | SOMA_IDX_FLATTEN;
    if (load_data(&o, "train-images-idx3-ubyte.gz", img, &xtr) ||
        load_data(&o, "train-labels-idx1-ubyte.gz", 0, &ytr) ||
        load_data(&o, "t10k-images-idx3-ubyte.gz", img, &xte) ||
        load_data(&o, "t10k-labels-idx1-ubyte.gz", 0, &yte))
        return 1;

    int rc = 0;
    for (int ti = 0; ti < o.nthreads && !rc; ti++) {
        int threads = o.threads[ti];
        soma_set_num_threads(threads);
        soma_model *m = NULL;
        for (int bi = 0; bi < o.nbatch && !rc; bi++) {
            soma_model_free(m);
            m = NULL;
            if (o.epochs > 0) rc = train_one(&o, xtr, ytr, xte, yte, threads, o.batch[bi], &m);
        }
        // Inference speed does not depend on what the weights learnt; with
        // --epochs 0 it runs on freshly initialised ones.
        if (!rc && o.infer && !m && make_model(&m, o.seed)) rc = -1;
        if (!rc && o.infer) rc = infer(&o, m, xte, threads);
        soma_model_free(m);
    }
    soma_tensor_free(xtr);
    soma_tensor_free(ytr);
    soma_tensor_free(xte);
    soma_tensor_free(yte);
    return rc ? 1 : 0;
}
