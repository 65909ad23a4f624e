// AVX-512 kernel set: the micro-kernel, its packing routines and the direct
// (unpacked) kernel, on 512-bit zmm registers. Compiled with -mavx512f/vl/dq/bw
// -mfma -mavx2 (this file only); the dispatcher calls in here only after CPUID
// and XGETBV (opmask, ZMM_Hi256 and Hi16_ZMM state) said yes.
//
// Register map of the micro-kernel, MR = 8 rows × NR = 32 columns (two zmm
// per row of C), of the 32 zmm registers:
//
//               columns 0-15   columns 16-31
//     B row  :  b0             b1              loaded from the packed B panel
//     A      :  a                              broadcast of A(r, p), one row at a time
//     C row r:  c[r][0]        c[r][1]         r = 0 … 7: 16 accumulators
//
// Per k step: 2 aligned loads of B, 8 broadcasts, 16 FMAs. Sixteen
// independent accumulators are twice the 2 FMA pipes × 4 cycles of latency,
// and 10 loads per 16 FMAs fit the two load ports. Taller tiles (12×32,
// 14×32: 24–28 accumulators) measured no faster at 1024² on Zen 5 and
// slower on the training step's NT products, whose batch of 32–256 rows 8
// divides (no wasted rows in an edge tile). The packed path runs in the
// b_in_l2 order (gemm_internal.h) on a wider tile, 8×48 (ukr_8x48.c), and
// this kernel on the last 32 columns of a block where a 48-wide tile would
// be mostly empty; in BLIS' order, with a panel of B in L1, 8×48 was slower
// (its 48 KiB panel fills L1). The framework's edge buffer holds the wider
// tile: 8·48 floats, SOMA_GEMM_MAX_TILE.
//
// The direct kernel computes every element of C with the same FMA chain as
// the micro-kernel (p order, from zero), on A and B where they lie: up to 8
// rows × up to 8 vectors of 16 columns, 8–24 accumulators, the column tail
// under an opmask (AVX-512 masked loads and stores neither fault nor cost a
// zmm register); when n ≤ 16 (the output layer, n = 10) up to 32 rows with
// the rows in the lanes instead (narrow_tile), so that no lane idles.

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "cpu/gemm_internal.h"

#define MR 8
#define NR 32
#define NV (NR / 16)
#define NR_WIDE 48 // ukr_8x48.c, 8 rows too
_Static_assert(MR * NR_WIDE <= SOMA_GEMM_MAX_TILE, "the edge tile must fit gemm.c's buffer");
#define DIRECT_MR 16
#define ALWAYS_INLINE inline __attribute__((always_inline))

// ---- micro-kernel ----

void soma_sgemm_avx512_ukr(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                           float *c, int64_t ldc) {
    for (int r = 0; r < MR; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + NR - 1), _MM_HINT_T0);
    }
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t p = 0; p < k; p++) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(ap[r]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
        ap += MR;
        bp += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                _mm512_storeu_ps(c + r * ldc + 16 * v, _mm512_mul_ps(va, acc[r][v]));
        return;
    }
    // alpha·acc + beta·c as two products and a sum, never an FMA: the edge
    // path in gemm.c rounds the same way.
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float *cr = c + r * ldc + 16 * v;
            _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_mul_ps(va, acc[r][v]),
                                               _mm512_mul_ps(vb, _mm512_loadu_ps(cr))));
        }
}

// ---- packing ----

// In-register transpose of eight rows of eight floats.
static ALWAYS_INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// In-register transpose of sixteen rows of sixteen floats: pairs within
// 128-bit lanes, then quads, then the lanes themselves (64 shuffles for 256
// floats, against 96 for four 8×8 blocks).
static ALWAYS_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + e], lane L: element 4L + e of rows 4i … 4i+3.
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int e = 0; e < 4; e++) {
        __m512 c1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
        __m512 c2 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
        __m512 d1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
        __m512 d2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
        r[e] = _mm512_shuffle_f32x4(c1, d1, 0x88);
        r[4 + e] = _mm512_shuffle_f32x4(c2, d2, 0x88);
        r[8 + e] = _mm512_shuffle_f32x4(c1, d1, 0xDD);
        r[12 + e] = _mm512_shuffle_f32x4(c2, d2, 0xDD);
    }
}

