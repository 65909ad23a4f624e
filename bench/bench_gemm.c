// soma_sgemm against OpenBLAS, BLIS and oneDNN in one run, 1 and 2 threads:
// square 64…2048, odd 257/1000/1023 and the eight GEMMs of one training step
// of the 784-128-64-10 model at batch 1, 32, 128, 256. tools/bench drives it
// and turns its JSON into the comparison table (bench/README.md).
//
// Benchmark names: sgemm/<group>:<label>/<TT>/<m>x<n>x<k>/<lib>/t<threads>,
// e.g. sgemm/step:b128.L1.dW/TN/784x128x128/openblas/t2. Libraries of one
// shape run back to back so that host noise drifting over the run hits all of
// them alike.
//
// Environment:
//   SOMA_BENCH_SET=full|quick   shapes (default full)
//   SOMA_BENCH_LIBS=soma,openblas,blis,onednn   which implementations
//   SOMA_BENCH_THREADS=1,2      thread counts
//   SOMA_BENCH_CHECK=0          skip the start-up self-check
//   SOMA_BENCH_ROUNDS=1         rounds in this process: with R > 1 every
//                               shape and thread count runs each library R
//                               times, the libraries taking turns (their order
//                               reversed every other round), so each round's
//                               libraries ran within a fraction of a second of
//                               each other (bench/README.md, "interleaved")
//   SOMA_BENCH_SETTLE_MS=500    longest wait, after a multi-threaded benchmark,
//                               for the library's idle workers to stop
//                               spinning (bench_settle, load.h)
//   SOMA_BENCH_INFO=path        also write the library/self-check lines there
//                               (and the FMA peak line report.py reads)
//   SOMA_BENCH_OPENBLAS / _BLIS / _ONEDNN = path of the library to open
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "compare.h"
#include "cpu/cpu.h"
#include "harness.h"
#include "load.h"
#include "peak.h"

typedef struct shape {
    char group[8];
    char label[24];
    int ta, tb;
    int64_t m, n, k;
} shape;

typedef struct gemm_bench {
    char name[112];
    const shape *sh;
    bench_lib *lib;
    int threads;
    double wall_s, foreign_cpu_s; // timed loops only, summed over all runs
} gemm_bench;

enum { MAX_SHAPES = 64, MAX_THREADS = 4, MAX_ROUNDS = 1000 };
static shape shapes[MAX_SHAPES];
static int nshapes;
static gemm_bench benches[MAX_SHAPES * BENCH_NLIBS * MAX_THREADS];
static int nbenches;

static FILE *info_file;

// Lines about the libraries and the self-check go to stderr (beside Google
// Benchmark's own context) and, for tools/bench, to SOMA_BENCH_INFO.
static void say(const char *fmt, ...) SOMA_PRINTF(1, 2);
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (info_file) {
        va_start(ap, fmt);
        vfprintf(info_file, fmt, ap);
        fputc('\n', info_file);
        fflush(info_file);
        va_end(ap);
    }
}

