// AVX2/FMA kernel set: the 6×16 micro-kernel, its packing routines and the
// direct (unpacked) kernel. Compiled with -mavx2 -mfma (this file only); the
// dispatcher calls in here only after CPUID and XGETBV said yes.
//
// Register map of soma_sgemm_avx2_6x16 (all 16 ymm registers):
//
//               columns 0-7   columns 8-15
//     B row  :  ymm0 (b0)     ymm1 (b1)       loaded from the packed B panel
//     A      :  ymm2, ymm3                    broadcasts of A(r, p), rows alternate
//     C row 0:  ymm4          ymm5
//     C row 1:  ymm6          ymm7
//     C row 2:  ymm8          ymm9
//     C row 3:  ymm10         ymm11
//     C row 4:  ymm12         ymm13
//     C row 5:  ymm14         ymm15
//
// Per k step: 2 loads of B, 6 broadcasts of A, 12 FMAs. Twelve independent
// accumulators cover the FMA latency (4 cycles) on two FMA pipes, and the
// loads fit the two load ports. Intrinsics leave the allocation to the
// compiler; the 6×16 shape is what makes it spill-free.
//
// The direct kernel uses the same FMA per element on A and B where they lie,
// with 8–12 accumulators: 6 rows × 16 columns down to 1 row × 64 columns
// (see direct_tile for how they fit the sixteen registers); when n ≤ 16, 8
// rows with the rows in the lanes instead (narrow_tile).
#include <immintrin.h>
#include <string.h>

#include "cpu/gemm_internal.h"
#include "cpu/kernels/avx2/partial_avx2.h"

#define MR 6
#define NR 16
#define ALWAYS_INLINE inline __attribute__((always_inline))
// Rows of B the direct kernel prefetches ahead when B does not stay in L1
// (k·ldb > SOMA_L1_B_FLOATS, direct_tile).
#define PF_ROWS 12

void soma_sgemm_avx2_6x16(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                          float *c, int64_t ldc) {
    for (int r = 0; r < MR; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + NR - 1), _MM_HINT_T0);
    }
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        __m256 a0 = _mm256_broadcast_ss(ap + 0), a1 = _mm256_broadcast_ss(ap + 1);
        c00 = _mm256_fmadd_ps(a0, b0, c00);
        c01 = _mm256_fmadd_ps(a0, b1, c01);
        c10 = _mm256_fmadd_ps(a1, b0, c10);
        c11 = _mm256_fmadd_ps(a1, b1, c11);
        a0 = _mm256_broadcast_ss(ap + 2);
        a1 = _mm256_broadcast_ss(ap + 3);
        c20 = _mm256_fmadd_ps(a0, b0, c20);
        c21 = _mm256_fmadd_ps(a0, b1, c21);
        c30 = _mm256_fmadd_ps(a1, b0, c30);
        c31 = _mm256_fmadd_ps(a1, b1, c31);
        a0 = _mm256_broadcast_ss(ap + 4);
        a1 = _mm256_broadcast_ss(ap + 5);
        c40 = _mm256_fmadd_ps(a0, b0, c40);
        c41 = _mm256_fmadd_ps(a0, b1, c41);
        c50 = _mm256_fmadd_ps(a1, b0, c50);
        c51 = _mm256_fmadd_ps(a1, b1, c51);
        ap += MR;
        bp += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha);
    __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (beta == 0.0f) {
        for (int r = 0; r < MR; r++) {
            _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(va, acc[r][0]));
            _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(va, acc[r][1]));
        }
        return;
    }
    // alpha·acc + beta·c as two products and a sum, never an FMA: the edge
    // path in gemm.c rounds the same way.
    const __m256 vb = _mm256_set1_ps(beta);
    for (int r = 0; r < MR; r++) {
        float *cr = c + r * ldc;
        __m256 t0 = _mm256_add_ps(_mm256_mul_ps(va, acc[r][0]),
                                  _mm256_mul_ps(vb, _mm256_loadu_ps(cr)));
        __m256 t1 = _mm256_add_ps(_mm256_mul_ps(va, acc[r][1]),
                                  _mm256_mul_ps(vb, _mm256_loadu_ps(cr + 8)));
        _mm256_storeu_ps(cr, t0);
        _mm256_storeu_ps(cr + 8, t1);
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

// One full panel of `rows` (6 or 16) rows that are contiguous along p (A in
// NN, Bᵀ in NT): 8×8 blocks transposed in registers. For 6 rows each column
// is stored as 8 floats whose last two are overwritten by the next column
// (hence SOMA_PACK_SLACK).
// Of the rows, the first `valid` are read and the rest packed as zeros.
static ALWAYS_INLINE void pack_rows_contiguous(const int rows, const int valid, int64_t k,
                                               const float *x, int64_t rs, float *dst) {
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        for (int h = 0; h < rows; h += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = h + i < valid ? _mm256_loadu_ps(x + (h + i) * rs + p) : _mm256_setzero_ps();
            transpose8(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * rows + h, r[q]);
        }
    }
    for (; p < k; p++)
        for (int i = 0; i < rows; i++) dst[p * rows + i] = i < valid ? x[i * rs + p] : 0.0f;
}

