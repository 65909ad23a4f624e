// Portable single-precision GEMM (row-major). This is the reference path and
// the fallback: loops ordered so the innermost one walks contiguous memory
// and the compiler can vectorize it at the baseline ISA. The packed AVX2/NEON
// micro-kernels of the GEMM issue plug in behind this same entry point.
#include <string.h>

#include "cpu/cpu.h"

// Depth of one k-panel: a 256×N panel of B stays in L2 while every row of A
// streams past it.
#define KC 256

static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f) {
            memset(ci, 0, (size_t)n * sizeof(float)); // BLAS: NaN in C ignored
        } else {
            for (int64_t j = 0; j < n; j++) ci[j] *= beta;
        }
    }
}

// C[i,:] += alpha · Σ_p A[i,p] · B[p,:]
static void gemm_nn(int64_t m, int64_t n, int64_t k, float alpha,
                    const float *restrict a, int64_t lda, const float *restrict b,
                    int64_t ldb, float *restrict c, int64_t ldc) {
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        int64_t pe = p0 + KC < k ? p0 + KC : k;
        for (int64_t i = 0; i < m; i++) {
            float *restrict ci = c + i * ldc;
            const float *ai = a + i * lda;
            int64_t p = p0;
            // Four rows of B per pass: four FMAs per load/store of C.
            for (; p + 4 <= pe; p += 4) {
                float a0 = alpha * ai[p], a1 = alpha * ai[p + 1];
                float a2 = alpha * ai[p + 2], a3 = alpha * ai[p + 3];
                const float *b0 = b + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb,
                            *b3 = b2 + ldb;
                for (int64_t j = 0; j < n; j++)
                    ci[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
            }
            for (; p < pe; p++) {
                float ap = alpha * ai[p];
                const float *bp = b + p * ldb;
                for (int64_t j = 0; j < n; j++) ci[j] += ap * bp[j];
            }
        }
    }
}

// C[i,:] += alpha · Σ_p A[p,i] · B[p,:]   (op(A) = Aᵀ, A stored k×m)
static void gemm_tn(int64_t m, int64_t n, int64_t k, float alpha,
                    const float *restrict a, int64_t lda, const float *restrict b,
                    int64_t ldb, float *restrict c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float *restrict ci = c + i * ldc;
        int64_t p = 0;
        for (; p + 4 <= k; p += 4) {
            float a0 = alpha * a[p * lda + i], a1 = alpha * a[(p + 1) * lda + i];
            float a2 = alpha * a[(p + 2) * lda + i], a3 = alpha * a[(p + 3) * lda + i];
            const float *b0 = b + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
            for (int64_t j = 0; j < n; j++)
                ci[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
        }
        for (; p < k; p++) {
            float ap = alpha * a[p * lda + i];
            const float *bp = b + p * ldb;
            for (int64_t j = 0; j < n; j++) ci[j] += ap * bp[j];
        }
    }
}

// C[i,j] += alpha · dot(A[i,:], B[j,:])   (op(B) = Bᵀ, B stored n×k)
static void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha,
                    const float *restrict a, int64_t lda, const float *restrict b,
                    int64_t ldb, float *restrict c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        const float *ai = a + i * lda;
        for (int64_t j = 0; j < n; j++) {
            const float *bj = b + j * ldb;
            // Eight partial sums: breaks the add dependency chain and lets the
            // compiler keep them in one vector register.
            float s[8] = {0};
            int64_t p = 0;
            for (; p + 8 <= k; p += 8)
                for (int q = 0; q < 8; q++) s[q] += ai[p + q] * bj[p + q];
            float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            for (; p < k; p++) t += ai[p] * bj[p];
            c[i * ldc + j] += alpha * t;
        }
    }
}

// Both transposed: rare, kept simple.
static void gemm_tt(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float t = 0;
            for (int64_t p = 0; p < k; p++) t += a[p * lda + i] * b[j * ldb + p];
            c[i * ldc + j] += alpha * t;
        }
}

void soma_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    scale_c(m, n, beta, c, ldc);
    if (k <= 0 || alpha == 0.0f) return;
    if (!trans_a && !trans_b) gemm_nn(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else if (trans_a && !trans_b) gemm_tn(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else if (!trans_a && trans_b) gemm_nt(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else gemm_tt(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
