/* core/cpu — compute kernels behind stable entry points. Issue-2 versions are
 * portable scalar C; the GEMM issue plugs packed AVX2/NEON kernels in behind
 * soma_sgemm and the activation issue SLEEF kernels behind soma_activation_*. */
#ifndef SOMA_CORE_CPU_H
#define SOMA_CORE_CPU_H

#include <stddef.h>
#include <stdint.h>

/* Row-major C = alpha·op(A)·op(B) + beta·C; op(A) m×k, op(B) k×n. beta == 0
 * overwrites C without reading it (NaN in C is ignored, as BLAS does). */
void soma_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc);

#include "cpu/act.h"

/* Vector math (scalar libm now, SLEEF later). out may alias in. */
void soma_vexp(float *out, const float *in, size_t n);
void soma_vlog(float *out, const float *in, size_t n);

#endif