// One panel of `rows` rows that are contiguous along p (A in NN, Bᵀ in NT),
// of which the first `valid` are read and the rest packed as zeros: 16×16
// blocks transposed in zmm registers when rows is a multiple of 16, else 8×8
// blocks in ymm ones; a last group of fewer than 8 rows is loaded padded
// with zeros and stored under a mask, so nothing outside the panel is read
// or written.
static ALWAYS_INLINE void pack_rows_contiguous(const int rows, const int valid, int64_t k,
                                               const float *x, int64_t rs, float *dst) {
    int64_t p = 0;
    if (rows % 16 == 0) {
        for (; p + 16 <= k; p += 16) {
#pragma GCC unroll 4
            for (int h = 0; h < rows; h += 16) {
                __m512 r[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++)
                    r[i] = h + i < valid ? _mm512_loadu_ps(x + (h + i) * rs + p) : _mm512_setzero_ps();
                transpose16(r);
#pragma GCC unroll 16
                for (int q = 0; q < 16; q++) _mm512_storeu_ps(dst + (p + q) * rows + h, r[q]);
            }
        }
    }
    for (; p + 8 <= k; p += 8) {
#pragma GCC unroll 4
        for (int h = 0; h < rows; h += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = h + i < valid ? _mm256_loadu_ps(x + (h + i) * rs + p) : _mm256_setzero_ps();
            transpose8(r);
            if (rows - h >= 8) {
#pragma GCC unroll 8
                for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * rows + h, r[q]);
            } else {
                const __mmask8 keep = (__mmask8)((1u << (rows - h)) - 1);
#pragma GCC unroll 8
                for (int q = 0; q < 8; q++)
                    _mm256_mask_storeu_ps(dst + (p + q) * rows + h, keep, r[q]);
            }
        }
    }
    for (; p < k; p++)
        for (int i = 0; i < rows; i++) dst[p * rows + i] = i < valid ? x[i * rs + p] : 0.0f;
}

// A full panel whose columns are contiguous (A in TN, B in NN): `rows`
// floats per p, the last vector under a mask.
static ALWAYS_INLINE void pack_cols_contiguous(const int rows, int64_t k, const float *x,
                                               int64_t cs, float *dst) {
    const __mmask16 tail = (__mmask16)((1u << (rows % 16 ? rows % 16 : 16)) - 1);
    for (int64_t p = 0; p < k; p++) {
        const float *s = x + p * cs;
        float *d = dst + p * rows;
#pragma GCC unroll 4
        for (int v = 0; v < rows; v += 16) {
            if (rows - v >= 16) _mm512_storeu_ps(d + v, _mm512_loadu_ps(s + v));
            else _mm512_mask_storeu_ps(d + v, tail, _mm512_maskz_loadu_ps(tail, s + v));
        }
    }
}

static void pack_avx512(int mr, int64_t m, int64_t k, const float *x, int64_t rs, int64_t cs,
                        float *dst) {
    // A single panel, as wide as a multiple of 16 (the panel path's Bᵀ, all
    // its columns in one, gemm.c), or a partial last one of nr or nr_wide.
    if (cs == 1 && m <= mr && mr % 16 == 0) {
        pack_rows_contiguous(mr, (int)m, k, x, rs, dst);
        return;
    }
    if ((mr != MR && mr != NR && mr != NR_WIDE) || (cs != 1 && rs != 1)) {
        soma_pack_generic(mr, m, k, x, rs, cs, dst);
        return;
    }
    int64_t full = m / mr * mr;
    for (int64_t i0 = 0; i0 < full; i0 += mr) {
        const float *xi = x + i0 * rs;
        if (cs == 1) {
            if (mr == MR) pack_rows_contiguous(MR, MR, k, xi, rs, dst);
            else if (mr == NR) pack_rows_contiguous(NR, NR, k, xi, rs, dst);
            else pack_rows_contiguous(NR_WIDE, NR_WIDE, k, xi, rs, dst);
        } else {
            if (mr == MR) pack_cols_contiguous(MR, k, xi, cs, dst);
            else if (mr == NR) pack_cols_contiguous(NR, k, xi, cs, dst);
            else pack_cols_contiguous(NR_WIDE, k, xi, cs, dst);
        }
        dst += (int64_t)mr * k;
    }
    if (full < m) soma_pack_generic(mr, m - full, k, x + full * rs, rs, cs, dst);
}