// A full panel whose columns are contiguous (A in TN, B in NN): a copy of
// `rows` floats per p.
static ALWAYS_INLINE void pack_cols_contiguous(const int rows, int64_t k, const float *x,
                                               int64_t cs, float *dst) {
    if (rows == 16) {
        for (int64_t p = 0; p < k; p++) {
            const float *s = x + p * cs;
            _mm256_store_ps(dst + p * 16, _mm256_loadu_ps(s));
            _mm256_store_ps(dst + p * 16 + 8, _mm256_loadu_ps(s + 8));
        }
    } else {
        // Six floats: a masked load so that nothing past the row is read.
        const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (int64_t p = 0; p < k; p++)
            _mm256_storeu_ps(dst + p * 6, _mm256_maskload_ps(x + p * cs, six));
    }
}

static void pack_avx2(int mr, int64_t m, int64_t k, const float *x, int64_t rs, int64_t cs,
                      float *dst) {
    // A single panel, as wide as a multiple of 8 (the panel path's Bᵀ, all
    // its columns in one, gemm.c), or a partial last one of nr.
    if (cs == 1 && m <= mr && mr % 8 == 0) {
        pack_rows_contiguous(mr, (int)m, k, x, rs, dst);
        return;
    }
    if ((mr != MR && mr != NR) || (cs != 1 && rs != 1)) {
        soma_pack_generic(mr, m, k, x, rs, cs, dst);
        return;
    }
    int64_t full = m / mr * mr;
    for (int64_t i0 = 0; i0 < full; i0 += mr) {
        const float *xi = x + i0 * rs;
        if (cs == 1) {
            if (mr == MR) pack_rows_contiguous(MR, MR, k, xi, rs, dst);
            else pack_rows_contiguous(NR, NR, k, xi, rs, dst);
        } else {
            if (mr == MR) pack_cols_contiguous(MR, k, xi, cs, dst);
            else pack_cols_contiguous(NR, k, xi, cs, dst);
        }
        dst += (int64_t)mr * k;
    }
    if (full < m) soma_pack_generic(mr, m - full, k, x + full * rs, rs, cs, dst);
}

// ---- direct kernel ----

