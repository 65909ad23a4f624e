/* bench/compare.h — the GEMM implementations one benchmark run compares:
 * soma (linked in) and OpenBLAS, BLIS and oneDNN, each opened at run time by
 * explicit path with dlopen(RTLD_LOCAL) so that the cblas_sgemm of one never
 * resolves to another's. A library that is absent is marked unavailable with
 * a message saying why and which package provides it; the run goes on. */
#ifndef SOMA_BENCH_COMPARE_H
#define SOMA_BENCH_COMPARE_H

#include <stdint.h>

typedef enum bench_lib_id {
    BENCH_SOMA = 0,
    BENCH_OPENBLAS,
    BENCH_BLIS,
    BENCH_ONEDNN,
    BENCH_NLIBS
} bench_lib_id;

typedef struct bench_lib bench_lib;

/* Opens every library once (later calls return at once). Paths can be
 * overridden with SOMA_BENCH_OPENBLAS, SOMA_BENCH_BLIS, SOMA_BENCH_ONEDNN. */
void bench_libs_load(void);
bench_lib *bench_lib_get(bench_lib_id id);
/* Looks a library up by its short name ("soma", "openblas", "blis",
 * "onednn"); NULL when the name is unknown. */
bench_lib *bench_lib_find(const char *name);

const char *bench_lib_name(const bench_lib *l);
int bench_lib_available(const bench_lib *l);
/* Why the library is unavailable, or the path, version and kernel
 * architecture it reports when it is. */
const char *bench_lib_info(const bench_lib *l);
/* Marks a loaded library unusable (say, after a failed self-check). */
void bench_lib_disable(bench_lib *l, const char *why);

/* Threads the library uses for its next calls (>= 1). */
void bench_lib_set_threads(bench_lib *l, int n);

/* Row-major C = alpha·op(A)·op(B) + beta·C, the contract of soma_sgemm:
 * op(A) is m×k, op(B) k×n, lda/ldb/ldc are the row strides as stored. */
void bench_lib_sgemm(bench_lib *l, int trans_a, int trans_b, int64_t m,
                     int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc);

#endif