// ---- direct kernel ----

// The epilogue of the dot kernel and the k = 1 loop on one vector of a row
// of C (lanes `keep`): t = alpha·acc (+ beta·c unless beta = 0, which must
// not read C), + bias, relu. maxps with the zero first returns its second
// operand for NaN, so NaN survives relu. (The direct tile writes the same
// arithmetic out.) Callers pass beta, bias and relu read from the epilogue
// struct once: stores to C could alias it as far as the compiler knows.
static ALWAYS_INLINE void finish_vec(float *cr, __m512 acc, __mmask16 keep, __m512 va, __m512 vb,
                                     float beta, const float *bias, int relu) {
    __m512 t = _mm512_mul_ps(va, acc);
    if (beta != 0.0f) t = _mm512_add_ps(t, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(keep, cr)));
    if (bias) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(keep, bias));
    if (relu) t = _mm512_max_ps(_mm512_setzero_ps(), t);
    _mm512_mask_storeu_ps(cr, keep, t);
}

// m rows × nv vectors of 16 columns starting at column j of the call; the
// last vector is loaded and stored under `last` (all ones unless it holds
// the end of a row that is not a multiple of 16). Per k step, whichever of
// the B vectors (nv) or the A broadcasts (m) are fewer is loaded first and
// kept, the other streamed through one register; alpha, beta, bias and relu
// are read from *ep only after the loop.
static ALWAYS_INLINE void direct_tile(const int m, const int nv, __mmask16 last, int64_t k,
                                      const float *a, int64_t rsa, int64_t csa, const float *b,
                                      int64_t ldb, float *c, int64_t ldc,
                                      const soma_tile_epilogue *ep, int64_t j) {
    __m512 acc[DIRECT_MR][8];
#pragma GCC unroll 16
    for (int r = 0; r < m; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    b += j;
    c += j;
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb, *ap = a + p * csa;
        if (m < nv) {
            __m512 av[DIRECT_MR];
#pragma GCC unroll 16
            for (int r = 0; r < m; r++) av[r] = _mm512_set1_ps(ap[r * rsa]);
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                __m512 bv = v == nv - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v)
                                        : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 16
                for (int r = 0; r < m; r++) acc[r][v] = _mm512_fmadd_ps(av[r], bv, acc[r][v]);
            }
        } else {
            __m512 bv[8];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v)
                                    : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 16
            for (int r = 0; r < m; r++) {
                const __m512 av = _mm512_set1_ps(ap[r * rsa]);
#pragma GCC unroll 8
                for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
            }
        }
    }
    // The epilogue on the registers: alpha, beta·C, bias, relu. maxps with
    // the zero first returns its second operand for NaN, so NaN survives.
    // finish_vec's arithmetic, written out: through the helper GCC 12
    // compiled this tile 6% slower (784×128×32 TN: 230 against 246 GFLOP/s).
    const float beta = ep->beta;
    const float *bias = ep->bias ? ep->bias + j : NULL;
    const int relu = ep->relu;
    const __m512 va = _mm512_set1_ps(ep->alpha), vb = _mm512_set1_ps(beta);
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < m; r++) {
        float *cr = c + r * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            const __mmask16 keep = v == nv - 1 ? last : (__mmask16)0xFFFF;
            __m512 t = _mm512_mul_ps(va, acc[r][v]);
            if (beta != 0.0f)
                t = _mm512_add_ps(t, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(keep, cr + 16 * v)));
            if (bias) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(keep, bias + 16 * v));
            if (relu) t = _mm512_max_ps(zero, t);
            _mm512_mask_storeu_ps(cr + 16 * v, keep, t);
        }
    }
}

