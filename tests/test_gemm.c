// soma_sgemm against a double-precision reference: every transpose, alpha and
// beta (beta = 0 must ignore NaN in C), odd sizes and leading dimensions, and
// exact results on small integers — first with the kernel set the CPU gets,
// then with every set this machine can run (generic, AVX2, AVX-512, NEON) forced in
// turn, on the direct and the packed path, with unaligned pointers, and bit
// for bit the same on 1, 2 and 3 threads. Then the worker pool itself:
// ranges, nesting, thread-count settings and a fork()ed child.
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cpu/cpu.h"
#include "cpu/gemm_internal.h"
#include "thread/pool.h"

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

// ---- every kernel set ---------------------------------------------------------------------

static const char *const kernel_names[] = {"generic", "avx2", "avx512", "neon"};
#define NKERNELS (int)(sizeof kernel_names / sizeof *kernel_names)

// Whether this machine must be able to run the named set: then forcing it
// failing is a test failure, not a skip.
static int must_have(const char *name) {
    if (strcmp(name, "generic") == 0) return 1;
#if defined(__x86_64__)
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // libgcc checks XCR0 for the opmask and ZMM state as well.
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0) return 1;
#endif
    return 0;
}

// Forces kernel set i; 0 when this build or CPU lacks it (and it may).
static int use_kernel(int i) {
    const char *name = kernel_names[i];
    int rc = soma_cpu_force(name);
    if (rc == SOMA_OK) {
        cr_assert_str_eq(soma_cpu_name(), name);
        return 1;
    }
    cr_assert(!must_have(name), "soma_cpu_force(%s): %s", name, soma_last_error());
    cr_assert_eq(rc, SOMA_E_UNSUPPORTED, "soma_cpu_force(%s) -> %d", name, rc);
    return 0;
}

typedef struct gcase {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    int64_t pad;  // extra columns in every leading dimension
    int offset;   // floats past a 64-byte boundary: unaligned pointers
    int integers; // small integers: the result must be exact
    int epilogue; // 0: soma_sgemm; 1: + bias; 2: + bias, relu; 3: relu (soma_sgemm_bias_act)
} gcase;

static void fill_values(soma_rng *r, float *x, int64_t n, int integers) {
    for (int64_t i = 0; i < n; i++)
        x[i] = integers ? (float)((int)(soma_rng_u32(r) % 7) - 3) : 2 * soma_rng_unit_f(r) - 1;
}

#define SENTINEL 12345.0f

// Runs one product with the active kernel set and checks every element of C
// against a double-precision reference, within (k + 4)·u·(|alpha|·Σ|a||b| +
// |beta|·|c|) with u = 2⁻²⁴ (exactly, on integers), and that the padding
// columns of C were not written.
static void run_case(const gcase *t, soma_rng *r) {
    int64_t m = t->m, n = t->n, k = t->k;
    int64_t lda = (t->ta ? m : k) + t->pad, ldb = (t->tb ? k : n) + t->pad, ldc = n + t->pad;
    int64_t arows = t->ta ? k : m, brows = t->tb ? n : k;
    float *abuf = soma_alloc(sizeof(float) * (size_t)(arows * lda + 16), 64);
    float *bbuf = soma_alloc(sizeof(float) * (size_t)(brows * ldb + 16), 64);
    float *cbuf = soma_alloc(sizeof(float) * (size_t)(m * ldc + 16), 64);
    float *c0 = malloc(sizeof(float) * (size_t)(m * ldc)), *bias = malloc(sizeof(float) * (size_t)n);
    double *ad = malloc(sizeof(double) * (size_t)(m * k)), *bd = malloc(sizeof(double) * (size_t)(k * n));
    double *ref = calloc((size_t)(m * n), sizeof(double)), *mag = calloc((size_t)(m * n), sizeof(double));
    cr_assert(abuf && bbuf && cbuf && c0 && bias && ad && bd && ref && mag);
    int add_bias = t->epilogue == 1 || t->epilogue == 2, relu = t->epilogue >= 2;
    float *a = abuf + t->offset, *b = bbuf + t->offset, *c = cbuf + t->offset;
    fill_values(r, a, arows * lda, t->integers);
    fill_values(r, b, brows * ldb, t->integers);
    fill_values(r, c0, m * ldc, t->integers);
    fill_values(r, bias, n, t->integers);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++)
            c[i * ldc + j] = j >= n ? SENTINEL : t->beta == 0 ? NAN : c0[i * ldc + j];
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) ad[i * k + p] = t->ta ? a[p * lda + i] : a[i * lda + p];
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < n; j++) bd[p * n + j] = t->tb ? b[j * ldb + p] : b[p * ldb + j];

    if (t->epilogue)
        soma_sgemm_bias_act(t->ta, t->tb, m, n, k, t->alpha, a, lda, b, ldb, t->beta, c, ldc,
                            add_bias ? bias : NULL, relu);
    else
        soma_sgemm(t->ta, t->tb, m, n, k, t->alpha, a, lda, b, ldb, t->beta, c, ldc);

    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) {
            double av = ad[i * k + p];
            for (int64_t j = 0; j < n; j++) {
                ref[i * n + j] += av * bd[p * n + j];
                mag[i * n + j] += fabs(av * bd[p * n + j]);
            }
        }
    const double u = ldexp(1.0, -24);
    double worst = 0;
    int64_t wi = -1, wj = -1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            float got = c[i * ldc + j];
            if (j >= n) {
                cr_assert(got == SENTINEL, "%s ta=%d tb=%d %lldx%lldx%lld: padding C[%lld,%lld] written",
                          soma_cpu_name(), t->ta, t->tb, (long long)m, (long long)n, (long long)k,
                          (long long)i, (long long)j);
                continue;
            }
            double cv = t->beta == 0 ? 0 : c0[i * ldc + j], bv = add_bias ? bias[j] : 0;
            double want = (double)t->alpha * ref[i * n + j] + (double)t->beta * cv + bv;
            if (relu && want < 0) want = 0; // |relu(x) − relu(y)| ≤ |x − y|: same bound
            double bound = t->integers ? 0
                                       : (double)(k + 4) * u *
                                             (fabs(t->alpha) * mag[i * n + j] + fabs(t->beta) * fabs(cv) +
                                              fabs(bv));
            double excess = isfinite(got) ? fabs(got - want) - bound : INFINITY;
            if (excess > worst || (wi < 0 && excess > 0)) {
                worst = excess;
                wi = i;
                wj = j;
            }
        }
    if (wi >= 0)
        cr_assert_fail("%s ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g pad=%lld off=%d "
                       "epilogue=%d: C[%lld,%lld] = %.9g is off by more than the bound (by %g)",
                       soma_cpu_name(), t->ta, t->tb, (long long)m, (long long)n, (long long)k,
                       t->alpha, t->beta, (long long)t->pad, t->offset, t->epilogue, (long long)wi,
                       (long long)wj, c[wi * ldc + wj], worst);
    soma_free(abuf);
    soma_free(bbuf);
    soma_free(cbuf);
    free(c0);
    free(bias);
    free(ad);
    free(bd);
    free(ref);
    free(mag);
}

