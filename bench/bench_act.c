// Activation throughput: soma_activation_forward / _backward on the active
// kernel set (AVX2 or NEON on SLEEF; "generic" is the scalar code) against a
// scalar libm loop per function, written the obvious way (expf, tanhf, erff,
// expm1f, log1pf elementwise, as a C programmer would without a vector
// library), at 4 Ki floats (L1-resident) and 16 Mi floats (memory).
//
// Names: act/<function>/<n>/<impl>, impl = soma (active set), scalar (soma's
// scalar code, forced with soma_cpu_force), libm. The harness's rate counter
// is set to elements per iteration, so its "GFLOP/s" column reads as
// elements/ns. After the last benchmark, act/summary prints elements/ns per
// function and size, soma / libm, and the target (>= 5x libm at 4 Ki
// floats for the exp-based functions), with the load average.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "cpu/cpu.h"
#include "harness.h"

enum { IMPL_SOMA, IMPL_SCALAR, IMPL_LIBM, N_IMPL };
static const char *const impl_names[N_IMPL] = {"soma", "scalar", "libm"};

#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f

// ---- the libm loops ---------------------------------------------------------------------

static void l_relu(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}
static void l_leaky(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.2f * x[i];
}
static void l_sigmoid(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = 1 / (1 + expf(-x[i]));
}
static void l_tanh(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}
static void l_elu(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : expm1f(x[i]);
}
static void l_selu(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++)
        y[i] = SELU_SCALE * (x[i] > 0 ? x[i] : SELU_ALPHA * expm1f(x[i]));
}
static void l_gelu(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1 + erff(x[i] * (float)M_SQRT1_2));
}
static void l_gelu_tanh(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    const float c = 0.7978845608f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1 + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}
static void l_softplus(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = log1pf(expf(x[i]));
}
static void l_softsign(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1 + fabsf(x[i]));
}
static void l_silu(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1 + expf(-x[i]));
}
static void l_hard_sigmoid(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = fminf(fmaxf(x[i] / 6 + 0.5f, 0), 1);
}
static void l_exponential(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}
static void l_linear(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    for (int64_t i = 0; i < n; i++) y[i] = x[i];
}
// Row-wise, rows of `cols`: max, expf, sum, divide (log: subtract logf(sum)).
static void softmax_rows(float *y, const float *x, int64_t n, int64_t cols, int log_form) {
    for (int64_t r = 0; r < n / cols; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols, m = -INFINITY, s = 0;
        for (int64_t j = 0; j < cols; j++) m = xr[j] > m ? xr[j] : m;
        for (int64_t j = 0; j < cols; j++) {
            float e = expf(xr[j] - m);
            s += e;
            if (!log_form) yr[j] = e;
        }
        if (log_form) {
            float l = logf(s);
            for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] - m - l;
        } else {
            for (int64_t j = 0; j < cols; j++) yr[j] /= s;
        }
    }
}
static void l_softmax10(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    softmax_rows(y, x, n, 10, 0);
}
static void l_softmax1k(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    softmax_rows(y, x, n, 1024, 0);
}
static void l_log_softmax1k(float *y, const float *x, const float *dy, int64_t n) {
    (void)dy;
    softmax_rows(y, x, n, 1024, 1);
}
// Backward: dx = dy·f'(x).
static void l_gelu_grad(float *dx, const float *x, const float *dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        dx[i] = dy[i] * (0.5f * (1 + erff(v * (float)M_SQRT1_2)) +
                         v * 0.3989422804f * expf(-0.5f * v * v));
    }
}
static void l_silu_grad(float *dx, const float *x, const float *dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float s = 1 / (1 + expf(-x[i]));
        dx[i] = dy[i] * (s * (1 + x[i] * (1 - s)));
    }
}

// ---- cases ------------------------------------------------------------------------------

typedef void (*libm_fn)(float *y, const float *x, const float *dy, int64_t n);

typedef struct {
    const char *name, *spec;
    libm_fn libm;
    int64_t cols;  // row length (the row-wise ones), else 1
    int backward;  // dx = dy·f'(x), dx aliasing dy
    int exp_based; // the issue's >= 5x target applies
} fn_case;

static const fn_case fns[] = {
    {"linear", "linear", l_linear, 1, 0, 0},
    {"relu", "relu", l_relu, 1, 0, 0},
    {"leaky_relu", "leaky_relu", l_leaky, 1, 0, 0},
    {"hard_sigmoid", "hard_sigmoid", l_hard_sigmoid, 1, 0, 0},
    {"softsign", "softsign", l_softsign, 1, 0, 0},
    {"exponential", "exponential", l_exponential, 1, 0, 1},
    {"sigmoid", "sigmoid", l_sigmoid, 1, 0, 1},
    {"tanh", "tanh", l_tanh, 1, 0, 1},
    {"elu", "elu", l_elu, 1, 0, 1},
    {"selu", "selu", l_selu, 1, 0, 1},
    {"softplus", "softplus", l_softplus, 1, 0, 1},
    {"silu", "silu", l_silu, 1, 0, 1},
    {"gelu", "gelu", l_gelu, 1, 0, 0},
    {"gelu_tanh", "gelu(approximate=true)", l_gelu_tanh, 1, 0, 1},
    {"softmax_c10", "softmax", l_softmax10, 10, 0, 1},
    {"softmax_c1024", "softmax", l_softmax1k, 1024, 0, 1},
    {"log_softmax_c1024", "log_softmax", l_log_softmax1k, 1024, 0, 1},
    {"gelu_grad", "gelu", l_gelu_grad, 1, 1, 0},
    {"silu_grad", "silu", l_silu_grad, 1, 1, 1},
};
#define N_FNS ((int)(sizeof fns / sizeof fns[0]))
static const int64_t sizes[] = {4096, 16 << 20};
#define N_SIZES 2

