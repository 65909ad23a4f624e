/* core/cpu — compute kernels behind stable entry points. Issue-2 versions are
 * portable scalar C; the GEMM issue plugs packed AVX2/NEON kernels in behind
 * soma_sgemm and the activation issue SLEEF kernels behind soma_act_*. */
#ifndef SOMA_CORE_CPU_H
#define SOMA_CORE_CPU_H

#include <stddef.h>
#include <stdint.h>

/* Row-major C = alpha·op(A)·op(B) + beta·C; op(A) m×k, op(B) k×n. beta == 0
 * overwrites C without reading it (NaN in C is ignored, as BLAS does). */
void soma_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc);

/* Activations, applied on rows × cols row-major data. */
typedef enum soma_act {
    SOMA_ACT_LINEAR = 0,
    SOMA_ACT_RELU,
    SOMA_ACT_SIGMOID,
    SOMA_ACT_TANH,
    SOMA_ACT_SOFTMAX, /* over the last axis (each row) */
    SOMA_ACT_COUNT
} soma_act;
/* Parses a name ("relu", "ReLU", NULL → linear); -1 when unknown. */
int soma_act_parse(const char *name);
const char *soma_act_name(soma_act a);
/* y = act(x) in place allowed (y == x). */
void soma_act_forward(soma_act a, float *y, const float *x, int64_t rows,
                      int64_t cols);
/* dx = dy ⊙ act'(·), computed from the forward OUTPUT y (all five need only
 * y). In place allowed (dx == dy). For softmax this is the row-wise
 * Jacobian-vector product y ⊙ (dy − Σ dy·y). */
void soma_act_backward(soma_act a, float *dx, const float *y, const float *dy,
                       int64_t rows, int64_t cols);

/* Vector math (scalar libm now, SLEEF later). out may alias in. */
void soma_vexp(float *out, const float *in, size_t n);
void soma_vlog(float *out, const float *in, size_t n);

#endif