static const float alpha_beta[][2] = {{1, 0}, {0.5f, -2}, {-1.5f, 0}, {2, 0.25f}, {1, 1}};

// Every value 1…67 appears as M, as N and as K for every transpose: n and k
// run through other permutations of 1…67 than m, and alpha/beta, padding and
// pointer offsets cycle along.
Test(gemm_kernels, sizes_1_to_67_every_transpose) {
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 10, (uint64_t)ki);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int64_t s = 1; s <= 67; s++) {
                    int q = (int)(s % 5);
                    gcase t = {ta, tb, s, (s * 29) % 67 + 1, (s * 41 + 7) % 67 + 1,
                               alpha_beta[q][0], alpha_beta[q][1], s % 4, (int)(s % 3), 0, 0};
                    run_case(&t, &r);
                }
    }
    cr_assert_geq(tested, 1);
}

// Primes, 257, 1000, 1023, and shapes that cross every cache block (two
// k-blocks, two mc-blocks, two nc-blocks), on the direct and the packed path.
Test(gemm_kernels, large_prime_and_blocked_sizes) {
    static const struct {
        int ta, tb;
        int64_t m, n, k;
        int direct; // the path soma_sgemm_plan must report
    } shapes[] = {
        {0, 0, 257, 67, 300, 1},  {1, 0, 257, 67, 300, 1},  {0, 1, 257, 67, 300, 0},
        {1, 1, 257, 67, 300, 0},  {0, 0, 1000, 13, 37, 1},  {1, 0, 37, 1000, 13, 1},
        {0, 1, 13, 37, 1000, 0},  {0, 0, 1023, 5, 11, 1},   {0, 0, 7, 1023, 1000, 1},
        {1, 1, 11, 5, 1023, 0},   {0, 0, 150, 530, 300, 0}, {1, 0, 150, 530, 300, 0},
        {0, 1, 150, 37, 300, 0},  {1, 1, 149, 41, 301, 0},  {0, 0, 17, 4100, 33, 0},
        {0, 1, 3, 4100, 17, 0},   {0, 1, 150, 530, 300, 0}, {1, 1, 150, 530, 300, 0},
        // Bᵀ of 256 KiB that padding to 16 floats makes 4 MiB: the packed path (the panel
        // path once overran its buffer here).
        {0, 1, 9, 1, 65536, 0},
        // More rows than one packed block of A on AVX-512 (2048), several
        // k-blocks, a last block of B 40 columns wide (a partial 48 panel).
        {0, 1, 2056, 232, 600, 0},
        // The panel path on a training step's input gradients, and with
        // Bᵀ's rows padded (130 columns: 144) under a transposed A.
        {0, 1, 256, 64, 10, 0}, {0, 1, 32, 128, 64, 0}, {1, 1, 150, 130, 64, 0},
    };
    soma_set_num_threads(1);
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 11, (uint64_t)ki);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            soma_gemm_plan plan = soma_sgemm_plan(shapes[i].ta, shapes[i].tb, shapes[i].m,
                                                  shapes[i].n, shapes[i].k);
            cr_assert_eq(plan.direct, shapes[i].direct, "shape %zu: direct=%d", i, plan.direct);
            // A·Bᵀ with Bᵀ of at most 256 KiB packed (its rows padded to
            // 16 floats), not on the dot kernel: the panel path.
            cr_assert_eq(plan.panel, shapes[i].tb && !plan.dot &&
                                         (shapes[i].n + 15) / 16 * 16 * shapes[i].k * 4 <= 256 * 1024,
                         "shape %zu: panel=%d", i, plan.panel);
            int q = (int)(i % 5);
            gcase t = {shapes[i].ta, shapes[i].tb, shapes[i].m, shapes[i].n, shapes[i].k,
                       alpha_beta[q][0], alpha_beta[q][1], (int64_t)(i % 3) * 3 + 1, (int)(i % 4), 0, 0};
            run_case(&t, &r);
        }
    }
    cr_assert_geq(tested, 1);
}