typedef struct {
    char name[96];
    int fn, size, impl;
} bench_case;

static bench_case cases[N_FNS * N_SIZES * N_IMPL];
// Best ns per element seen for each case (Google Benchmark may run a body
// several times while it sizes the iteration count).
static double best_ns[N_FNS][N_SIZES][N_IMPL];
static char vector_set[16];

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Inputs: uniform on [-8, 8], the range pre-activations live in.
static float *make_input(int64_t n) {
    float *x = soma_alloc((size_t)n * sizeof *x, 64);
    if (!x) {
        fprintf(stderr, "bench_act: out of memory\n");
        exit(1);
    }
    soma_rng r;
    soma_rng_init(&r, 7, 0);
    soma_rng_uniform(&r, x, (size_t)n, -8, 8);
    return x;
}

static void bench_one(soma_bench_state *s, void *arg) {
    const bench_case *c = arg;
    const fn_case *f = &fns[c->fn];
    const int64_t n = sizes[c->size];
    soma_activation a;
    if (soma_activation_parse(f->spec, &a) != SOMA_OK) {
        fprintf(stderr, "bench_act: %s\n", soma_last_error());
        exit(1);
    }
    const int64_t rows = n / f->cols, ne = rows * f->cols;
    float *x = make_input(n), *y = make_input(n), *dy = make_input(n);
    if (c->impl == IMPL_SCALAR) soma_cpu_force("generic");
    soma_bench_set_flops(s, (double)ne); // read "GFLOP/s" as elements/ns
    long iters = 0;
    double t0 = now_s();
    while (soma_bench_next(s)) {
        if (c->impl == IMPL_LIBM) f->libm(y, x, dy, ne);
        else if (f->backward) soma_activation_backward(&a, y, x, NULL, dy, rows, f->cols);
        else soma_activation_forward(&a, y, x, rows, f->cols);
        iters++;
    }
    double ns = (now_s() - t0) * 1e9 / ((double)iters * (double)ne);
    if (c->impl == IMPL_SCALAR) soma_cpu_force(vector_set);
    double *b = &best_ns[c->fn][c->size][c->impl];
    if (iters > 0 && (*b == 0 || ns < *b)) *b = ns;
    // Keep the results observable.
    volatile float sink = y[n / 2];
    (void)sink;
    soma_free(x);
    soma_free(y);
    soma_free(dy);
}

static void print_load(const char *when) {
    FILE *f = fopen("/proc/loadavg", "r");
    char buf[128] = "?";
    if (f) {
        if (!fgets(buf, sizeof buf, f)) strcpy(buf, "?\n");
        fclose(f);
    }
    printf("load average %s: %s", when, buf);
}

static void summary(soma_bench_state *s, void *arg) {
    (void)arg;
    static int printed;
    while (soma_bench_next(s)) {
    }
    if (printed++) return;
    printf("\nactivation throughput, elements/ns (kernel set: %s)\n", vector_set);
    printf("%-20s %9s %9s %9s %8s %9s %9s %9s %8s  %s\n", "function", "soma 4Ki", "scalar",
           "libm", "x libm", "soma 16Mi", "scalar", "libm", "x libm", "target (4Ki, exp-based)");
    for (int f = 0; f < N_FNS; f++) {
        printf("%-20s", fns[f].name);
        double ratio4 = 0;
        for (int z = 0; z < N_SIZES; z++) {
            const double *b = best_ns[f][z];
            for (int i = 0; i < N_IMPL; i++) {
                if (b[i] > 0) printf(" %9.3f", 1 / b[i]);
                else printf(" %9s", "-");
            }
            double r = b[IMPL_SOMA] > 0 && b[IMPL_LIBM] > 0 ? b[IMPL_LIBM] / b[IMPL_SOMA] : 0;
            if (z == 0) ratio4 = r;
            if (r > 0) printf(" %7.2fx", r);
            else printf(" %8s", "-");
        }
        if (fns[f].exp_based && ratio4 > 0) printf("  %s", ratio4 >= 5 ? ">= 5x: met" : ">= 5x: MISSED");
        printf("\n");
    }
    print_load("at the end");
}

void soma_bench_register_all(void);
void soma_bench_register_all(void) {
    snprintf(vector_set, sizeof vector_set, "%s", soma_cpu_name());
    print_load("at the start");
    int k = 0;
    for (int f = 0; f < N_FNS; f++)
        for (int z = 0; z < N_SIZES; z++)
            for (int i = 0; i < N_IMPL; i++) {
                bench_case *c = &cases[k++];
                *c = (bench_case){.fn = f, .size = z, .impl = i};
                snprintf(c->name, sizeof c->name, "act/%s/%lld/%s", fns[f].name,
                         (long long)sizes[z], impl_names[i]);
                soma_bench_register(c->name, bench_one, c);
            }
    soma_bench_register("act/summary", summary, NULL);
}