// All n columns for m rows: the ⌈n/16⌉ vectors are dealt out as evenly as
// possible to the fewest tiles of at most nv vectors (128 columns at nv = 3:
// 3 + 3 + 2, not 3 + 3 + 1 with a tile too narrow to hide the FMA latency);
// only the very last vector of the row is masked.
static ALWAYS_INLINE void direct_rows(const int m, const int nv, int64_t n, int64_t k,
                                      const float *a, int64_t rsa, int64_t csa, const float *b,
                                      int64_t ldb, float *c, int64_t ldc,
                                      const soma_tile_epilogue *ep) {
    const int64_t vecs = (n + 15) / 16, tiles = (vecs + nv - 1) / nv;
    const int64_t base = vecs / tiles, wide = vecs % tiles; // the first `wide` get base + 1
    const __mmask16 end = (__mmask16)(n % 16 ? (1u << (n % 16)) - 1 : 0xFFFFu);
    int64_t j = 0;
    for (int64_t t = 0; t < tiles; t++) {
        const int w = (int)(base + (t < wide));
        const __mmask16 last = t == tiles - 1 ? end : (__mmask16)0xFFFF;
        // 1 ≤ w ≤ nv ≤ 8 and nv is a constant in every expansion: the cases
        // above it compile to nothing.
#define TILE(x) direct_tile(m, x, last, k, a, rsa, csa, b, ldb, c, ldc, ep, j)
        switch (w) {
        case 1: TILE(1); break;
        case 2: if (nv >= 2) TILE(2); break;
        case 3: if (nv >= 3) TILE(3); break;
        case 4: if (nv >= 4) TILE(4); break;
        case 5: if (nv >= 5) TILE(5); break;
        case 6: if (nv >= 6) TILE(6); break;
        case 7: if (nv >= 7) TILE(7); break;
        case 8: if (nv >= 8) TILE(8); break;
        default: break;
        }
#undef TILE
        j += 16 * w;
    }
}

// One function per row count: the register allocator then sees a few loop
// shapes at a time, not all of them at once. Vectors per tile: as many as
// keep accumulators + kept operands within the 32 zmm registers (8–24
// accumulators). Each is compiled for A's two layouts with the unit stride
// a constant (NN: rows contiguous along p; TN: a column of A contiguous),
// and for any strides: left to itself, -O3 versions the loop on the strides
// and runs out of general registers in the TN case (20% slower there).
#define DIRECT_ARGS                                                                          \
    int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb, \
        float *c, int64_t ldc, const soma_tile_epilogue *ep
#define DIRECT_PASS n, k, a, rsa, csa, b, ldb, c, ldc, ep
#define DIRECT_FN(rows, nv)                                                                \
    static __attribute__((noinline)) void direct_##rows(DIRECT_ARGS) {                     \
        if (csa == 1) direct_rows(rows, nv, n, k, a, rsa, 1, b, ldb, c, ldc, ep);          \
        else if (rsa == 1) direct_rows(rows, nv, n, k, a, 1, csa, b, ldb, c, ldc, ep);     \
        else direct_rows(rows, nv, DIRECT_PASS);                                           \
    }
DIRECT_FN(1, 8)
DIRECT_FN(2, 8)
DIRECT_FN(3, 6)
DIRECT_FN(4, 6)
DIRECT_FN(5, 4)
DIRECT_FN(6, 4)
DIRECT_FN(7, 3)
DIRECT_FN(8, 3)
#undef DIRECT_FN