// A set with packed_from (AVX2) sends an NN or TN product whose B is past L1
// but small enough for the direct path to the packed path when m and n are
// both large: 1/m + 1/n < 1/packed_from (gemm_internal.h). Sets without it
// keep the direct path. A set with tn_panel_from (AVX2) sends a TN product
// whose B is past L1 but not packed that way, with enough rows and k ≤ 256,
// to the panel path (B in 16-column panels). The choice is the same on 1 and
// 2 threads (the paths round differently), and every shape is checked against
// the reference.
Test(gemm_kernels, packed_when_b_leaves_l1) {
    // The AVX2 set's path: 'd' direct, 'p' packed, 'n' panels of B (TN).
    static const struct {
        int ta;
        int64_t m, n, k;
        char path;
    } shapes[] = {
        {1, 784, 128, 256, 'p'}, // 1/784 + 1/128 < 1/96
        {0, 257, 257, 257, 'p'}, // 2/257
        {0, 256, 128, 784, 'd'}, // 1/256 + 1/128 > 1/96
        {0, 128, 128, 784, 'd'}, // 2/128
        {1, 128, 64, 256, 'n'},  // 1/128 + 1/64, TN with 64 rows or more
        {1, 63, 64, 256, 'd'},   // one row fewer
        {1, 128, 64, 257, 'd'},  // a k×16 panel over 16 KB
        {0, 128, 64, 256, 'd'},  // NN: A's rows stay in L1, B in place
        {1, 784, 128, 32, 'd'},  // B of 4096 floats stays in L1
        {0, 512, 192, 64, 'p'},  // 1/512 + 1/192, B of 12288 floats
        {0, 512, 192, 40, 'd'},  // the same with B of 7680 floats, in L1
    };
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        const soma_cpu_kernels *ks = soma_cpu_kernels_active();
        const int rule = ks->packed_from != 0;
        // Measured on Zen 3 for the AVX2 set only (gemm_avx2.c).
        cr_assert_eq(rule, strcmp(soma_cpu_name(), "avx2") == 0, "%s", soma_cpu_name());
        cr_assert_eq(ks->tn_panel_from != 0, rule, "%s", soma_cpu_name());
        soma_rng r;
        soma_rng_init(&r, 19, (uint64_t)ki);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            const char want = rule ? shapes[i].path : 'd';
            for (int threads = 2; threads >= 1; threads--) {
                soma_set_num_threads(threads);
                soma_gemm_plan p = soma_sgemm_plan(shapes[i].ta, 0, shapes[i].m, shapes[i].n, shapes[i].k);
                const char got = p.direct ? 'd' : p.panel ? 'n' : p.dot ? '.' : 'p';
                cr_assert_eq(got, want, "%s, shape %zu, %d threads: path %c, want %c",
                             soma_cpu_name(), i, threads, got, want);
            }
            int q = (int)(i % 5);
            gcase t = {shapes[i].ta, 0, shapes[i].m, shapes[i].n, shapes[i].k,
                       alpha_beta[q][0], alpha_beta[q][1], (int64_t)(i % 2), (int)(i % 3), 0, (int)(i % 4)};
            run_case(&t, &r);
        }
    }
    cr_assert_geq(tested, 1);
}

Test(gemm_kernels, exact_on_integers_both_paths) {
    static const int64_t shapes[][3] = {{23, 19, 300}, {5, 77, 1000}, {20, 460, 300}, {61, 3, 999}};
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 12, (uint64_t)ki);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
                    // |sum| ≤ 9·1000 and beta ∈ {0, 1, 2}: every step is exact.
                    float beta = (float)((ta + 2 * tb + (int)i) % 3);
                    gcase t = {ta, tb, shapes[i][0], shapes[i][1], shapes[i][2], 1, beta, 1, 1, 1, 0};
                    run_case(&t, &r);
                }
    }
    cr_assert_geq(tested, 1);
}

// The direct kernels split a call into rows (1 … direct_mr, or narrow_mr, at a time) and
// column tiles whose widths depend on n: every row count a kernel has, with
// column counts that leave every tail width, as wide as the forward pass of
// the tutorial (784 inputs) and past 8 vectors of 16, each against the
// reference, with the bias/relu epilogue on every other one.
Test(gemm_kernels, direct_every_row_count_and_width) {
    static const int64_t widths[] = {1, 10, 16, 33, 64, 100, 128, 129, 144, 200, 784};
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 18, (uint64_t)ki);
        const soma_cpu_kernels *ks = soma_cpu_kernels_active();
        const int64_t rows = (ks->narrow_mr > ks->direct_mr ? ks->narrow_mr : ks->direct_mr) + 1;
        for (int64_t m = 1; m <= rows; m++)
            for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
                int q = (int)((m + (int64_t)w) % 5), ta = (int)(w % 2);
                // k = 1 (an outer product: AVX-512 has its own loop) every third case.
                int64_t k = (m + (int64_t)w) % 3 == 0 ? 1 : 3 + (m * 7 + (int64_t)w * 5) % 41;
                cr_assert(soma_sgemm_plan(ta, 0, m, widths[w], k).direct);
                gcase t = {ta, 0, m, widths[w], k, alpha_beta[q][0], alpha_beta[q][1],
                           (int64_t)(w % 3), (int)(m % 3), 0, (int)((m + (int64_t)w) % 4)};
                run_case(&t, &r);
            }
    }
    cr_assert_geq(tested, 1);
}