static double seconds(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

// ---- operands -------------------------------------------------------------------
// One set of buffers, grown as shapes grow and filled once, shared by every
// library so all of them multiply the same numbers.
static float *buf_a, *buf_b, *buf_c;
static size_t cap_a, cap_b, cap_c;

static float *grow(float *p, size_t *cap, size_t need, uint64_t stream) {
    if (need <= *cap) return p;
    soma_free(p);
    p = soma_alloc(need * sizeof(float), 4096);
    if (!p) {
        fprintf(stderr, "bench: out of memory for %zu floats\n", need);
        exit(1);
    }
    soma_rng r;
    soma_rng_init(&r, 7, stream);
    soma_rng_uniform(&r, p, need, -1, 1);
    *cap = need;
    return p;
}

static void operands(const shape *s) {
    size_t a = (size_t)(s->m * s->k), b = (size_t)(s->k * s->n), c = (size_t)(s->m * s->n);
    buf_a = grow(buf_a, &cap_a, a, 1);
    buf_b = grow(buf_b, &cap_b, b, 2);
    buf_c = grow(buf_c, &cap_c, c, 3);
}

static void run_gemm(bench_lib *l, const shape *s) {
    int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    bench_lib_sgemm(l, s->ta, s->tb, s->m, s->n, s->k, 1.0f, buf_a, lda, buf_b, ldb, 0.0f,
                    buf_c, s->n);
}

// ---- the benchmark body ------------------------------------------------------------
// On a shared 2-core machine a compiler starting on the other core stalls
// an OpenMP barrier for a whole time slice. CPU time the system spent outside
// this process while a benchmark ran (load.h) is recorded per benchmark and
// reported (SOMA_BENCH_INFO "load" lines, the table's "busy" column), so a
// reader can tell a slow library from a disturbed measurement.
static const bench_lib *last_lib;
static int last_threads;

static void bench_body(soma_bench_state *st, void *arg) {
    gemm_bench *g = arg;
    // A library's idle workers keep spinning for a while after a multi-
    // threaded call (OpenBLAS ~110 ms here, BLIS ~85, oneDNN's libgomp ~60:
    // load.h); on 2 cores they would steal a CPU from whichever library runs
    // next, so the next one waits until the process is quiet.
    if (last_lib && last_lib != g->lib && last_threads > 1)
        bench_settle(env_int("SOMA_BENCH_SETTLE_MS", 500));
    last_lib = g->lib;
    last_threads = g->threads;

    operands(g->sh);
    bench_lib_set_threads(g->lib, g->threads);
    run_gemm(g->lib, g->sh); // first-call costs: JIT (oneDNN), buffers, thread start
    soma_bench_set_flops(st, 2.0 * (double)g->sh->m * (double)g->sh->n * (double)g->sh->k);
    bench_jiffies j0 = bench_jiffies_now();
    while (soma_bench_next(st)) run_gemm(g->lib, g->sh);
    bench_load ld = bench_load_between(j0, bench_jiffies_now());
    g->wall_s += ld.wall_s;
    g->foreign_cpu_s += ld.other_cpu_s;
}

// Runs after Google Benchmark is done (main returns normally).
static void report_load(void) {
    int busy = 0;
    for (int i = 0; i < nbenches; i++) {
        const gemm_bench *g = &benches[i];
        if (g->wall_s <= 0) continue; // filtered out
        double cpus = g->foreign_cpu_s / g->wall_s;
        if (info_file) fprintf(info_file, "load %s %.3f\n", g->name, cpus);
        if (cpus > 0.2) busy++;
    }
    if (busy)
        fprintf(stderr, "bench: %d benchmark(s) ran while other processes used > 0.2 CPU "
                        "(see the busy column)\n", busy);
    if (info_file) fclose(info_file);
    info_file = NULL;
}

// ---- shapes ---------------------------------------------------------------------------
static void add_shape(const char *group, const char *label, int ta, int tb, int64_t m,
                      int64_t n, int64_t k) {
    if (nshapes == MAX_SHAPES) return;
    shape *s = &shapes[nshapes++];
    snprintf(s->group, sizeof s->group, "%s", group);
    snprintf(s->label, sizeof s->label, "%s", label);
    s->ta = ta;
    s->tb = tb;
    s->m = m;
    s->n = n;
    s->k = k;
}

static void add_square(const char *group, int64_t n) {
    char label[24];
    snprintf(label, sizeof label, "%lld", (long long)n);
    add_shape(group, label, 0, 0, n, n, n);
}

// The eight GEMMs of one step of 784-128-64-10: forward X·W (NN), weight
// gradient Xᵀ·dY (TN) for each layer, input gradient dY·Wᵀ (NT) for layers 2
// and 3 (layer 1's input gradient is never needed).
static void add_step(int64_t b) {
    static const int64_t dims[3][2] = {{784, 128}, {128, 64}, {64, 10}};
    char label[24];
    for (int l = 0; l < 3; l++) {
        int64_t in = dims[l][0], out = dims[l][1];
        snprintf(label, sizeof label, "b%lld.L%d.fwd", (long long)b, l + 1);
        add_shape("step", label, 0, 0, b, out, in);
        snprintf(label, sizeof label, "b%lld.L%d.dW", (long long)b, l + 1);
        add_shape("step", label, 1, 0, in, out, b);
        if (l > 0) {
            snprintf(label, sizeof label, "b%lld.L%d.dX", (long long)b, l + 1);
            add_shape("step", label, 0, 1, b, in, out);
        }
    }
}

static void make_shapes(int quick) {
    if (quick) {
        // One shape per target of the issue: a large square, an odd size,
        // batch 1 and a mid batch of the training step.
        add_square("square", 256);
        add_square("square", 1024);
        add_square("odd", 257);
        add_step(1);
        add_step(32);
        add_step(128);
        return;
    }
    for (int64_t n = 64; n <= 2048; n *= 2) add_square("square", n);
    add_square("odd", 257);
    add_square("odd", 1000);
    add_square("odd", 1023);
    const int64_t batches[] = {1, 32, 128, 256};
    for (int i = 0; i < 4; i++) add_step(batches[i]);
}

// ---- start-up self-check ----------------------------------------------------------------
// Every library against a double-precision reference on all three transposes,
// padded leading dimensions, alpha and beta: a comparator called with the
// wrong convention would otherwise be timed doing a different product.
static int check_correct(bench_lib *l, int ta, int tb, int64_t m, int64_t n, int64_t k,
                         char *why, size_t why_len) {
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ac + 3, ldb = bc + 5, ldc = n + 1;
    float *a = soma_calloc((size_t)(ar * lda), 4), *b = soma_calloc((size_t)(br * ldb), 4);
    float *c = soma_calloc((size_t)(m * ldc), 4);
    double *ref = calloc((size_t)(m * n), sizeof(double));
    soma_rng r;
    soma_rng_init(&r, 11, (uint64_t)(m * 1000 + n));
    soma_rng_uniform(&r, a, (size_t)(ar * lda), -1, 1);
    soma_rng_uniform(&r, b, (size_t)(br * ldb), -1, 1);
    soma_rng_uniform(&r, c, (size_t)(m * ldc), -1, 1);
    const float alpha = 0.5f, beta = 0.25f;
    int ok = 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = ta ? a[p * lda + i] : a[i * lda + p];
                double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += x * y;
            }
            ref[i * n + j] = alpha * s + beta * (double)c[i * ldc + j];
        }
    bench_lib_sgemm(l, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int64_t i = 0; i < m && ok; i++)
        for (int64_t j = 0; j < n; j++) {
            // Operands in [-1, 1]: |C| ≤ alpha·k + beta, and float rounding
            // on random data is ~eps·√k of the terms, orders below 1e-5 of
            // that bound; a wrong transpose or stride is off by O(1).
            double tol = 1e-5 * ((double)alpha * (double)k + beta);
            double err = fabs((double)c[i * ldc + j] - ref[i * n + j]);
            if (!(err <= tol)) {
                snprintf(why, why_len, "%c%c %lldx%lldx%lld: C[%lld,%lld] = %g, reference %g",
                         ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n,
                         (long long)k, (long long)i, (long long)j, (double)c[i * ldc + j],
                         ref[i * n + j]);
                ok = 0;
                break;
            }
        }
    soma_free(a);
    soma_free(b);
    soma_free(c);
    free(ref);
    return ok;
}