// 9–16 rows: one tile of m rows when a single vector covers n (8 rows would
// leave as few accumulators as the FMA latency needs, and n ≤ 16 has no other
// way to get more), else the first 8 rows and then the rest.
#define NARROW(rows)                                                                        \
    static __attribute__((noinline)) void direct_##rows(DIRECT_ARGS) {                      \
        if (n <= 16) {                                                                      \
            const __mmask16 keep = (__mmask16)((1u << n) - 1);                              \
            if (csa == 1) direct_tile(rows, 1, keep, k, a, rsa, 1, b, ldb, c, ldc, ep, 0);  \
            else if (rsa == 1) direct_tile(rows, 1, keep, k, a, 1, csa, b, ldb, c, ldc, ep, 0); \
            else direct_tile(rows, 1, keep, k, a, rsa, csa, b, ldb, c, ldc, ep, 0);         \
            return;                                                                         \
        }                                                                                   \
        direct_8(DIRECT_PASS);                                                              \
        direct_##rows##_rest(n, k, a + 8 * rsa, rsa, csa, b, ldb, c + 8 * ldc, ldc, ep);    \
    }
#define direct_9_rest direct_1
#define direct_10_rest direct_2
#define direct_11_rest direct_3
#define direct_12_rest direct_4
#define direct_13_rest direct_5
#define direct_14_rest direct_6
#define direct_15_rest direct_7
#define direct_16_rest direct_8
NARROW(9)
NARROW(10)
NARROW(11)
NARROW(12)
NARROW(13)
NARROW(14)
NARROW(15)
NARROW(16)
#undef NARROW

// k = 1 (a batch-1 weight gradient, an outer product): each element is the
// tiles' FMA onto a zero accumulator (so a -0 product gives +0 as there) and
// their epilogue, without the tiles' set-up, which took most of the time at
// k = 1 (784×128×1: 4.2 → 2.7 µs, 128×64×1: 0.41 → 0.27 µs).
static void direct_k1(int64_t m, DIRECT_ARGS) {
    (void)k, (void)csa, (void)ldb;
    const float beta = ep->beta, *bias = ep->bias;
    const int relu = ep->relu;
    const __m512 va = _mm512_set1_ps(ep->alpha), vb = _mm512_set1_ps(beta);
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 end = (__mmask16)(n % 16 ? (1u << (n % 16)) - 1 : 0xFFFFu);
    const int64_t full = n / 16 * 16;
    const __m512 btail = _mm512_maskz_loadu_ps(end, b + full); // B is one row: the same for all
    for (int64_t r = 0; r < m; r++) {
        const __m512 ar = _mm512_set1_ps(a[r * rsa]);
        float *cr = c + r * ldc;
        // Whole vectors with constant masks (plain loads and stores), then the tail.
        for (int64_t j = 0; j < full; j += 16) {
            const __m512 acc = _mm512_fmadd_ps(ar, _mm512_loadu_ps(b + j), zero);
            finish_vec(cr + j, acc, 0xFFFF, va, vb, beta, bias ? bias + j : NULL, relu);
        }
        if (full < n) {
            const __m512 acc = _mm512_fmadd_ps(ar, btail, zero);
            finish_vec(cr + full, acc, end, va, vb, beta, bias ? bias + full : NULL, relu);
        }
    }
}