// Runs soma_sgemm_bias_act on random values with the active set and checks
// every element of C bit for bit against its definition: per k-block of kc
// (one block when kc >= k), the FMA chain from zero, then alpha·acc + beta·C
// on the first block and alpha·acc + C on the others, each product and sum
// rounded on its own; + bias (epi 1, 2), relu (epi 2, 3) after the last. The
// padding columns of C must come back untouched.
static void check_fma_chain(soma_rng *r, int ta, int tb, int64_t m, int64_t n, int64_t k,
                            int64_t kc, float alpha, float beta, int64_t lda, int64_t ldb,
                            int64_t ldc, int epi) {
    float *a = malloc(sizeof(float) * (size_t)((ta ? k : m) * lda));
    float *b = malloc(sizeof(float) * (size_t)((tb ? n : k) * ldb));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc));
    float *want = malloc(sizeof(float) * (size_t)(m * ldc)), *bias = malloc(sizeof(float) * (size_t)n);
    cr_assert(a && b && c && want && bias);
    fill_values(r, a, (ta ? k : m) * lda, 0);
    fill_values(r, b, (tb ? n : k) * ldb, 0);
    fill_values(r, c, m * ldc, 0);
    fill_values(r, bias, n, 0);
    const float *bi = epi == 1 || epi == 2 ? bias : NULL;
    const int relu = epi >= 2;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            volatile float t = c[i * ldc + j];
            if (j < n) {
                for (int64_t p0 = 0; p0 < k; p0 += kc) {
                    float acc = 0.0f;
                    for (int64_t p = p0; p < k && p < p0 + kc; p++)
                        acc = fmaf(ta ? a[p * lda + i] : a[i * lda + p],
                                   tb ? b[j * ldb + p] : b[p * ldb + j], acc);
                    const float bk = p0 == 0 ? beta : 1.0f;
                    // volatile: no fused multiply-add where the kernels round twice
                    volatile float prod = alpha * acc, old = bk * t;
                    t = bk == 0.0f ? prod : prod + old;
                }
                if (bi) t = t + bi[j];
                if (relu) t = t < 0.0f ? 0.0f : t;
            }
            want[i * ldc + j] = t;
        }
    soma_sgemm_bias_act(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bi, relu);
    for (int64_t x = 0; x < m * ldc; x++)
        cr_assert(memcmp(&c[x], &want[x], sizeof(float)) == 0,
                  "%s ta=%d tb=%d %lldx%lldx%lld kc %lld epilogue %d: C[%lld,%lld] = %.9g, the "
                  "FMA chain gives %.9g",
                  soma_cpu_name(), ta, tb, (long long)m, (long long)n, (long long)k, (long long)kc,
                  epi, (long long)(x / ldc), (long long)(x % ldc), c[x], want[x]);
    free(a);
    free(b);
    free(c);
    free(want);
    free(bias);
}

// The x86 SIMD sets compute every element of a one-k-block product as the
// FMA chain over p from zero, then alpha·acc (+ beta·c) (+ bias) (relu): the
// bits of fmaf in a scalar loop. (NEON runs the generic direct kernel, whose
// epilogue the compiler may contract into an FMA: not checked here.) Checked
// bit for bit where the layout changes most with the shape: narrow products
// (n <= 16, which AVX-512 and AVX2 compute with the rows in the lanes), every
// n up to 17, row counts around 8, 16 and 32, k around the 16-column blocks,
// NN, TN and NT (not the dot kernel's few-row NT, whose order is its own).
Test(gemm_kernels, simd_sets_compute_the_fma_chain) {
    static const int64_t ms[] = {1, 3, 9, 16, 17, 31, 32, 33, 70};
    static const int64_t ks[] = {1, 2, 15, 16, 17, 37, 64};
    int tested = 0;
    for (int ki = 1; ki < NKERNELS; ki++) { // not generic: baseline x86-64 has no FMA
        if (strcmp(kernel_names[ki], "neon") == 0 || !use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 19, (uint64_t)ki);
        int cases = 0;
        for (int64_t n = 1; n <= 17; n++)
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                for (size_t kj = 0; kj < sizeof ks / sizeof *ks; kj++) {
                    const int64_t m = ms[mi], k = ks[kj];
                    const int v = (int)(n + (int64_t)mi * 3 + (int64_t)kj), ta = v % 3 == 1,
                              tb = v % 3 == 2, epi = v % 4;
                    if (soma_sgemm_plan(ta, tb, m, n, k).dot) continue;
                    const float alpha = alpha_beta[v % 5][0], beta = alpha_beta[v % 5][1];
                    const int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
                    check_fma_chain(&r, ta, tb, m, n, k, k, alpha, beta, lda, ldb, ldc, epi);
                    cases++;
                }
        cr_assert_gt(cases, 900, "%s: %d cases", soma_cpu_name(), cases);
    }
    cr_assert(tested >= 1 || !must_have("avx2"), "no x86 SIMD set was checked");
}