typedef struct rate {
    double gflops, par; // GFLOP/s on wall time; process CPU time / wall time
} rate;

static rate time_rate(bench_lib *l, const shape *s, double min_s) {
    run_gemm(l, s);
    double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w1;
    int calls = 0;
    do {
        run_gemm(l, s);
        calls++;
        w1 = seconds(CLOCK_MONOTONIC);
    } while (calls < 3 || w1 - w0 < min_s);
    double c1 = seconds(CLOCK_PROCESS_CPUTIME_ID);
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k * calls;
    return (rate){flops / (w1 - w0) * 1e-9, (c1 - c0) / (w1 - w0)};
}

// Another process busy on one of the two cores turns every 2-thread number
// into a measurement of the scheduler. Spin `n` threads for 100 ms and see
// how much CPU they actually got.
static void *spin(void *arg) {
    double *cpu = arg, w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    while (seconds(CLOCK_MONOTONIC) - w0 < 0.1) {
    }
    *cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

static void check_cpus(int n) {
    pthread_t th[MAX_THREADS];
    double cpu[MAX_THREADS] = {0}, got = 0;
    int started = 0;
    for (; started < n && started < MAX_THREADS; started++)
        if (pthread_create(&th[started], NULL, spin, &cpu[started])) break;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        got += cpu[i] / 0.1;
    }
    say("cpus     %d spinning threads got %.2f CPUs%s", n, got,
        got < n - 0.3 ? " -- WARNING: other processes are using the CPUs; "
                        "multi-threaded numbers will be low (check top)"
                      : "");
    if (n > 1) {
        const double rtt = bench_core_rtt_us();
        if (rtt < 0) say("cores    core-to-core round trip not measured (one CPU, or the other busy)");
        else say("cores    core-to-core round trip %.3f us%s", rtt,
            rtt > BENCH_CORE_RTT_SLOW_US ? " -- the first two CPUs are far apart (another die?): "
                                           "multi-threaded numbers will be low"
                                         : "");
    }
}

