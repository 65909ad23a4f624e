// soma_sgemm against a double-precision reference: every transpose, alpha and
// beta (beta = 0 must ignore NaN in C), odd sizes and leading dimensions, and
// exact results on small integers.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "cpu/cpu.h"

static void ref_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, double beta,
                     const float *c0, double *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c0[i * ldc + j]);
        }
}

static void fill(soma_rng *r, float *x, int64_t n, int integers) {
    for (int64_t i = 0; i < n; i++)
        x[i] = integers ? (float)((int)(soma_rng_u32(r) % 7) - 3) : 2 * soma_rng_unit_f(r) - 1;
}

// Runs one case; returns max error relative to the bound K·eps·Σ|a||b|.
static void check_case(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, float beta,
                       int64_t pad, int integers, soma_rng *r) {
    int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    int64_t arows = ta ? k : m, brows = tb ? n : k;
    float *a = malloc(sizeof(float) * (size_t)(arows * lda + 1));
    float *b = malloc(sizeof(float) * (size_t)(brows * ldb + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    float *c0 = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    double *ref = malloc(sizeof(double) * (size_t)(m * ldc + 1));
    // +1 offsets: unaligned pointers on purpose.
    float *ap = a + 1 - 1, *bp = b, *cp = c;
    fill(r, ap, arows * lda, integers);
    fill(r, bp, brows * ldb, integers);
    fill(r, c0, m * ldc, integers);
    for (int64_t i = 0; i < m * ldc; i++) cp[i] = beta == 0 ? NAN : c0[i];
    ref_gemm(ta, tb, m, n, k, alpha, ap, lda, bp, ldb, beta, c0, ref, ldc);
    soma_sgemm(ta, tb, m, n, k, alpha, ap, lda, bp, ldb, beta, cp, ldc);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double got = cp[i * ldc + j], want = ref[i * ldc + j];
            if (integers) {
                cr_assert_eq(got, want, "ta=%d tb=%d m=%lld n=%lld k=%lld (%lld,%lld): %g vs %g", ta, tb,
                             (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, got, want);
            } else {
                // |a|,|b| ≤ 1: the rounding error is bounded by ~ (k+2)·eps·(|alpha|·k + |beta|).
                double bound = (double)(k + 2) * 6e-8 * (fabs(alpha) * (double)k + fabs(beta) + 1);
                cr_assert(fabs(got - want) <= bound,
                          "ta=%d tb=%d m=%lld n=%lld k=%lld (%lld,%lld): %.9g vs %.9g (bound %g)", ta, tb,
                          (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, got, want,
                          bound);
            }
        }
    free(a);
    free(b);
    free(c);
    free(c0);
    free(ref);
}

static const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 33, 64, 67};

Test(gemm, all_transposes_small_sizes) {
    soma_rng r;
    soma_rng_init(&r, 1, 0);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i += 2)
                for (size_t j = 1; j < sizeof sizes / sizeof *sizes; j += 3)
                    for (size_t l = 0; l < sizeof sizes / sizeof *sizes; l += 4)
                        check_case(ta, tb, sizes[i], sizes[j], sizes[l], 1.0f, 0.0f, 0, 0, &r);
}

Test(gemm, alpha_beta_and_leading_dimensions) {
    soma_rng r;
    soma_rng_init(&r, 2, 0);
    const float ab[][2] = {{1, 1}, {0.5f, -2}, {-1.5f, 0}, {2, 0.25f}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t q = 0; q < 4; q++)
                check_case(ta, tb, 17, 33, 29, ab[q][0], ab[q][1], 3, 0, &r);
}

Test(gemm, larger_and_prime_sizes) {
    soma_rng r;
    soma_rng_init(&r, 3, 0);
    check_case(0, 0, 32, 128, 784, 1, 0, 0, 0, &r);   // the tutorial's forward
    check_case(1, 0, 784, 128, 32, 1, 0, 0, 0, &r);   // its weight gradient
    check_case(0, 1, 32, 784, 128, 1, 0, 0, 0, &r);   // its input gradient
    check_case(0, 0, 257, 67, 300, 1, 1, 1, 0, &r);   // crosses the k-panel
}

Test(gemm, exact_on_integers) {
    soma_rng r;
    soma_rng_init(&r, 4, 0);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) check_case(ta, tb, 23, 19, 300, 1, 1, 2, 1, &r);
}

Test(gemm, empty_and_k_zero) {
    float c[4] = {1, 2, 3, 4}, a[1] = {5}, b[1] = {7};
    soma_sgemm(0, 0, 2, 2, 0, 1, a, 1, b, 2, 2.0f, c, 2); // K = 0: C = beta·C
    cr_assert_eq(c[0], 2);
    cr_assert_eq(c[3], 8);
    soma_sgemm(0, 0, 0, 2, 3, 1, a, 1, b, 2, 0.0f, c, 2); // M = 0: nothing touched
    cr_assert_eq(c[0], 2);
}