// m rows × nv vectors of 8 columns, from column j of the call, over all of
// k. Vector v covers columns j + 8v, except the last, which starts at j + lo:
// the tail of a row is covered by a full vector that ends at the row's last
// column and overlaps its neighbour (the overlapped columns come out
// bit-identical twice, and every C value is read before either is stored).
// Only a call narrower than 8 columns needs `masked` (then nv = 1, and lo
// is that call's column count, the lanes of `mask`): masked loads cost a
// register for the mask, which 6 rows × 2 vectors do not have.
// Per k step, whichever of the B vectors (nv) or the A broadcasts (m) are
// fewer is loaded first and kept, the other streamed through one register:
// with the 8–12 accumulators that fills the sixteen ymm registers, so
// nothing else may stay in one across the loop — alpha, beta, bias and relu
// are read from *ep only after it.
static ALWAYS_INLINE void direct_tile(const int m, const int nv, const int masked, __m256i mask,
                                      int64_t lo, int64_t k, const float *a, int64_t rsa,
                                      int64_t csa, const float *b, int64_t ldb, float *c,
                                      int64_t ldc, const soma_tile_epilogue *ep, int64_t j) {
    __m256 acc[6][8];
#pragma GCC unroll 6
    for (int r = 0; r < m; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) acc[r][v] = _mm256_setzero_ps();
    b += j;
    c += j;
    // The tile's columns of B, k rows ldb floats apart, stay in L1 across
    // the calls for later rows only while k·ldb ≤ 8192 (32 KiB: rows 512 B
    // apart share 8 of the 64 sets, 8 ways each). Beyond that they come
    // from L2 on every call, and a prefetch PF_ROWS rows ahead paid on Zen 3
    // (same process, paired rounds against the kernel without it): the
    // forward product of the first layer, b×128×784 NN, +5-11% at b = 32-256
    // and +22% at b = 1. Prefetching 784×128×32 TN too, whose B stays in
    // L1, cost it about 5%.
    const int64_t pf = k * ldb > SOMA_L1_B_FLOATS ? PF_ROWS * ldb : 0;
    // Unrolled by 4: up to +6% on a training step's direct shapes (784×128×128
    // TN, 32×10×64 NN), a few within -2%.
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb, *ap = a + p * csa;
        if (pf)
#pragma GCC unroll 8
            for (int v = 0; v < nv; v += 2) _mm_prefetch((const char *)(bp + pf + 8 * v), _MM_HINT_T0);
        if (m < nv) {
            __m256 av[6];
#pragma GCC unroll 6
            for (int r = 0; r < m; r++) av[r] = _mm256_broadcast_ss(ap + r * rsa);
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                __m256 bv = masked ? _mm256_maskload_ps(bp, mask)
                                   : _mm256_loadu_ps(bp + (v == nv - 1 ? lo : 8 * v));
#pragma GCC unroll 6
                for (int r = 0; r < m; r++) acc[r][v] = _mm256_fmadd_ps(av[r], bv, acc[r][v]);
            }
        } else {
            __m256 bv[8];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                bv[v] = masked ? _mm256_maskload_ps(bp, mask)
                               : _mm256_loadu_ps(bp + (v == nv - 1 ? lo : 8 * v));
#pragma GCC unroll 6
            for (int r = 0; r < m; r++) {
                __m256 av = _mm256_broadcast_ss(ap + r * rsa);
#pragma GCC unroll 8
                for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
            }
        }
    }
    // The epilogue on the registers: alpha, beta·C, bias, relu. maxps with
    // the zero first returns its second operand for NaN, so NaN survives.
    const float beta = ep->beta;
    const float *bias = ep->bias ? ep->bias + j : NULL;
    const int relu = ep->relu;
    const __m256 va = _mm256_set1_ps(ep->alpha), vb = _mm256_set1_ps(beta);
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int r = 0; r < m; r++) {
        float *cr = c + r * ldc;
        __m256 t[8];
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            const int64_t off = v == nv - 1 ? lo : 8 * v;
            t[v] = _mm256_mul_ps(va, acc[r][v]);
            if (beta != 0.0f) {
                __m256 cv = masked ? _mm256_maskload_ps(cr, mask) : _mm256_loadu_ps(cr + off);
                t[v] = _mm256_add_ps(t[v], _mm256_mul_ps(vb, cv));
            }
            if (bias)
                t[v] = _mm256_add_ps(t[v], masked ? _mm256_maskload_ps(bias, mask)
                                                  : _mm256_loadu_ps(bias + off));
            if (relu) t[v] = _mm256_max_ps(zero, t[v]);
        }
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            if (masked) soma_avx2_store_first(cr, t[v], (int)lo);
            else _mm256_storeu_ps(cr + (v == nv - 1 ? lo : 8 * v), t[v]);
        }
    }
}