// n ≤ 16 (an output layer: n = 10): the rows in the lanes instead of the
// columns. direct_tile, with the columns in the lanes, wastes 16 − n lanes of
// every FMA and broadcasts A once per row and p (16 loads per 16 FMAs); here
// accumulator (h, j) holds column j of rows 16h … 16h+15, and each p takes a
// vector of A's column p per 16 rows and n broadcasts of B's row p, for FMAs
// whose lanes all count. With two vectors of rows (up to 32 rows, n ≤ 12: 2n
// accumulators) each broadcast serves 32 rows, so loads stay below the FMAs.
// A's columns are contiguous in TN (rsa = 1) and loaded where they lie; in NN
// (csa = 1) each 16×16 block of A is transposed in registers into a small
// buffer first. Each element is still the FMA chain over p from zero, and the
// finished tile is transposed back for the epilogue, so the bits are
// direct_tile's.
static ALWAYS_INLINE void narrow_tile(const int n, const int nh, const bool a_cols, int64_t m,
                                      int64_t k, const float *a, int64_t rsa, int64_t csa,
                                      const float *b, int64_t ldb, float *c, int64_t ldc,
                                      const soma_tile_epilogue *ep) {
    __m512 acc[2][16];
#pragma GCC unroll 2
    for (int h = 0; h < nh; h++)
#pragma GCC unroll 16
        for (int j = 0; j < n; j++) acc[h][j] = _mm512_setzero_ps();
    if (a_cols) {
        __mmask16 rows[2];
#pragma GCC unroll 2
        for (int h = 0; h < nh; h++) {
            const int64_t left = m - 16 * h; // >= 1: two vectors only for more than 16 rows
            rows[h] = (__mmask16)(left >= 16 ? 0xFFFFu : (1u << left) - 1);
        }
        for (int64_t p = 0; p < k; p++) {
            __m512 av[2];
#pragma GCC unroll 2
            for (int h = 0; h < nh; h++)
                av[h] = _mm512_maskz_loadu_ps(rows[h], a + p * csa + 16 * h);
            const float *bp = b + p * ldb;
#pragma GCC unroll 16
            for (int j = 0; j < n; j++) {
                const __m512 bv = _mm512_set1_ps(bp[j]);
#pragma GCC unroll 2
                for (int h = 0; h < nh; h++) acc[h][j] = _mm512_fmadd_ps(av[h], bv, acc[h][j]);
            }
        }
    } else {
        float at[16 * 32] __attribute__((aligned(64))); // A's columns p0 … p0+15, 16·nh rows each
        for (int64_t p0 = 0; p0 < k; p0 += 16) {
            const int64_t kk = k - p0 < 16 ? k - p0 : 16;
            const __mmask16 cols = (__mmask16)(kk == 16 ? 0xFFFFu : (1u << kk) - 1);
#pragma GCC unroll 2
            for (int h = 0; h < nh; h++) {
                __m512 t[16];
#pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    t[r] = 16 * h + r < m ? _mm512_maskz_loadu_ps(cols, a + (16 * h + r) * rsa + p0)
                                          : _mm512_setzero_ps();
                transpose16(t);
#pragma GCC unroll 16
                for (int q = 0; q < 16; q++) _mm512_store_ps(at + q * 16 * nh + 16 * h, t[q]);
            }
            const float *bp = b + p0 * ldb;
            for (int64_t q = 0; q < kk; q++) {
                __m512 av[2];
#pragma GCC unroll 2
                for (int h = 0; h < nh; h++) av[h] = _mm512_load_ps(at + q * 16 * nh + 16 * h);
#pragma GCC unroll 16
                for (int j = 0; j < n; j++) {
                    const __m512 bv = _mm512_set1_ps(bp[q * ldb + j]);
#pragma GCC unroll 2
                    for (int h = 0; h < nh; h++) acc[h][j] = _mm512_fmadd_ps(av[h], bv, acc[h][j]);
                }
            }
        }
    }
    // Back to rows (r[i] lane j = C(16h + i, j)) and the epilogue.
    const float beta = ep->beta, *bias = ep->bias; // once: see finish_vec
    const int relu = ep->relu;
    const __m512 va = _mm512_set1_ps(ep->alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 keep = (__mmask16)((1u << n) - 1);
#pragma GCC unroll 2
    for (int h = 0; h < nh; h++) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) r[j] = j < n ? acc[h][j] : _mm512_setzero_ps();
        transpose16(r);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            if (16 * h + i < m) finish_vec(c + (16 * h + i) * ldc, r[i], keep, va, vb, beta, bias, relu);
    }
}