// The packed path on every SIMD set gives each element the bits of its
// definition per k-block of kc (check_fma_chain). The widths cross every
// kind of panel of a block of B (with AVX-512's 48 and 32 on blocks of 192:
// all wide, a 16 remainder as two panels of 32, 20 as one, 42 and 40 as a
// partial wide one), the rows a partial micro-panel, k two and a half
// blocks; with 2 threads the rows are split between them.
Test(gemm_kernels, packed_path_computes_the_blocked_fma_chain) {
    static const int64_t ns[] = {256, 260, 288, 330, 424};
    static const int64_t ms[] = {21, 37};
    int tested = 0;
    for (int ki = 1; ki < NKERNELS; ki++) { // not generic: baseline x86-64 has no FMA
        if (strcmp(kernel_names[ki], "neon") == 0 || !use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 23, (uint64_t)ki);
        const int64_t kc = soma_cpu_kernels_active()->kc, k = 2 * kc + kc / 2 + 3;
        int v = 0;
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++, v++) {
                const int64_t m = ms[mi], n = ns[ni];
                const int ta = v % 4 / 2, tb = v % 2, epi = (v + v / 4) % 4;
                const soma_gemm_plan plan = soma_sgemm_plan(ta, tb, m, n, k);
                cr_assert(!plan.direct && !plan.dot && !plan.panel,
                          "%s %lldx%lldx%lld: not the packed path", soma_cpu_name(), (long long)m,
                          (long long)n, (long long)k);
                const float alpha = alpha_beta[v % 5][0], beta = alpha_beta[v % 5][1];
                const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 5;
                check_fma_chain(&r, ta, tb, m, n, k, kc, alpha, beta, lda, ldb, ldc, epi);
            }
    }
    cr_assert(tested >= 1 || !must_have("avx2"), "no x86 SIMD set was checked");
}

// BLAS: beta = 0 overwrites C without reading it (NaN ignored); alpha = 0 or
// k = 0 leaves beta·C and reads neither A nor B (NaN there ignored too).
Test(gemm_kernels, beta_zero_and_alpha_zero_ignore_nan) {
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 13, (uint64_t)ki);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gcase direct = {ta, tb, 7, 33, 20, 1.5f, 0, 0, 1, 0, 0};
                gcase packed = {ta, tb, 40, 700, 300, -1, 0, 2, 3, 0, 0};
                run_case(&direct, &r);
                run_case(&packed, &r);
            }
        float a[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, b[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
        float c[4] = {1, -2, NAN, 4};
        soma_sgemm(0, 0, 2, 2, 3, 0.0f, a, 3, b, 2, 0.0f, c, 2);
        for (int i = 0; i < 4; i++) cr_assert(c[i] == 0.0f, "alpha = beta = 0: c[%d] = %g", i, c[i]);
        float d[4] = {1, -2, 3, 4};
        soma_sgemm(1, 1, 2, 2, 3, 0.0f, a, 2, b, 3, 2.0f, d, 2);
        cr_assert(d[0] == 2 && d[1] == -4 && d[2] == 6 && d[3] == 8, "alpha = 0, beta = 2");
        float e[4] = {1, -2, 3, 4};
        soma_sgemm(0, 0, 2, 2, 0, 1.0f, a, 1, b, 2, -1.0f, e, 2);
        cr_assert(e[0] == -1 && e[3] == -4, "k = 0: C = beta·C");
    }
    cr_assert_geq(tested, 1);
}

// bias and relu on the tile (soma_sgemm_bias_act): both paths, edges, every
// transpose, exact on integers; NaN survives relu; k = 0 still gets them.
Test(gemm_kernels, bias_relu_epilogue) {
    static const int64_t shapes[][3] = {{7, 33, 20}, {29, 10, 64}, {20, 460, 300}, {150, 37, 300}};
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 17, (uint64_t)ki);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                    for (int e = 1; e <= 3; e++) {
                        int q = (int)((i + (size_t)e) % 5);
                        gcase t = {ta, tb, shapes[i][0], shapes[i][1], shapes[i][2],
                                   alpha_beta[q][0], alpha_beta[q][1], 1, e, (e + ta) % 2, e};
                        run_case(&t, &r);
                    }
        // A NaN in row 0 of A: all of row 0 of C is NaN after relu, the rest finite.
        for (int pass = 0; pass < 2; pass++) {
            int64_t m = pass ? 20 : 5, n = pass ? 460 : 20, k = pass ? 300 : 9;
            float *a = calloc((size_t)(m * k), sizeof(float)), *b = malloc(sizeof(float) * (size_t)(k * n));
            float *c = malloc(sizeof(float) * (size_t)(m * n));
            fill_values(&r, b, k * n, 0);
            a[3] = NAN;
            cr_assert_eq(soma_sgemm_plan(0, 0, m, n, k).direct, !pass);
            soma_sgemm_bias_act(0, 0, m, n, k, 1, a, k, b, n, 0, c, n, NULL, 1);
            for (int64_t j = 0; j < n; j++)
                cr_assert(isnan(c[j]), "%s: C[0,%lld] = %g", soma_cpu_name(), (long long)j, c[j]);
            for (int64_t j = n; j < m * n; j++) cr_assert(c[j] == 0.0f, "C[%lld] = %g", (long long)j, c[j]);
            free(a);
            free(b);
            free(c);
        }
        float c[4] = {1, -2, 3, -4}, bias[2] = {0.5f, 1.0f};
        soma_sgemm_bias_act(0, 0, 2, 2, 0, 1, NULL, 1, NULL, 2, 2.0f, c, 2, bias, 1);
        cr_assert(c[0] == 2.5f && c[1] == 0 && c[2] == 6.5f && c[3] == 0, "k = 0: relu(2C + bias)");
    }
    cr_assert_geq(tested, 1);
}

