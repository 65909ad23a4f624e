// The FMA peak (peak.h). Each loop keeps 12 or 16 accumulators, acc = acc·m + c,
// with m just below 1 so they settle instead of overflowing; one iteration is
// that many fused multiply-adds of one vector each. The compiler cannot drop or
// merge them: every chain feeds the sum returned.
#include "peak.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "load.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

enum { MAX_THREADS = 64 };

typedef float (*fma_loop)(long iters);

// 12 chains for 16 vector registers (AVX2: two more hold the constants),
// 16 for 32 (AVX-512, NEON); either covers 2 pipes × 4 cycles of latency
// with room to spare. The chains start from different values, read at run
// time, so the compiler can neither merge them nor compute them ahead.
static volatile float seed = 1e-2f;
#define DECL12(T, SET1)                                                                      \
    const float s = seed;                                                                    \
    T a0 = SET1(0 * s), a1 = SET1(1 * s), a2 = SET1(2 * s), a3 = SET1(3 * s),                \
      a4 = SET1(4 * s), a5 = SET1(5 * s), a6 = SET1(6 * s), a7 = SET1(7 * s),                \
      a8 = SET1(8 * s), a9 = SET1(9 * s), a10 = SET1(10 * s), a11 = SET1(11 * s)
#define DECL16(T, SET1)                                                                      \
    DECL12(T, SET1);                                                                         \
    T a12 = SET1(12 * s), a13 = SET1(13 * s), a14 = SET1(14 * s), a15 = SET1(15 * s)
#define STEP12(F)                                                                            \
    a0 = F(a0, m, c); a1 = F(a1, m, c); a2 = F(a2, m, c); a3 = F(a3, m, c);                  \
    a4 = F(a4, m, c); a5 = F(a5, m, c); a6 = F(a6, m, c); a7 = F(a7, m, c);                  \
    a8 = F(a8, m, c); a9 = F(a9, m, c); a10 = F(a10, m, c); a11 = F(a11, m, c)
#define STEP16(F)                                                                            \
    STEP12(F);                                                                               \
    a12 = F(a12, m, c); a13 = F(a13, m, c); a14 = F(a14, m, c); a15 = F(a15, m, c)
#define SUM12(ADD)                                                                           \
    ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(ADD(a4, a5), ADD(a6, a7)),                    \
                                         ADD(ADD(a8, a9), ADD(a10, a11))))
#define SUM16(ADD) ADD(SUM12(ADD), ADD(ADD(a12, a13), ADD(a14, a15)))

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float loop_avx2(long iters) {
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
    DECL12(__m256, _mm256_set1_ps);
    for (long i = 0; i < iters; i++) {
        STEP12(_mm256_fmadd_ps);
    }
    float out[8];
    _mm256_storeu_ps(out, SUM12(_mm256_add_ps));
    return out[0];
}

__attribute__((target("avx512f"))) static float loop_avx512(long iters) {
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
    DECL16(__m512, _mm512_set1_ps);
    for (long i = 0; i < iters; i++) {
        STEP16(_mm512_fmadd_ps);
    }
    return _mm512_reduce_add_ps(SUM16(_mm512_add_ps));
}
#elif defined(__aarch64__)
static float loop_neon(long iters) {
    const float32x4_t m = vdupq_n_f32(0.999f), c = vdupq_n_f32(1e-3f);
    DECL16(float32x4_t, vdupq_n_f32);
#define NEON_FMA(acc, mul, add) vfmaq_f32(add, acc, mul)
    for (long i = 0; i < iters; i++) {
        STEP16(NEON_FMA);
    }
#undef NEON_FMA
    return vaddvq_f32(SUM16(vaddq_f32));
}
#endif

// The loop for a kernel set and its flops per iteration, or NULL.
static fma_loop pick(const char *isa, double *flops) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!strcmp(isa, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *flops = 2.0 * 8 * 12;
        return loop_avx2;
    }
    if (!strcmp(isa, "avx512") && __builtin_cpu_supports("avx512f")) {
        *flops = 2.0 * 16 * 16;
        return loop_avx512;
    }
#elif defined(__aarch64__)
    if (!strcmp(isa, "neon")) {
        *flops = 2.0 * 4 * 16;
        return loop_neon;
    }
#endif
    (void)isa;
    (void)flops;
    return NULL;
}

typedef struct runner {
    fma_loop loop;
    long iters;
    atomic_int *go;
    double end_s;
    volatile float sink;
} runner;

static void *run(void *arg) {
    runner *r = arg;
    while (!atomic_load_explicit(r->go, memory_order_acquire)) {
    }
    r->sink = r->loop(r->iters);
    r->end_s = bench_now_s();
    return NULL;
}

// Wall seconds for `threads` threads to run `iters` iterations each,
// released together (they spin until then, so none waits to be woken);
// -1 if a thread could not start.
static double timed(fma_loop loop, long iters, int threads) {
    pthread_t th[MAX_THREADS];
    runner rs[MAX_THREADS];
    atomic_int go = 0;
    int started = 0;
    for (; started < threads; started++) {
        rs[started] = (runner){.loop = loop, .iters = iters, .go = &go};
        if (pthread_create(&th[started], NULL, run, &rs[started])) break;
    }
    const double t0 = bench_now_s();
    atomic_store_explicit(&go, 1, memory_order_release);
    double end = t0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        if (rs[i].end_s > end) end = rs[i].end_s;
    }
    return started == threads ? end - t0 : -1;
}

double bench_fma_peak(const char *isa, int threads, int tries, double seconds) {
    double flops_per_iter = 0;
    fma_loop loop = pick(isa ? isa : "", &flops_per_iter);
    if (!loop || threads < 1 || threads > MAX_THREADS) return -1;
    // Size the tries from a short calibration run on one thread.
    long iters = 1 << 16;
    double t;
    while ((t = timed(loop, iters, 1)) >= 0 && t < 0.01) iters *= 2;
    if (t < 0) return -1;
    iters = (long)((double)iters * seconds / t) + 1;
    double best = -1;
    for (int i = 0; i < tries; i++) {
        t = timed(loop, iters, threads);
        if (t <= 0) continue;
        const double gflops = flops_per_iter * (double)iters * threads / t * 1e-9;
        if (gflops > best) best = gflops;
    }
    return best;
}