// All n columns for m rows: blocks of nv vectors, then one block of as many
// vectors as the rest needs, its last one ending at column n. The block
// width gives 8–12 accumulators, enough to hide the FMA latency even for one
// row, and for few rows (where B streams from L2 or memory, read once) wide
// blocks, which the prefetchers follow better; the tail (n = 10 is the
// output layer) costs one pass over k, not two.
static ALWAYS_INLINE void direct_rows(const int m, const int nv, int64_t n, int64_t k,
                                      const float *a, int64_t rsa, int64_t csa, const float *b,
                                      int64_t ldb, float *c, int64_t ldc,
                                      const soma_tile_epilogue *ep) {
    const __m256i none = _mm256_setzero_si256();
    if (n < 8) {
        direct_tile(m, 1, 1, soma_avx2_lanes(n), n, k, a, rsa, csa, b, ldb, c, ldc, ep, 0);
        return;
    }
    // The shifted last vector may only overlap columns of its own tile: when
    // fewer than 8 columns would be left, the last full block gives up its
    // last vector to the tail, which then has two.
    int64_t rest = n % (8 * nv), full_end = n - rest;
    const int short_tail = rest > 0 && rest < 8;
    if (short_tail) full_end -= 8 * nv;
    int64_t j = 0;
    for (; j < full_end; j += 8 * nv)
        direct_tile(m, nv, 0, none, 8 * (nv - 1), k, a, rsa, csa, b, ldb, c, ldc, ep, j);
    if (short_tail) {
        direct_tile(m, nv - 1, 0, none, 8 * (nv - 2), k, a, rsa, csa, b, ldb, c, ldc, ep, j);
        j += 8 * (nv - 1);
    }
    if (j == n) return;
    const int tv = (int)((n - j + 7) / 8);
    const int64_t lo = n - 8 - j; // the last vector ends at column n
    // 1 ≤ tv ≤ nv ≤ 8, and nv is a constant in every expansion: the cases
    // above it compile to nothing.
#define TAIL(w) direct_tile(m, w, 0, none, lo, k, a, rsa, csa, b, ldb, c, ldc, ep, j)
    switch (tv) {
    case 1: TAIL(1); break;
    case 2: if (nv >= 2) TAIL(2); break;
    case 3: if (nv >= 3) TAIL(3); break;
    case 4: if (nv >= 4) TAIL(4); break;
    case 5: if (nv >= 5) TAIL(5); break;
    case 6: if (nv >= 6) TAIL(6); break;
    case 7: if (nv >= 7) TAIL(7); break;
    case 8: if (nv >= 8) TAIL(8); break;
    default: break;
    }
#undef TAIL
}

// One function per row count: the register allocator then sees a few loop
// shapes at a time, not all of them at once.
#define DIRECT_ARGS                                                                          \
    int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb, \
        float *c, int64_t ldc, const soma_tile_epilogue *ep
#define DIRECT_PASS n, k, a, rsa, csa, b, ldb, c, ldc, ep
static __attribute__((noinline)) void direct_1(DIRECT_ARGS) { direct_rows(1, 8, DIRECT_PASS); }
static __attribute__((noinline)) void direct_2(DIRECT_ARGS) { direct_rows(2, 6, DIRECT_PASS); }
static __attribute__((noinline)) void direct_3(DIRECT_ARGS) { direct_rows(3, 4, DIRECT_PASS); }
static __attribute__((noinline)) void direct_4(DIRECT_ARGS) { direct_rows(4, 3, DIRECT_PASS); }
static __attribute__((noinline)) void direct_5(DIRECT_ARGS) { direct_rows(5, 2, DIRECT_PASS); }
// Six rows as two calls of three (3×32 tiles) when B stays in L1 and n is
// whole tiles of 32: three broadcasts of A and four loads of B per 12 FMAs
// instead of six and two. Where B comes from L2 the narrower 6×16 tile,
// half the B lines per FMA, is the faster. Same process, paired rounds
// against 6×16 on Zen 3: 784×128×32 TN +6%, b×128×64 NT (panel path) +3-6%,
// 128×64×32 TN +1-5%, the other shapes with B in L1 within -2…+4%. Below
// k = 16 the loop is too short for the saved loads to pay for twice the
// calls: 6×16 against 3×32 at the output layer's input gradient b×64×10 NT
// +13% at b = 128 and 256 (1 thread), +5…10% on 2; 256×128×8 NN +8%;
// 256×64×16 NT -0.8%, 128×128×12 NT -1.4%.
static __attribute__((noinline)) void direct_6(DIRECT_ARGS) {
    if (n % 32 == 0 && k >= 16 && k * ldb <= SOMA_L1_B_FLOATS) {
        direct_3(DIRECT_PASS);
        direct_3(n, k, a + 3 * rsa, rsa, csa, b, ldb, c + 3 * ldc, ldc, ep);
        return;
    }
    direct_rows(6, 2, DIRECT_PASS);
}

// The epilogue of the narrow tile and the dot kernel on one vector of a row
// of C (its first w lanes): t = alpha·acc (+ beta·c unless beta = 0, which must
// not read C), + bias, relu (maxps with the zero first keeps NaN), as
// direct_tile computes it. Callers pass beta, bias and relu read from the
// epilogue struct once: stores to C could alias it as far as the compiler
// knows.
static ALWAYS_INLINE void finish_vec(float *cr, __m256 acc, int w, __m256 va, __m256 vb,
                                     float beta, const float *bias, int relu) {
    const __m256i keep = soma_avx2_lanes(w);
    __m256 t = _mm256_mul_ps(va, acc);
    if (beta != 0.0f) t = _mm256_add_ps(t, _mm256_mul_ps(vb, _mm256_maskload_ps(cr, keep)));
    if (bias) t = _mm256_add_ps(t, _mm256_maskload_ps(bias, keep));
    if (relu) t = _mm256_max_ps(_mm256_setzero_ps(), t);
    soma_avx2_store_first(cr, t, w);
}