// The panel path packs all of Bᵀ (NT) as one panel as wide as its columns
// rounded up to 16: each set's pack_b must give that layout, element (p, i)
// at dst[p·mr + i] = Bᵀ(i, p), zeros for i ≥ m, for any width and any k
// (16×16 and 8×8 transposes and the scalar tail), and write nothing past
// mr·k floats.
Test(gemm_kernels, pack_b_one_wide_panel) {
    static const int widths[] = {16, 32, 48, 64, 80, 128, 144};
    static const int64_t ks[] = {1, 3, 8, 15, 16, 17, 40, 71};
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        const soma_pack_fn pack = soma_cpu_kernels_active()->pack_b;
        soma_rng r;
        soma_rng_init(&r, 15, (uint64_t)ki);
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
            const int mr = widths[w];
            const int64_t rows[] = {1, 5, 8, 13, 16, mr - 3, mr};
            for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++)
                for (size_t kk = 0; kk < sizeof ks / sizeof *ks; kk++) {
                    const int64_t m = rows[ri], k = ks[kk], rs = k + 5;
                    if (m < 1 || m > mr) continue;
                    float *x = soma_alloc(sizeof(float) * (size_t)(m * rs), 64);
                    float *d = soma_alloc(sizeof(float) * (size_t)(mr * k + 64), 64);
                    fill_values(&r, x, m * rs, 0);
                    for (int64_t i = 0; i < mr * k + 64; i++) d[i] = -7.0f;
                    pack(mr, m, k, x, rs, 1, d);
                    for (int64_t p = 0; p < k; p++)
                        for (int64_t i = 0; i < mr; i++)
                            cr_assert_eq(d[p * mr + i], i < m ? x[i * rs + p] : 0.0f,
                                         "%s: width %d, %ld rows, k %ld: element (%ld, %ld)",
                                         soma_cpu_name(), mr, (long)m, (long)k, (long)p, (long)i);
                    for (int64_t i = mr * k; i < mr * k + 64; i++)
                        cr_assert_eq(d[i], -7.0f, "%s: width %d, %ld rows, k %ld: wrote past the panel",
                                     soma_cpu_name(), mr, (long)m, (long)k);
                    soma_free(x);
                    soma_free(d);
                }
        }
    }
    cr_assert(tested >= 1);
}

// Pieces are whole micro-tiles and never split k: 1, 2 and 3 threads must
// give the same bits, on both paths and along M and along N.
Test(gemm_kernels, threads_bit_identical) {
    static const struct {
        int ta, tb;
        int64_t m, n, k;
        int direct; // 2: direct, but panels of B on a set with tn_panel_from
        int split_m;
    } shapes[] = {
        {0, 0, 100, 120, 200, 1, 1}, {1, 0, 97, 131, 150, 2, 1}, {0, 0, 150, 530, 300, 0, 1},
        {0, 1, 151, 200, 300, 0, 1}, {1, 1, 120, 130, 140, 0, 1}, {0, 0, 3, 1000, 300, 1, 0},
        {0, 1, 4, 1000, 301, 0, 0}, {0, 1, 1, 2000, 301, 0, 0}, {0, 1, 3, 1000, 77, 0, 0},
        // The panel path split along N: each thread packs its columns of Bᵀ.
        {0, 1, 4, 600, 80, 0, 0},
        // Packed by rows (B shared by the threads in BLIS' order): several
        // k-blocks, and more columns than one block of B (nc) holds.
        {0, 0, 200, 700, 600, 0, 1}, {0, 1, 20, 4200, 30, 0, 1},
        // More rows than a packed block of A holds on AVX-512 (2048), twice
        // over on 2 threads, each thread packing its own blocks of B.
        {0, 1, 4200, 100, 700, 0, 1},
        // Direct, split in 8-row pieces on AVX-512 (3 threads: rows 24 and 48).
        {1, 0, 72, 40, 50, 1, 1},
        // Narrow (n <= 16): AVX-512 puts rows in the lanes, 32 to a piece.
        {1, 0, 200, 10, 100, 1, 1}, {0, 0, 190, 12, 130, 1, 1},
    };
    int tested = 0;
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        tested++;
        soma_rng r;
        soma_rng_init(&r, 14, (uint64_t)ki);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int64_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
            int64_t lda = shapes[s].ta ? m : k, ldb = shapes[s].tb ? k : n;
            float *a = soma_alloc(sizeof(float) * (size_t)(m * k), 64);
            float *b = soma_alloc(sizeof(float) * (size_t)(k * n), 64);
            float *c[3];
            fill_values(&r, a, m * k, 0);
            fill_values(&r, b, k * n, 0);
            for (int t = 0; t < 3; t++) {
                soma_set_num_threads(t + 1);
                soma_gemm_plan plan = soma_sgemm_plan(shapes[s].ta, shapes[s].tb, m, n, k);
                cr_assert_eq(plan.parts, t + 1, "shape %zu, %d threads: %d pieces", s, t + 1, plan.parts);
                const int panels = shapes[s].direct == 2 && soma_cpu_kernels_active()->tn_panel_from;
                cr_assert_eq(plan.direct, shapes[s].direct != 0 && !panels, "shape %zu", s);
                if (panels) cr_assert(plan.panel, "shape %zu", s);
                // NT with at most 3 rows: the dot-product kernel, where the set has one.
                cr_assert_eq(plan.dot, shapes[s].tb && !shapes[s].ta && m <= 3 &&
                                           soma_cpu_kernels_active()->dot != NULL, "shape %zu", s);
                if (t > 0) cr_assert_eq(plan.split_m, shapes[s].split_m, "shape %zu", s);
                c[t] = soma_alloc(sizeof(float) * (size_t)(m * n), 64);
                for (int64_t i = 0; i < m * n; i++) c[t][i] = (float)(i % 13) * 0.25f;
                soma_sgemm(shapes[s].ta, shapes[s].tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, c[t], n);
            }
            for (int t = 1; t < 3; t++)
                cr_assert(memcmp(c[0], c[t], sizeof(float) * (size_t)(m * n)) == 0,
                          "%s shape %zu: %d threads differ from 1", soma_cpu_name(), s, t + 1);
            for (int t = 0; t < 3; t++) soma_free(c[t]);
            soma_free(a);
            soma_free(b);
        }
    }
    soma_set_num_threads(0);
    cr_assert_geq(tested, 1);
}