// Asking a library for N threads proves nothing by itself (an OpenMP build
// can ignore the setter, a serial build has no threads): time a 512³ GEMM at
// 1 and N threads and compare both the speed-up and the CPU/wall ratio.
static void check_threads(bench_lib **ls, int nl, int tmax) {
    static shape s = {.group = "check", .label = "512", .m = 512, .n = 512, .k = 512};
    operands(&s);
    rate one[BENCH_NLIBS], many[BENCH_NLIBS];
    // All single-threaded runs first, while no library has spawned workers
    // that could spin and inflate the CPU time of another.
    for (int i = 0; i < nl; i++) {
        bench_lib_set_threads(ls[i], 1);
        one[i] = time_rate(ls[i], &s, 0.05);
    }
    for (int i = 0; i < nl && tmax > 1; i++) {
        if (i) sleep_ms(150);
        bench_lib_set_threads(ls[i], tmax);
        many[i] = time_rate(ls[i], &s, 0.05);
    }
    sleep_ms(150);
    for (int i = 0; i < nl; i++) {
        const char *name = bench_lib_name(ls[i]);
        if (tmax > 1)
            say("threads %-8s 512^3: 1 thread %6.1f GFLOP/s (cpu/wall %.2f), %d threads "
                "%6.1f GFLOP/s (cpu/wall %.2f), speed-up %.2fx",
                name, one[i].gflops, one[i].par, tmax, many[i].gflops, many[i].par,
                many[i].gflops / one[i].gflops);
        else
            say("threads %-8s 512^3: 1 thread %6.1f GFLOP/s (cpu/wall %.2f)", name,
                one[i].gflops, one[i].par);
        if (one[i].par > 1.25)
            say("WARNING: %s ran on more than one thread when asked for 1 (cpu/wall %.2f)",
                name, one[i].par);
        if (tmax > 1 && many[i].par < 1.25)
            say("WARNING: %s did not use %d threads when asked (cpu/wall %.2f): its %d-thread "
                "numbers are single-threaded",
                name, tmax, many[i].par, tmax);
    }
}

// The FMA peak at each thread count (peak.h), in the vector width soma's
// kernels use: the ceiling every library's GFLOP/s is measured against
// (report.py's "of peak" line) and what decides whether a ratio target
// between two libraries can be met at all.
static void report_peak(const int *threads, int n) {
    const char *isa = soma_cpu_name();
    char line[256];
    int w = snprintf(line, sizeof line, "peak     FMA %s:", isa);
    for (int i = 0; i < n && w > 0 && w < (int)sizeof line; i++) {
        const double p = bench_fma_peak(isa, threads[i], 5, 0.05);
        if (p < 0) {
            say("peak     no FMA loop for kernels %s in this benchmark", isa);
            return;
        }
        w += snprintf(line + w, sizeof line - (size_t)w, "%s %d thread%s %.1f GFLOP/s",
                      i ? "," : "", threads[i], threads[i] > 1 ? "s" : "", p);
    }
    say("%s", line);
}

// Median and quartiles of v[0..n) (bench_quantile, which sorts v).
static void quartiles(double *v, int n, double q[3]) {
    q[0] = bench_quantile(v, n, 0.25), q[1] = bench_quantile(v, n, 0.5);
    q[2] = bench_quantile(v, n, 0.75);
}

