/* core/cpu/kernels/avx2/partial_avx2.h — the first w lanes of a vector, for
 * the AVX2 kernel files only (compiled with -mavx2): the GEMM's and the
 * activations' row tails. */
#ifndef SOMA_CPU_KERNELS_AVX2_PARTIAL_AVX2_H
#define SOMA_CPU_KERNELS_AVX2_PARTIAL_AVX2_H

#include <immintrin.h>
#include <stdint.h>

/* Lanes [0, w) set (all 8 when w >= 8), the mask of vmaskmovps loads, which
 * neither read nor fault outside them. */
static inline __m256i soma_avx2_lanes(int64_t w) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(w < 8 ? w : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The first w floats of v to p (all 8 when w >= 8), nothing past them.
 * Plain 4-, 2- and 1-float stores, not vmaskmovps: on Zen 3 a masked 256-bit
 * store is microcoded, and the GEMM's narrow kernel spent more on them than
 * on its whole k loop (64×10×32 TN ran 1.5-1.65× faster without). */
static inline __attribute__((always_inline)) void soma_avx2_store_first(float *p, __m256 v,
                                                                        int w) {
    if (w >= 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    __m128 q = _mm256_castps256_ps128(v);
    if (w & 4) {
        _mm_storeu_ps(p, q);
        q = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (w & 2) {
        _mm_storel_pi((__m64 *)p, q);
        q = _mm_movehl_ps(q, q);
        p += 2;
    }
    if (w & 1) _mm_store_ss(p, q);
}

#endif