// Where a product stops being worth splitting (gemm.c, PARALLEL_MIN_FLOPS,
// 1e5 flops): the output layer's three products at batch 128 (1.6e5) split
// on two threads, those at batch 32 (4e4) stay on the calling thread, for
// every kernel set (the rule looks at the flops, not the set).
Test(gemm_kernels, small_products_stay_on_the_caller) {
    static const struct { int ta, tb; int64_t m, n, k; int parts; } cases[] = {
        {0, 1, 128, 64, 10, 2}, {0, 0, 128, 10, 64, 2}, {1, 0, 64, 10, 128, 2},
        {0, 1, 32, 64, 10, 1},  {0, 0, 32, 10, 64, 1},  {1, 0, 64, 10, 32, 1},
    };
    soma_set_num_threads(2);
    for (int ki = 0; ki < NKERNELS; ki++) {
        if (!use_kernel(ki)) continue;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            soma_gemm_plan p = soma_sgemm_plan(cases[i].ta, cases[i].tb, cases[i].m, cases[i].n,
                                               cases[i].k);
            cr_assert_eq(p.parts, cases[i].parts, "%s, %c%c %lldx%lldx%lld: %d pieces",
                         soma_cpu_name(), cases[i].ta ? 'T' : 'N', cases[i].tb ? 'T' : 'N',
                         (long long)cases[i].m, (long long)cases[i].n, (long long)cases[i].k,
                         p.parts);
        }
    }
    soma_set_num_threads(0);
}

// The buffers come back after soma_cpu_shutdown, in this thread and in the
// workers.
Test(gemm_kernels, shutdown_then_reuse) {
    soma_rng r;
    soma_rng_init(&r, 15, 0);
    soma_set_num_threads(2);
    gcase t = {0, 1, 150, 200, 300, 1, 0, 0, 0, 0, 0};
    run_case(&t, &r);
    soma_cpu_shutdown();
    run_case(&t, &r);
    soma_pool_shutdown();
    soma_cpu_shutdown();
    run_case(&t, &r);
}

// ---- the worker pool ----------------------------------------------------------------------

typedef struct range_log {
    int hits[1000];
    int index_seen[4];
    pthread_t tid[4];
    _Atomic int calls;
} range_log;

static void log_range(void *arg, int64_t begin, int64_t end, int thread_index) {
    range_log *l = arg;
    for (int64_t i = begin; i < end; i++) l->hits[i]++;
    l->index_seen[thread_index]++;
    l->tid[thread_index] = pthread_self();
    l->calls++;
}

// Range 0 (the caller's) waits until range 1 has started: only a worker can
// run it then, so the two ranges provably run at once, on two threads.
typedef struct meeting {
    _Atomic int started1;
    int met;
    pthread_t tid[2];
} meeting;

static void meet(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)begin;
    (void)end;
    meeting *mt = arg;
    mt->tid[thread_index] = pthread_self();
    if (thread_index == 1) {
        atomic_store(&mt->started1, 1);
        return;
    }
    for (int i = 0; i < 20000 && !atomic_load(&mt->started1); i++) // 20 s at most
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    mt->met = atomic_load(&mt->started1);
}

static int ran_in_parallel(void) {
    meeting mt = {0};
    soma_parallel_for(NULL, 2, meet, &mt);
    return mt.met && !pthread_equal(mt.tid[0], mt.tid[1]) && pthread_equal(mt.tid[0], pthread_self());
}

Test(pool, ranges_cover_each_index_once_on_distinct_threads) {
    soma_set_num_threads(2);
    cr_assert_eq(soma_get_num_threads(), 2);
    cr_assert(ran_in_parallel(), "range 1 did not run on a worker while range 0 ran");
    for (int rep = 0; rep < 50; rep++) {
        range_log l;
        memset(&l, 0, sizeof l);
        soma_parallel_for(NULL, 1000, log_range, &l);
        for (int i = 0; i < 1000; i++) cr_assert_eq(l.hits[i], 1, "index %d hit %d times", i, l.hits[i]);
        cr_assert_eq(l.calls, 2);
        cr_assert_eq(l.index_seen[0], 1);
        cr_assert_eq(l.index_seen[1], 1);
        cr_assert(pthread_equal(l.tid[0], pthread_self()), "the caller runs range 0");
    }
    cr_assert(ran_in_parallel(), "after 50 jobs");
    // One index, or one thread: inline, one call.
    range_log l;
    memset(&l, 0, sizeof l);
    soma_parallel_for(NULL, 1, log_range, &l);
    cr_assert_eq(l.calls, 1);
    soma_set_num_threads(1);
    memset(&l, 0, sizeof l);
    soma_parallel_for(NULL, 1000, log_range, &l);
    cr_assert_eq(l.calls, 1);
    cr_assert_eq(l.hits[999], 1);
}