// The "2 threads get ≥ 1.8× on large sizes", measured so that the
// host's drift cancels: the table's 1- and N-thread numbers come from
// different minutes, and this host's speed moves by more than 10% between
// them. Each round times every library on one thread and then on N (a
// 1024³ NN product, at least 0.1 s each, the idle workers settled after
// the N-thread run), then the FMA loop on one and on N threads: its ratio is
// what the host gave that round, the ceiling of any speed-up. Libraries in
// the reversed order every other round. Prints, per library, the median
// over rounds of N-thread over 1-thread GFLOP/s with its quartiles.
enum { MAX_SCALING_ROUNDS = 50 };

static void report_scaling(bench_lib **ls, int nl, int tmax, int rounds) {
    static shape s = {.group = "scaling", .label = "1024", .m = 1024, .n = 1024, .k = 1024};
    if (tmax < 2 || rounds < 1 || nl < 1) return;
    if (rounds > MAX_SCALING_ROUNDS) rounds = MAX_SCALING_ROUNDS;
    operands(&s);
    const char *isa = soma_cpu_name();
    static double speedup[BENCH_NLIBS][MAX_SCALING_ROUNDS], g1[BENCH_NLIBS][MAX_SCALING_ROUNDS],
        gn[BENCH_NLIBS][MAX_SCALING_ROUNDS], fma[MAX_SCALING_ROUNDS];
    int nfma = 0;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < nl; k++) {
            const int i = r % 2 ? nl - 1 - k : k;
            bench_lib_set_threads(ls[i], 1);
            g1[i][r] = time_rate(ls[i], &s, 0.1).gflops;
            bench_lib_set_threads(ls[i], tmax);
            gn[i][r] = time_rate(ls[i], &s, 0.1).gflops;
            speedup[i][r] = gn[i][r] / g1[i][r];
            bench_settle(env_int("SOMA_BENCH_SETTLE_MS", 500));
        }
        const double p1 = bench_fma_peak(isa, 1, 2, 0.03), pn = bench_fma_peak(isa, tmax, 2, 0.03);
        if (p1 > 0 && pn > 0) fma[nfma++] = pn / p1;
    }
    for (int i = 0; i < nl; i++) {
        double q[3];
        quartiles(speedup[i], rounds, q);
        say("scaling  %-8s 1024^3: %d threads / 1 thread %.2f (quartiles %.2f-%.2f) over %d "
            "paired rounds; medians 1 thread %.1f, %d threads %.1f GFLOP/s",
            bench_lib_name(ls[i]), tmax, q[1], q[0], q[2], rounds,
            bench_quantile(g1[i], rounds, 0.5), tmax, bench_quantile(gn[i], rounds, 0.5));
    }
    if (nfma) {
        double q[3];
        quartiles(fma, nfma, q);
        say("scaling  FMA loop %d threads / 1 thread %.2f (quartiles %.2f-%.2f) in the same rounds",
            tmax, q[1], q[0], q[2]);
    }
}

// ---- registration ---------------------------------------------------------------------------
static int parse_list(const char *env, const char *dflt, char items[][16], int max) {
    const char *v = getenv(env);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v && *v ? v : dflt);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t && n < max;
         t = strtok_r(NULL, ", ", &save))
        snprintf(items[n++], 16, "%s", t);
    return n;
}