// Up to 32 rows: one tile of two row vectors when n ≤ 12, else (2n
// accumulators would not fit with the operands) 16 rows at a time.
#define NARROW_LANES(cols)                                                                   \
    static __attribute__((noinline)) void narrow_##cols(int64_t m, DIRECT_ARGS) {            \
        (void)n;                                                                             \
        const int nh = cols <= 12 ? 2 : 1;                                                   \
        for (int64_t i = 0; i < m; i += 16 * nh) {                                           \
            const int64_t mb = m - i < 16 * nh ? m - i : 16 * nh;                            \
            float *ci = c + i * ldc;                                                         \
            if (rsa == 1 && mb > 16)                                                         \
                narrow_tile(cols, nh, true, mb, k, a + i, 1, csa, b, ldb, ci, ldc, ep);      \
            else if (rsa == 1)                                                               \
                narrow_tile(cols, 1, true, mb, k, a + i, 1, csa, b, ldb, ci, ldc, ep);       \
            else if (mb > 16)                                                                \
                narrow_tile(cols, nh, false, mb, k, a + i * rsa, rsa, 1, b, ldb, ci, ldc, ep); \
            else                                                                             \
                narrow_tile(cols, 1, false, mb, k, a + i * rsa, rsa, 1, b, ldb, ci, ldc, ep); \
        }                                                                                    \
    }
SOMA_NARROW_COLS_16(NARROW_LANES)
#undef NARROW_LANES

#define NARROW_FN(cols) narrow_##cols,
static void (*const narrow_fns[17])(int64_t m, DIRECT_ARGS) = {NULL, SOMA_NARROW_COLS_16(NARROW_FN)};
#undef NARROW_FN

static void direct_avx512(int64_t m, DIRECT_ARGS);

// n ≤ 16 and at least 16 rows (up to narrow_mr). Rows in the lanes pay two
// transposes per tile: they win from 16 rows and k = 16 on (m×10×k, Zen 5,
// ns: 16×10×64 NN 148 against 196, TN 122 against 168; 32×10×256 NN
// 845/1382, TN 668/1162; 12×10×64 NN 143/137, 16×10×8 TN 49/49); otherwise
// direct_tile, 16 rows at a time. Apart from direct_avx512 so that its other
// calls (the panel path's, many per product) stay a test and a jump.
static __attribute__((noinline)) void direct_narrow(int64_t m, DIRECT_ARGS) {
    if (k >= 16 && (rsa == 1 || csa == 1)) {
        narrow_fns[n](m, DIRECT_PASS);
        return;
    }
    for (; m >= 16; a += 16 * rsa, c += 16 * ldc, m -= 16) direct_16(DIRECT_PASS);
    if (m > 0) direct_avx512(m, DIRECT_PASS);
}

static void direct_avx512(int64_t m, DIRECT_ARGS) {
    if (n <= 16 && m >= 16) {
        direct_narrow(m, DIRECT_PASS);
        return;
    }
    // k = 1 with n <= 16: direct_tile's one-vector tile does better (64×10:
    // 0.09 µs, 0.11 through direct_k1).
    if (k == 1 && n > 16) {
        direct_k1(m, DIRECT_PASS);
        return;
    }
    switch (m) {
    case 1: direct_1(DIRECT_PASS); break;
    case 2: direct_2(DIRECT_PASS); break;
    case 3: direct_3(DIRECT_PASS); break;
    case 4: direct_4(DIRECT_PASS); break;
    case 5: direct_5(DIRECT_PASS); break;
    case 6: direct_6(DIRECT_PASS); break;
    case 7: direct_7(DIRECT_PASS); break;
    case 8: direct_8(DIRECT_PASS); break;
    case 9: direct_9(DIRECT_PASS); break;
    case 10: direct_10(DIRECT_PASS); break;
    case 11: direct_11(DIRECT_PASS); break;
    case 12: direct_12(DIRECT_PASS); break;
    case 13: direct_13(DIRECT_PASS); break;
    case 14: direct_14(DIRECT_PASS); break;
    case 15: direct_15(DIRECT_PASS); break;
    case 16: direct_16(DIRECT_PASS); break;
    default: break;
    }
}
#undef DIRECT_ARGS
#undef DIRECT_PASS

