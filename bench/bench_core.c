// Baseline benchmarks of the foundation's portable kernels: the GEMMs of one
// training step of the tutorial model and one whole training step. The GEMM
// issue adds OpenBLAS/BLIS/oneDNN comparators to this same run.
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "cpu/cpu.h"
#include "harness.h"
#include "model/model.h"

typedef struct gemm_case {
    char name[64];
    int ta, tb;
    int64_t m, n, k;
} gemm_case;

static void bench_gemm(soma_bench_state *s, void *arg) {
    const gemm_case *c = arg;
    int64_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
    int64_t br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
    float *a = soma_calloc((size_t)(ar * ac), 4), *b = soma_calloc((size_t)(br * bc), 4);
    float *cc = soma_calloc((size_t)(c->m * c->n), 4);
    soma_rng r;
    soma_rng_init(&r, 1, 0);
    soma_rng_uniform(&r, a, (size_t)(ar * ac), -1, 1);
    soma_rng_uniform(&r, b, (size_t)(br * bc), -1, 1);
    soma_bench_set_flops(s, 2.0 * (double)c->m * (double)c->n * (double)c->k);
    while (soma_bench_next(s))
        soma_sgemm(c->ta, c->tb, c->m, c->n, c->k, 1, a, ac, b, bc, 0, cc, c->n);
    soma_free(a);
    soma_free(b);
    soma_free(cc);
}

typedef struct step_case {
    char name[64];
    int64_t batch;
} step_case;

// One fit step (forward, loss, backward, Adam) of 784-128-64-10 on random data.
static void bench_step(soma_bench_state *s, void *arg) {
    const step_case *c = arg;
    soma_model *m;
    int64_t in[1] = {784}, xd[2] = {c->batch, 784}, yd[1] = {c->batch};
    soma_model_create(&m);
    soma_model_add_input(m, 1, in);
    soma_model_add_dense(m, 128, "relu", "he_normal", NULL);
    soma_model_add_dense(m, 64, "relu", "he_normal", NULL);
    soma_model_add_dense(m, 10, "softmax", NULL, NULL);
    if (soma_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy")) {
        fprintf(stderr, "bench: %s\n", soma_last_error());
        exit(1);
    }
    soma_tensor *x, *y;
    soma_tensor_create(&x, 2, xd, NULL);
    soma_tensor_create(&y, 1, yd, NULL);
    soma_rng r;
    soma_rng_init(&r, 2, 0);
    soma_rng_uniform(&r, x->data, (size_t)x->numel, 0, 1);
    for (int64_t i = 0; i < c->batch; i++) y->data[i] = (float)(i % 10);
    soma_fit_config fc = soma_fit_defaults();
    fc.batch_size = c->batch;
    fc.verbose = 0;
    fc.shuffle = 0;
    double per_sample = 3.0 * 2.0 * (784 * 128 + 128 * 64 + 64 * 10);
    soma_bench_set_flops(s, per_sample * (double)c->batch);
    while (soma_bench_next(s))
        if (soma_model_fit(m, x, y, &fc)) {
            fprintf(stderr, "bench: %s\n", soma_last_error());
            exit(1);
        }
    soma_tensor_free(x);
    soma_tensor_free(y);
    soma_model_free(m);
}

static gemm_case gemms[64];
static step_case steps[4];

void soma_bench_register_all(void);
void soma_bench_register_all(void) {
    const int64_t batches[] = {1, 32, 128, 256};
    const int64_t dims[][2] = {{784, 128}, {128, 64}, {64, 10}};
    int n = 0;
    for (int bi = 0; bi < 4; bi++)
        for (int l = 0; l < 3; l++) {
            int64_t b = batches[bi], in = dims[l][0], out = dims[l][1];
            gemms[n] = (gemm_case){.ta = 0, .tb = 0, .m = b, .n = out, .k = in};
            snprintf(gemms[n].name, sizeof gemms[n].name, "sgemm/fwd/b%lld/%lldx%lld", (long long)b, (long long)in, (long long)out);
            n++;
            gemms[n] = (gemm_case){.ta = 1, .tb = 0, .m = in, .n = out, .k = b};
            snprintf(gemms[n].name, sizeof gemms[n].name, "sgemm/dW/b%lld/%lldx%lld", (long long)b, (long long)in, (long long)out);
            n++;
            if (l > 0) { // no input gradient for the first layer
                gemms[n] = (gemm_case){.ta = 0, .tb = 1, .m = b, .n = in, .k = out};
                snprintf(gemms[n].name, sizeof gemms[n].name, "sgemm/dX/b%lld/%lldx%lld", (long long)b, (long long)in, (long long)out);
                n++;
            }
        }
    for (int64_t sz = 64; sz <= 1024; sz *= 2) {
        gemms[n] = (gemm_case){.m = sz, .n = sz, .k = sz};
        snprintf(gemms[n].name, sizeof gemms[n].name, "sgemm/square/%lld", (long long)sz);
        n++;
    }
    for (int i = 0; i < n; i++) soma_bench_register(gemms[i].name, bench_gemm, &gemms[i]);
    for (int bi = 1; bi < 4; bi++) {
        steps[bi] = (step_case){.batch = batches[bi]};
        snprintf(steps[bi].name, sizeof steps[bi].name, "train_step/b%lld", (long long)batches[bi]);
        soma_bench_register(steps[bi].name, bench_step, &steps[bi]);
    }
}