void soma_bench_register_all(void);
void soma_bench_register_all(void) {
    const char *info = getenv("SOMA_BENCH_INFO");
    if (info && *info && !(info_file = fopen(info, "w")))
        fprintf(stderr, "bench: cannot write %s\n", info);

    const char *set = getenv("SOMA_BENCH_SET");
    int quick = set && !strcmp(set, "quick");
    if (set && *set && !quick && strcmp(set, "full")) {
        fprintf(stderr, "bench: SOMA_BENCH_SET=%s: expected full or quick\n", set);
        exit(2);
    }
    make_shapes(quick);

    char items[8][16];
    int nthreads_list = parse_list("SOMA_BENCH_THREADS", "1,2", items, MAX_THREADS);
    int threads[MAX_THREADS], tmax = 1;
    for (int i = 0; i < nthreads_list; i++) {
        threads[i] = atoi(items[i]);
        if (threads[i] < 1) {
            fprintf(stderr, "bench: SOMA_BENCH_THREADS: '%s' is not a thread count\n", items[i]);
            exit(2);
        }
        if (threads[i] > tmax) tmax = threads[i];
    }

    bench_libs_load();
    bench_lib *ls[BENCH_NLIBS];
    int nl = 0;
    int nnames = parse_list("SOMA_BENCH_LIBS", "soma,openblas,blis,onednn", items, 8);
    for (int i = 0; i < nnames; i++) {
        bench_lib *l = bench_lib_find(items[i]);
        if (!l) {
            fprintf(stderr, "bench: SOMA_BENCH_LIBS: unknown library '%s' (soma, openblas, "
                            "blis, onednn)\n", items[i]);
            exit(2);
        }
        say("lib %-8s %s%s", bench_lib_name(l), bench_lib_available(l) ? "" : "SKIPPED: ",
            bench_lib_info(l));
        if (bench_lib_available(l)) ls[nl++] = l;
    }

    if (env_int("SOMA_BENCH_CHECK", 1)) {
        static const int tr[3][2] = {{0, 0}, {0, 1}, {1, 0}};
        int kept = 0;
        for (int i = 0; i < nl; i++) {
            char why[200] = "";
            int ok = 1;
            bench_lib_set_threads(ls[i], 1);
            for (int t = 0; t < 3 && ok; t++)
                ok = check_correct(ls[i], tr[t][0], tr[t][1], 37, 29, 41, why, sizeof why) &&
                     check_correct(ls[i], tr[t][0], tr[t][1], 131, 97, 203, why, sizeof why);
            if (ok) {
                ls[kept++] = ls[i];
            } else if (ls[i] == bench_lib_get(BENCH_SOMA)) {
                // Still timed: the numbers of a GEMM under construction are
                // worth seeing, flagged.
                say("WARNING: soma_sgemm gives wrong results: %s", why);
                ls[kept++] = ls[i];
            } else {
                say("lib %-8s SKIPPED: wrong results through this interface: %s",
                    bench_lib_name(ls[i]), why);
            }
        }
        nl = kept;
        check_cpus(tmax);
        check_threads(ls, nl, tmax);
    }

    report_peak(threads, nthreads_list);
    report_scaling(ls, nl, tmax, env_int("SOMA_BENCH_SCALING", quick ? 0 : 9));

    const int rounds = env_int("SOMA_BENCH_ROUNDS", 1);
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench: SOMA_BENCH_ROUNDS=%s: expected 1 to %d\n",
                getenv("SOMA_BENCH_ROUNDS"), MAX_ROUNDS);
        exit(2);
    }
    atexit(report_load);
    for (int si = 0; si < nshapes; si++)
        for (int ti = 0; ti < nthreads_list; ti++) {
            gemm_bench *first = &benches[nbenches];
            for (int li = 0; li < nl; li++) {
                gemm_bench *g = &benches[nbenches++];
                const shape *s = &shapes[si];
                g->sh = s;
                g->lib = ls[li];
                g->threads = threads[ti];
                int w = snprintf(g->name, sizeof g->name,
                                 "sgemm/%s:%s/%c%c/%lldx%lldx%lld/%s/t%d", s->group, s->label,
                                 s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', (long long)s->m,
                                 (long long)s->n, (long long)s->k, bench_lib_name(ls[li]),
                                 threads[ti]);
                if (w < 0 || w >= (int)sizeof g->name) {
                    fprintf(stderr, "bench: benchmark name too long: %s\n", g->name);
                    exit(2);
                }
            }
            // Google Benchmark runs benchmarks in the order they are
            // registered, and a name registered R times reports R results in
            // that order: report.py numbers them as rounds.
            for (int r = 0; r < rounds; r++)
                for (int li = 0; li < nl; li++) {
                    gemm_bench *g = &first[r % 2 ? nl - 1 - li : li];
                    soma_bench_register(g->name, bench_body, g);
                }
        }
}