// ---- dot-product kernel (NT, few rows) ----

// Tree reduction of sixteen vectors to one whose lane j is the sum of v[j]'s
// lanes: four rounds, each pairing vectors with two-source permutes and
// adding, halving the partial sums per column (8, 4, 2, 1). In the round of
// half-width h, output lane L takes source L / 8, group (L % 8) / h of width
// 2h, position (L % 8) % h, plus the same position h further on.
static ALWAYS_INLINE __m512 reduce16(__m512 v[16]) {
    int cnt = 16;
#pragma GCC unroll 4
    for (int h = 8; h >= 1; h /= 2) {
        int32_t ia[16], ib[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++) {
            const int q = l % 8;
            ia[l] = (l / 8) * 16 + q / h * 2 * h + q % h;
            ib[l] = ia[l] + h;
        }
        const __m512i xa = _mm512_loadu_si512(ia), xb = _mm512_loadu_si512(ib);
#pragma GCC unroll 8
        for (int i = 0; i < cnt / 2; i++)
            v[i] = _mm512_add_ps(_mm512_permutex2var_ps(v[2 * i], xa, v[2 * i + 1]),
                                 _mm512_permutex2var_ps(v[2 * i], xb, v[2 * i + 1]));
        cnt /= 2;
    }
    return v[0];
}

// Sixteen dot products of row a with rows b, b + ldb, … (the first nb of
// them; the others are 0): lane l of each accumulator sums p ≡ l (mod 16) in
// p order, the tail of k under a mask (zeros in both operands add nothing).
static ALWAYS_INLINE __m512 dot16(const int nb, int64_t k, const float *a, const float *b,
                                  int64_t ldb) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p += 16) {
        const __mmask16 m = k - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - p)) - 1);
        const __m512 av = _mm512_maskz_loadu_ps(m, a + p);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            if (j < nb)
                acc[j] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b + j * ldb + p), acc[j]);
    }
    return reduce16(acc);
}

static void dot_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                       const float *b, int64_t ldb, float *c, int64_t ldc,
                       const soma_tile_epilogue *ep) {
    const float beta = ep->beta, *bias = ep->bias; // once: see finish_vec
    const int relu = ep->relu;
    const __m512 va = _mm512_set1_ps(ep->alpha), vb = _mm512_set1_ps(beta);
    for (int64_t i = 0; i < m; i++) {
        const float *ai = a + i * rsa;
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j += 16) {
            const int nb = n - j < 16 ? (int)(n - j) : 16;
            const __mmask16 keep = (__mmask16)(nb == 16 ? 0xFFFFu : (1u << nb) - 1);
            const __m512 d = nb == 16 ? dot16(16, k, ai, b + j * ldb, ldb)
                                      : dot16(nb, k, ai, b + j * ldb, ldb);
            finish_vec(ci + j, d, keep, va, vb, beta, bias ? bias + j : NULL, relu);
        }
    }
}

const soma_cpu_kernels soma_kernels_avx512 = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    // The b_in_l2 order with the 8×48 kernel: A's micro-panel 16 KiB, B's
    // block (384 KiB) in L2, 2048 rows of A (4 MiB) in L3. Against
    // oneDNN at 512²–2048² on Zen 5 these measured 0.99–1.01, where BLIS'
    // order with this 8×32 kernel (mc 384, kc 256, nc 4096) gave 0.97–0.99.
    .mc = 2048,
    .kc = 512,
    .nc = 192,
    .ukr = soma_sgemm_avx512_ukr,
    .b_in_l2 = 1,
    .nr_wide = NR_WIDE,
    .ukr_wide = soma_sgemm_avx512_8x48,
    .pack_a = pack_avx512,
    .pack_b = pack_avx512,
    .direct_mr = DIRECT_MR,
    .direct_split = 8, // 9-16 rows are two tiles of 8 rows but when n <= 16
    .narrow_mr = 32,   // narrow_tile: two vectors of rows
    .direct = direct_avx512,
    .dot = dot_avx512,
};