// n ≤ 16 (an output layer: n = 10), 8 rows: the rows in the lanes. Across
// the columns, n = 10 would take two vectors of which 6 lanes are wasted (or
// recomputed); here accumulator j holds column j of the 8 rows, and each p
// takes one vector of A's column p and n broadcasts of B's row p, for FMAs
// whose lanes all count: for TN, where A's columns are contiguous and loaded
// where they lie (NN would transpose A first, which did not pay here, unlike
// on AVX-512). At most 12 columns at once (12 accumulators, A and a
// broadcast in the sixteen registers): 13–16 are two passes. Each element is
// still the FMA chain over p from zero and the tile is transposed back for
// the epilogue, so the bits are those of direct_tile.
static ALWAYS_INLINE void narrow_tile(const int n, int64_t k, const float *a, int64_t csa,
                                      const float *b, int64_t ldb, float *c, int64_t ldc,
                                      const soma_tile_epilogue *ep) {
    __m256 acc[12];
#pragma GCC unroll 12
    for (int j = 0; j < n; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        const __m256 av = _mm256_loadu_ps(a + p * csa);
        const float *bp = b + p * ldb;
#pragma GCC unroll 12
        for (int j = 0; j < n; j++) acc[j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(bp + j), acc[j]);
    }
    // Back to rows, 8 columns at a time (r[i] lane j = C(i, j0 + j)), and
    // the epilogue.
    const float beta = ep->beta, *bias = ep->bias; // once: see finish_vec
    const int relu = ep->relu;
    const __m256 va = _mm256_set1_ps(ep->alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 2
    for (int j0 = 0; j0 < n; j0 += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) r[j] = j0 + j < n ? acc[j0 + j] : _mm256_setzero_ps();
        transpose8(r);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            finish_vec(c + i * ldc + j0, r[i], n - j0, va, vb, beta, bias ? bias + j0 : NULL, relu);
    }
}

#define NARROW_LANES(cols)                                                                   \
    static __attribute__((noinline)) void narrow_##cols(int64_t m, DIRECT_ARGS) {            \
        (void)n, (void)rsa;                                                                  \
        for (int64_t i = 0; i < m; i += 8) /* m: a multiple of 8 */                          \
            narrow_tile(cols, k, a + i, csa, b, ldb, c + i * ldc, ldc, ep);                  \
    }
SOMA_NARROW_COLS_12(NARROW_LANES)
#undef NARROW_LANES

#define NARROW_FN(cols) narrow_##cols,
static void (*const narrow_fns[13])(int64_t m, DIRECT_ARGS) = {NULL, SOMA_NARROW_COLS_12(NARROW_FN)};
#undef NARROW_FN

static void direct_avx2(int64_t m, DIRECT_ARGS);

// More than 6 rows (n ≤ 16: up to narrow_mr). Rows in the lanes
// (narrow_tile) for TN from 16 rows and k = 16, where they won (Zen 5 with
// AVX2, ns: 64×10×256 TN 2991 against 4992 in 6-row calls, 8×10×32 TN 74/99);
// NN, which must transpose A, did not. Apart from direct_avx2 so that its
// calls of up to 6 rows (the panel path's, many per product) stay a jump.
static __attribute__((noinline)) void direct_tall(int64_t m, DIRECT_ARGS) {
    if (n <= 16 && m >= 16 && k >= 16 && rsa == 1) {
        const int64_t m8 = m / 8 * 8;
        if (n <= 12) {
            narrow_fns[n](m8, DIRECT_PASS);
        } else { // 13-16 columns: 8, then the rest
            narrow_fns[8](m8, 8, k, a, rsa, csa, b, ldb, c, ldc, ep);
            const soma_tile_epilogue rest = {.alpha = ep->alpha, .beta = ep->beta,
                                             .bias = ep->bias ? ep->bias + 8 : NULL, .relu = ep->relu};
            narrow_fns[n - 8](m8, n - 8, k, a, rsa, csa, b + 8, ldb, c + 8, ldc, &rest);
        }
        a += m8 * rsa, c += m8 * ldc, m -= m8;
    }
    for (; m > 6; a += 6 * rsa, c += 6 * ldc, m -= 6) direct_6(DIRECT_PASS);
    if (m > 0) direct_avx2(m, DIRECT_PASS);
}