// A team of 3 passes 200 barriers; at each, every member must find the
// others' marks of that round (a member that ran ahead would have changed
// its mark, one that lagged not yet written it).
typedef struct team_log {
    _Atomic int round[3];
    _Atomic int bad, members, size_seen;
} team_log;

static void team_member(void *arg, soma_team *team, int index, int size) {
    team_log *t = arg;
    atomic_fetch_add(&t->members, 1);
    atomic_store(&t->size_seen, size);
    for (int r = 1; r <= 200; r++) {
        atomic_store(&t->round[index], r);
        soma_team_barrier(team);
        for (int i = 0; i < size; i++)
            if (atomic_load(&t->round[i]) != r) atomic_fetch_add(&t->bad, 1);
        soma_team_barrier(team);
    }
}

static void team_inside_range(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)end, (void)thread_index;
    if (begin == 0) *(int *)arg = soma_parallel_team(NULL, 3, team_member, &(team_log){0});
}

Test(pool, team_members_meet_at_barriers) {
    soma_set_num_threads(3);
    team_log t = {0};
    cr_assert_eq(soma_parallel_team(NULL, 3, team_member, &t), 3);
    cr_assert_eq(atomic_load(&t.members), 3);
    cr_assert_eq(atomic_load(&t.size_seen), 3);
    cr_assert_eq(atomic_load(&t.bad), 0, "%d members passed a barrier early", atomic_load(&t.bad));
    // Asked for fewer, or inside a range (the pool runs inline): that many, or one.
    team_log two = {0};
    cr_assert_eq(soma_parallel_team(NULL, 2, team_member, &two), 2);
    cr_assert_eq(atomic_load(&two.members), 2);
    int inner = 0;
    soma_parallel_for(NULL, 2, team_inside_range, &inner);
    cr_assert_eq(inner, 1);
    soma_set_num_threads(1);
    team_log one = {0};
    cr_assert_eq(soma_parallel_team(NULL, 3, team_member, &one), 1);
    cr_assert_eq(atomic_load(&one.members), 1);
    soma_set_num_threads(0);
}

static void nested(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)begin;
    (void)end;
    (void)thread_index;
    range_log *outer = arg;
    range_log inner;
    memset(&inner, 0, sizeof inner);
    soma_parallel_for(NULL, 100, log_range, &inner); // must run inline, whole
    if (inner.calls == 1 && inner.index_seen[0] == 1 && inner.hits[99] == 1) outer->calls++;
}

Test(pool, nested_parallel_for_runs_inline) {
    soma_set_num_threads(2);
    range_log l;
    memset(&l, 0, sizeof l);
    soma_parallel_for(NULL, 2, nested, &l);
    cr_assert_eq(l.calls, 2);
}

Test(pool, thread_count_from_environment) {
    setenv("SOMA_NUM_THREADS", "3", 1);
    cr_assert_eq(soma_get_num_threads(), 3);
    cr_assert_eq(soma_set_num_threads(5), 0);
    cr_assert_eq(soma_get_num_threads(), 5);
    cr_assert_eq(soma_set_num_threads(0), 5);
    cr_assert_eq(soma_get_num_threads(), 3);
}

// Criterion forks; so may any host. A child must not wait on its parent's
// workers: it starts its own and computes the same bits.
Test(pool, forked_child_runs_its_own_workers) {
    if (getenv("SOMA_TEST_EMULATED"))
        cr_skip_test("under %s: qemu-user 7.2 aborts a forked child of a threaded process that "
                     "starts threads", getenv("SOMA_TEST_EMULATED"));
    soma_set_num_threads(2);
    soma_rng r;
    soma_rng_init(&r, 16, 0);
    int64_t m = 150, n = 200, k = 300;
    float *a = soma_alloc(sizeof(float) * (size_t)(m * k), 64);
    float *b = soma_alloc(sizeof(float) * (size_t)(k * n), 64);
    float *c = soma_alloc(sizeof(float) * (size_t)(m * n), 64);
    float *c2 = soma_alloc(sizeof(float) * (size_t)(m * n), 64);
    fill_values(&r, a, m * k, 0);
    fill_values(&r, b, k * n, 0);
    cr_assert_eq(soma_sgemm_plan(0, 1, m, n, k).parts, 2);
    soma_sgemm(0, 1, m, n, k, 1, a, k, b, k, 0, c, n); // the parent's workers exist now
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int ok = ran_in_parallel();
        soma_sgemm(0, 1, m, n, k, 1, a, k, b, k, 0, c2, n);
        ok = ok && memcmp(c, c2, sizeof(float) * (size_t)(m * n)) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 600 && done == 0; i++) { // 60 s: generous under qemu
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0) nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("the forked child hung");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: wrong ranges or results (status %d)",
              status);
    soma_free(a);
    soma_free(b);
    soma_free(c);
    soma_free(c2);
}
