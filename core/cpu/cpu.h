/* core/cpu — compute kernels behind stable entry points. GEMM runs on the
 * kernel set dispatch.c picks (generic C, AVX2/FMA, NEON), always
 * behind soma_sgemm; the activation issue plugs SLEEF kernels in behind soma_activation_*. */
#ifndef SOMA_CORE_CPU_H
#define SOMA_CORE_CPU_H

#include <stddef.h>
#include <stdint.h>

/* Row-major C = alpha·op(A)·op(B) + beta·C; op(A) m×k, op(B) k×n. beta == 0
 * overwrites C without reading it (NaN in C is ignored, as BLAS does). */
void soma_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc);

/* soma_sgemm with an epilogue applied to each tile of C as it is finished,
 * in registers (direct path: the small and skinny shapes of a training step)
 * or in L1 (packed path):
 *     C ← relu?(alpha·op(A)·op(B) + beta·C + bias)
 * bias: n floats added to every row, or NULL; relu != 0 then clamps at 0
 * (NaN stays NaN). One pass over C instead of three for a Dense layer. */
void soma_sgemm_bias_act(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float beta, float *c, int64_t ldc,
                         const float *bias, int relu);

/* CPU kernel sets (dispatch.c). One is chosen per process, at the first GEMM
 * or soma_cpu_init: the best the CPU and the OS support (on x86-64 AVX-512
 * F/VL/DQ/BW, else AVX2+FMA, each with the XGETBV check; NEON on aarch64;
 * else generic), or the one SOMA_CPU=generic|avx2|avx512|neon names.
 * soma_cpu_init returns SOMA_OK, or SOMA_E_UNSUPPORTED ("SOMA_CPU=avx2
 * requested but this CPU lacks AVX2/FMA") or SOMA_E_INVALID (a name that is
 * no kernel set) when SOMA_CPU cannot be honoured; soma_sgemm cannot fail, so
 * it then runs the generic kernels after logging the error once. */
int soma_cpu_init(void);
const char *soma_cpu_name(void);
/* Switches the active set (tests, benchmarks). NULL or "" goes back to the
 * automatic choice (SOMA_CPU ignored). On error (as soma_cpu_init) the active
 * set is unchanged. MUST NOT be called while a GEMM runs in another thread. */
int soma_cpu_force(const char *name);
/* Frees the per-thread GEMM packing buffers; the next GEMM allocates them
 * again. Runs at exit by itself. Same restriction as soma_cpu_force. */
void soma_cpu_shutdown(void);
/* Allocates the calling thread's GEMM packing buffers now rather than at its
 * first packed GEMM. Pool workers call it as they start: which worker runs
 * which piece varies from call to call, and a first use many steps into
 * training would allocate in the middle of it. Failure is not an error (the
 * GEMM retries, then falls back to an unpacked loop). */
void soma_cpu_thread_init(void);

#include "cpu/act.h"

/* Vector math (scalar libm now, SLEEF later). out may alias in. */
void soma_vexp(float *out, const float *in, size_t n);
void soma_vlog(float *out, const float *in, size_t n);

#endif