static void direct_avx2(int64_t m, DIRECT_ARGS) {
    switch (m) {
    case 1: direct_1(DIRECT_PASS); break;
    case 2: direct_2(DIRECT_PASS); break;
    case 3: direct_3(DIRECT_PASS); break;
    case 4: direct_4(DIRECT_PASS); break;
    case 5: direct_5(DIRECT_PASS); break;
    case 6: direct_6(DIRECT_PASS); break;
    default: direct_tall(m, DIRECT_PASS); break;
    }
}
#undef DIRECT_ARGS
#undef DIRECT_PASS

// ---- dot-product kernel (NT, few rows) ----

// Eight dot products of row a with rows b, b + ldb, … (the first nb; the
// others are 0): lane l of each accumulator sums p ≡ l (mod 8) in p order,
// then a fixed tree of horizontal adds gives lane j the sum of v[j]'s lanes.
static ALWAYS_INLINE __m256 dot8(const int nb, int64_t k, const float *a, const float *b,
                                 int64_t ldb) {
    __m256 v[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) v[j] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p += 8) {
        const __m256i m = soma_avx2_lanes(k - p);
        const __m256 av = _mm256_maskload_ps(a + p, m);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            if (j < nb) v[j] = _mm256_fmadd_ps(av, _mm256_maskload_ps(b + j * ldb + p, m), v[j]);
    }
    const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 s0 = _mm256_hadd_ps(t0, t1), s1 = _mm256_hadd_ps(t2, t3);
    // s0: columns 0-3 of the low 128-bit halves, then of the high ones.
    return _mm256_add_ps(_mm256_permute2f128_ps(s0, s1, 0x20), _mm256_permute2f128_ps(s0, s1, 0x31));
}

static void dot_avx2(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, const float *b,
                     int64_t ldb, float *c, int64_t ldc, const soma_tile_epilogue *ep) {
    const float beta = ep->beta, *bias = ep->bias; // once: see finish_vec
    const int relu = ep->relu;
    const __m256 va = _mm256_set1_ps(ep->alpha), vb = _mm256_set1_ps(beta);
    for (int64_t i = 0; i < m; i++) {
        const float *ai = a + i * rsa;
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j += 8) {
            const int nb = n - j < 8 ? (int)(n - j) : 8;
            const __m256 d = nb == 8 ? dot8(8, k, ai, b + j * ldb, ldb)
                                     : dot8(nb, k, ai, b + j * ldb, ldb);
            finish_vec(ci + j, d, nb, va, vb, beta, bias ? bias + j : NULL, relu);
        }
    }
}

const soma_cpu_kernels soma_kernels_avx2 = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 256,
    .nc = 4080,
    .ukr = soma_sgemm_avx2_6x16,
    .pack_a = pack_avx2,
    .pack_b = pack_avx2,
    .direct_mr = MR,
    .narrow_mr = 24, // narrow_tile's 8 rows and direct_6's 6 both divide it
    .direct = direct_avx2,
    // Same process, paired rounds on Zen 3 (2 vCPUs), packed against direct,
    // with 1/m + 1/n: 1 thread, 257³ +17% (0.0078), 784×128×256 TN +11% and
    // 784×128×128 TN +6-10% (0.0091), 256×128×784 NN -8…+4% (0.0117),
    // 128×64×256 TN -8% (0.023); 2 threads, both CPUs close: 257³ +20%,
    // 784×128×256 TN +15%, 256×128×784 NN -6%, 128×128×784 NN -14% (0.0156).
    // 1/96 = 0.0104 sends the first three to the packed path.
    .packed_from = 96,
    // Same process, paired rounds on Zen 3, panels against B in place (1
    // thread): TN 128×64×256 (a training step's hidden-layer weight gradient
    // at batch 256) +6…+11%, +7% on 2 threads; 64×64×256 +14%, 96×96×160
    // +6%, 64×128×128 +3%, 48×64×256 +2%, 200×200×100 ±0; fewer rows lose
    // the copy of B: 32×128×128 -10%, 32×64×256 -3%, 24×64×256 -5%. NN
    // products gained nothing (their A rows stay in L1 while B streams).
    .tn_panel_from = 64,
    .dot = dot_avx2,
};
