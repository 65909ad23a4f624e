// Portable GEMM kernels: the 4×8 micro-kernel, the packing routine and the
// direct (unpacked) kernel. They are the whole kernel set on CPUs without a
// tuned one, the fallback for any slot a tuned set leaves empty, and the
// reference the tuned kernels are tested against. Plain loops over small
// fixed-size arrays: the compiler vectorizes them at the baseline ISA (SSE2 on
// x86-64, ASIMD on aarch64).
#include <string.h>

#include "cpu/gemm_internal.h"

#define MR 4
#define NR 8

// 4×8 floats of accumulators are eight SSE registers (or eight ASIMD q
// registers): small enough that the baseline ISA keeps them all live.
void soma_sgemm_generic_4x8(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                            float *c, int64_t ldc) {
    float acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < k; p++) {
        const float *a = ap + MR * p, *b = bp + NR * p;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < NR; j++) {
            float t = alpha * acc[i][j];
            ci[j] = beta == 0.0f ? t : t + beta * ci[j];
        }
    }
}

// The three access patterns packing meets: rows contiguous along k (A in NN,
// Bᵀ in NT: a transpose), columns contiguous (A in TN, B in NN: a copy of mr
// floats per p), or neither (both transposed, or odd views).
void soma_pack_generic(int mr, int64_t m, int64_t k, const float *x, int64_t rs, int64_t cs,
                       float *dst) {
    for (int64_t i0 = 0; i0 < m; i0 += mr) {
        int64_t mb = m - i0 < mr ? m - i0 : mr;
        const float *xi = x + i0 * rs;
        if (cs == 1) {
            for (int64_t p = 0; p < k; p++) {
                float *d = dst + p * mr;
                for (int64_t i = 0; i < mb; i++) d[i] = xi[i * rs + p];
                for (int64_t i = mb; i < mr; i++) d[i] = 0.0f;
            }
        } else if (rs == 1) {
            for (int64_t p = 0; p < k; p++) {
                float *d = dst + p * mr;
                memcpy(d, xi + p * cs, (size_t)mb * sizeof(float));
                for (int64_t i = mb; i < mr; i++) d[i] = 0.0f;
            }
        } else {
            for (int64_t p = 0; p < k; p++) {
                float *d = dst + p * mr;
                for (int64_t i = 0; i < mb; i++) d[i] = xi[i * rs + p * cs];
                for (int64_t i = mb; i < mr; i++) d[i] = 0.0f;
            }
        }
        dst += (int64_t)mr * k;
    }
}

// Up to four rows of C against the unpacked B, 64 columns at a time: the
// accumulators (4×64 floats) stay in L1 and the inner loop over j walks one
// contiguous row of B, which vectorizes.
#define DIRECT_NB 64
void soma_sgemm_generic_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                               int64_t csa, const float *b, int64_t ldb, float *c, int64_t ldc,
                               const soma_tile_epilogue *ep) {
    const float alpha = ep->alpha, beta = ep->beta, *bias = ep->bias;
    const int relu = ep->relu;
    for (int64_t j0 = 0; j0 < n; j0 += DIRECT_NB) {
        int64_t nb = n - j0 < DIRECT_NB ? n - j0 : DIRECT_NB;
        float acc[MR][DIRECT_NB];
        memset(acc, 0, sizeof acc);
        for (int64_t p = 0; p < k; p++) {
            const float *bp = b + p * ldb + j0;
            for (int64_t i = 0; i < m; i++) {
                float av = a[i * rsa + p * csa];
                for (int64_t j = 0; j < nb; j++) acc[i][j] += av * bp[j];
            }
        }
        for (int64_t i = 0; i < m; i++) {
            float *ci = c + i * ldc + j0;
            for (int64_t j = 0; j < nb; j++) {
                float t = alpha * acc[i][j];
                if (beta != 0.0f) t = t + beta * ci[j];
                if (bias) t = t + bias[j0 + j];
                if (relu) t = t < 0.0f ? 0.0f : t;
                ci[j] = t;
            }
        }
    }
}

const soma_cpu_kernels soma_kernels_generic = {
    .name = "generic",
    .mr = MR,
    .nr = NR,
    .mc = 128,
    .kc = 256,
    .nc = 4096,
    .ukr = soma_sgemm_generic_4x8,
    .pack_a = soma_pack_generic,
    .pack_b = soma_pack_generic,
    .direct_mr = MR,
    .direct = soma_sgemm_generic_direct,
};
