// Activation kernels for AVX-512 (F, DQ, VL, BW) on SLEEF
// (Sleef_*f16_u10avx512f), behind soma_activation_forward / _backward while
// the "avx512" kernel set is active.
//
// The kernels are kernels/act_body.h, shared with the other ISAs (the numerics
// are explained in kernels/avx2/act_avx2.c); only the helpers differ: a
// block is 16 floats (one zmm), its mask a __mmask16, 16 doubles two zmm.
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/act.h"
#include "cpu/kernels/exp8.h"

// ---- helper layer: 16 floats (vf), their lane masks (vm), 16 doubles (vd) ------------

typedef __m512 vf;
typedef __mmask16 vm;
typedef struct {
    __m512d lo, hi;
} vd;

static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
// The first w < 16 floats, under a mask: nothing outside them is read or
// written (and no store-forwarding stall through a stack copy).
static inline vf vf_load_part(const float *p, int w, float pad) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(pad), (__mmask16)((1u << w) - 1u), p);
}
static inline void vf_store_part(float *p, vf v, int w) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << w) - 1u), v);
}
static inline vf vf_set1(float f) { return _mm512_set1_ps(f); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
// a·b + c and c - a·b, one rounding
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_fnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
// a > b ? a : b and a < b ? a : b, as the scalar code's ternaries (maxps and
// minps return b when either is NaN or both are zeros).
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vf_abs(vf a) { return _mm512_abs_ps(a); }
static inline vf vf_neg(vf a) { return _mm512_xor_ps(_mm512_set1_ps(-0.0f), a); }
// Comparisons are ordered: false when a lane is NaN.
static inline vm vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm vf_le(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline vm vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vm vf_eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline vm vm_and(vm a, vm b) { return (vm)(a & b); }
static inline vm vm_or(vm a, vm b) { return (vm)(a | b); }
static inline vm vm_not(vm a) { return (vm)~a; }
static inline vm vm_none(void) { return 0; }
// Bit j set when lane j is.
static inline unsigned vm_bits(vm m) { return (unsigned)m; }
// m ? a : b, lane by lane
static inline vf vf_sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }

static inline vf vf_exp(vf a) { return Sleef_expf16_u10avx512f(a); }
static inline vf vf_expm1(vf a) { return Sleef_expm1f16_u10avx512f(a); }
static inline vf vf_log1p(vf a) { return Sleef_log1pf16_u10avx512f(a); }
static inline vf vf_tanh(vf a) { return Sleef_tanhf16_u10avx512f(a); }

// Horizontal max of lanes that hold no NaN (row_max never lets one in).
static inline float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }

static inline vd vd_cvt(vf a) {
    return (vd){_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
                _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1))};
}
// Rounds to float (round to nearest even).
static inline vf vf_cvt(vd a) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(a.lo)),
                              _mm512_cvtpd_ps(a.hi), 1);
}
static inline vd vd_set1(double d) { return (vd){_mm512_set1_pd(d), _mm512_set1_pd(d)}; }
static inline vd vd_load(const double *p) {
    return (vd){_mm512_loadu_pd(p), _mm512_loadu_pd(p + 8)};
}
static inline void vd_store(double *p, vd a) {
    _mm512_storeu_pd(p, a.lo);
    _mm512_storeu_pd(p + 8, a.hi);
}
static inline vd vd_add(vd a, vd b) {
    return (vd){_mm512_add_pd(a.lo, b.lo), _mm512_add_pd(a.hi, b.hi)};
}
static inline vd vd_sub(vd a, vd b) {
    return (vd){_mm512_sub_pd(a.lo, b.lo), _mm512_sub_pd(a.hi, b.hi)};
}
static inline vd vd_mul(vd a, vd b) {
    return (vd){_mm512_mul_pd(a.lo, b.lo), _mm512_mul_pd(a.hi, b.hi)};
}
static inline vd vd_div(vd a, vd b) {
    return (vd){_mm512_div_pd(a.lo, b.lo), _mm512_div_pd(a.hi, b.hi)};
}
static inline vd vd_fma(vd a, vd b, vd c) {
    return (vd){_mm512_fmadd_pd(a.lo, b.lo, c.lo), _mm512_fmadd_pd(a.hi, b.hi, c.hi)};
}
// a·b - c, one rounding
static inline vd vd_fms(vd a, vd b, vd c) {
    return (vd){_mm512_fmsub_pd(a.lo, b.lo, c.lo), _mm512_fmsub_pd(a.hi, b.hi, c.hi)};
}
// -min(|a|, c) (VRANGEPD: the smaller magnitude, sign set), c > 0
static inline vd vd_nabs_clamp(vd a, double c) {
    const __m512d cv = _mm512_set1_pd(c);
    return (vd){_mm512_range_pd(a.lo, cv, 0xe), _mm512_range_pd(a.hi, cv, 0xe)};
}
// 1/a for a in [1, 2], within 2^-41 relative: VRCP14PD's estimate r (2^-14)
// refined to r·(1 + t + t²), t = 1 - a·r, in place of a division.
static inline __m512d recip_q(__m512d a) {
    const __m512d r = _mm512_rcp14_pd(a);
    const __m512d t = _mm512_fnmadd_pd(a, r, _mm512_set1_pd(1.0));
    return _mm512_fmadd_pd(r, _mm512_fmadd_pd(t, t, t), r);
}
static inline vd vd_recip(vd a) { return (vd){recip_q(a.lo), recip_q(a.hi)}; }
// e^x for double x in [-700, 0], within 2^-29 relative (the body's vd_exp_neg
// is 2^-31 for four more multiply-adds per 8 lanes): n = round(16x·log2 e)
// by adding 1.5·2^52, r = x - n·ln2/16 (|r| <= ln2/32, within 2^-43
// absolutely), then 2^(n/16) from a 16-entry table by VPERMT2Q on n's low 4
// bits times 2^(n>>4) (an integer add to the exponent field) times
// P(r) = 1 + r·(...), a degree 3 fit to e^r on |r| <= ln2/32 (2^-29.2
// relative; e^0 is exactly 1). The table entries have n's low bits shifted
// to bit 48 taken off in advance, so that adding n << 48 whole leaves just
// (n >> 4) << 52.
#define HAVE_VD_EXP_TAB 1
static inline __m512d exp_tab_q(__m512d x) {
    static const int64_t tab[16] = {
        0x3ff0000000000000, 0x3fefb5586cf9890f, 0x3fef72b83c7d517b, 0x3fef387a6e756238,
        0x3fef06fe0a31b715, 0x3feedea64c123422, 0x3feebfdad5362a27, 0x3feeab07dd485429,
        0x3feea09e667f3bcd, 0x3feea11473eb0187, 0x3feeace5422aa0db, 0x3feec49182a3f090,
        0x3feee89f995ad3ad, 0x3fef199bdd85529c, 0x3fef5818dcfba487, 0x3fefa4afa2a490da,
    }; // bits of 2^(j/16), less j << 48
    const __m512d sh = _mm512_set1_pd(0x1.8p52);
    const __m512d kb = _mm512_fmadd_pd(x, _mm512_set1_pd(16 * 1.4426950408889634074), sh);
    const __m512d r =
        _mm512_fmadd_pd(_mm512_sub_pd(kb, sh), _mm512_set1_pd(-0.69314718055994530942 / 16), x);
    const __m512i kbi = _mm512_castpd_si512(kb);
    const __m512i t =
        _mm512_permutex2var_epi64(_mm512_loadu_si512(tab), kbi, _mm512_loadu_si512(tab + 8));
    const __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(t, _mm512_slli_epi64(kbi, 48)));
    const __m512d c1 = _mm512_set1_pd(0x1.0000000d0ef91p+0);
    const __m512d c2 = _mm512_set1_pd(0x1.00021f891c444p-1);
    const __m512d c3 = _mm512_set1_pd(0x1.55523a603d7c4p-3);
    const __m512d lo = _mm512_fmadd_pd(c1, r, _mm512_set1_pd(1.0));
    const __m512d hi = _mm512_fmadd_pd(c3, r, c2);
    return _mm512_mul_pd(s, _mm512_fmadd_pd(_mm512_mul_pd(r, r), hi, lo));
}
static inline vd vd_exp_tab(vd x) { return (vd){exp_tab_q(x.lo), exp_tab_q(x.hi)}; }
// e^{x - m} for floats x <= m (softmax's shifted exponentials), in float and
// within 0.63 ulp (0.624 the most over 3·10^8 random pairs with a normal
// result, against long double): d = x - m is taken with its rounding error err (Knuth's
// two-sum), n = round(8·d·log2 e), r = d - n·ln2/8 + err (ln2/8 as a 13-bit
// head, whose product with n is exact, and a tail: r within 2^-27.5
// absolutely, |r| <= 0.0434), e^r - 1 = r + r²·(1/2 + r/6 + r²/24) (2^-29
// relative), and 2^(j/8), j = n mod 8, as a float pair Th + Tl from two
// 8-entry tables: Th + (Th·(e^r - 1) + Tl) rounds once, then VSCALEFPS
// multiplies by 2^floor(n/8) (a second rounding only into the subnormals).
// d below -150 is taken as -150 (the result 0, as e^d's); -inf - m gives 0,
// NaN and inf - inf NaN. No call, so nothing around it is spilled.
static inline vf vf_exp_shifted(vf x, vf m) {
    // twice over: VPERMPS reads n mod 16
    static const float th[16] = {EXP8_TH, EXP8_TH}, tl[16] = {EXP8_TL, EXP8_TL}; // exp8.h
    const __m512 nm = _mm512_xor_ps(_mm512_set1_ps(-0.0f), m);
    const __m512 d = _mm512_add_ps(x, nm), bb = _mm512_sub_ps(d, x);
    __m512 err = _mm512_add_ps(_mm512_sub_ps(x, _mm512_sub_ps(d, bb)), _mm512_sub_ps(nm, bb));
    err = _mm512_max_ps(err, _mm512_set1_ps(-1.0f)); // NaN (infinite x or m) → -1, harmless
    const __m512 dc = _mm512_max_ps(_mm512_set1_ps(-150.0f), d); // keeps NaN
    const __m512 sh = _mm512_set1_ps(EXP8_SHIFT);
    const __m512 kb = _mm512_fmadd_ps(dc, _mm512_set1_ps(EXP8_LOG2E_8), sh);
    const __m512 t = _mm512_sub_ps(kb, sh);
    __m512 r = _mm512_fnmadd_ps(t, _mm512_set1_ps(EXP8_LN2_8_HI), dc);
    r = _mm512_add_ps(_mm512_fnmadd_ps(t, _mm512_set1_ps(EXP8_LN2_8_LO), r), err);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(EXP8_C4), r, _mm512_set1_ps(EXP8_C3));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.5f));
    const __m512 p = _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r);
    const __m512i j = _mm512_castps_si512(kb);
    const __m512 h = _mm512_permutexvar_ps(j, _mm512_loadu_ps(th));
    const __m512 l = _mm512_permutexvar_ps(j, _mm512_loadu_ps(tl));
    const __m512 e = _mm512_add_ps(h, _mm512_fmadd_ps(h, p, l));
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(0.125f)),
                                          _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    return _mm512_scalef_ps(e, k);
}

// VW floats from p as doubles, and d rounded to floats at p (the conversions
// from and to memory, without a shuffle between the halves)
static inline vd vd_load_f(const float *p) {
    return (vd){_mm512_cvtps_pd(_mm256_loadu_ps(p)), _mm512_cvtps_pd(_mm256_loadu_ps(p + 8))};
}
static inline void vd_store_f(float *p, vd a) {
    _mm256_storeu_ps(p, _mm512_cvtpd_ps(a.lo));
    _mm256_storeu_ps(p + 8, _mm512_cvtpd_ps(a.hi));
}
// 2^(j - 1023) for j in the low 11 bits of a's significand (j in 1..2046, bit
// 11 clear): a's bits shifted left by 52, into the exponent field.
static inline vd vd_pow2_low(vd a) {
    return (vd){_mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(a.lo), 52)),
                _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(a.hi), 52))};
}
// m ? a : b with the float lanes' mask
static inline vd vd_sel(vm m, vd a, vd b) {
    return (vd){_mm512_mask_blend_pd((__mmask8)m, b.lo, a.lo),
                _mm512_mask_blend_pd((__mmask8)(m >> 8), b.hi, a.hi)};
}
// e^a in double precision (derivatives that cancel near their zeros)
static inline vd vd_exp_d(vd a) {
    return (vd){Sleef_expd8_u10avx512f(a.lo), Sleef_expd8_u10avx512f(a.hi)};
}
static inline vd vd_log1p_d(vd a) {
    return (vd){Sleef_log1pd8_u10avx512f(a.lo), Sleef_log1pd8_u10avx512f(a.hi)};
}
static inline double vd_hsum(vd a) { return _mm512_reduce_add_pd(_mm512_add_pd(a.lo, a.hi)); }

// ---- rows of a narrow softmax, 16 at a time (the body's softmax_narrow_groups) ----
// Each of 16 rows (cols < 32 floats) is loaded as one or two masked vectors,
// and the 16 vectors are reduced together by a butterfly: each level pairs
// two vectors' halves (128-bit quarters, then lanes) and combines them, so
// that 16 rows cost 45 shuffles and combinations instead of 16 horizontal
// reductions of 8 each; the result comes out with row k + 4m in lane 4k + m
// (floats; k + 4m in lane 2k + m for the doubles of each half) and one
// permutation puts row j in lane j. Each row meets the same tree wherever it
// sits among the 16, so a row gets the same bits alone as among others.
#define HAVE_ROW_GROUPS 1
typedef __m512i vi; // 16 lane indices
#define BFLY(OP, SH, a, b, i1, i2) OP(SH(a, b, i1), SH(a, b, i2))
#define Q1010 _MM_SHUFFLE(1, 0, 1, 0)
#define Q3232 _MM_SHUFFLE(3, 2, 3, 2)
#define Q2020 _MM_SHUFFLE(2, 0, 2, 0)
#define Q3131 _MM_SHUFFLE(3, 1, 3, 1)
// The mask of the first w lanes of 16 (w <= 0: none)
static inline __mmask16 first16(int w) {
    return (__mmask16)(w >= 16 ? 0xffffu : w <= 0 ? 0u : (1u << w) - 1u);
}
// Lane r: the maximum of row r (r < nr) of x, rows of cols < 32 floats; NaN
// may or may not win (the row comes out NaN either way).
static inline vf group_max(const float *x, int64_t cols, int nr) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __mmask16 m0 = first16((int)cols), m1 = first16((int)cols - 16);
    __m512 v[16], w[8], t[4], u[2];
    for (int r = 0; r < 16; r++) {
        const bool in = r < nr;
        v[r] = _mm512_mask_loadu_ps(ninf, in ? m0 : 0, x + (in ? r * cols : 0));
        if (m1) {
            const __m512 hi = _mm512_mask_loadu_ps(ninf, in ? m1 : 0, x + (in ? r * cols + 16 : 0));
            v[r] = _mm512_max_ps(hi, v[r]);
        }
    }
    for (int i = 0; i < 8; i++)
        w[i] = BFLY(_mm512_max_ps, _mm512_shuffle_f32x4, v[2 * i], v[2 * i + 1], Q1010, Q3232);
    for (int i = 0; i < 4; i++)
        t[i] = BFLY(_mm512_max_ps, _mm512_shuffle_f32x4, w[2 * i], w[2 * i + 1], Q2020, Q3131);
    for (int i = 0; i < 2; i++)
        u[i] = BFLY(_mm512_max_ps, _mm512_shuffle_ps, t[2 * i], t[2 * i + 1], Q1010, Q3232);
    const __m512 z = BFLY(_mm512_max_ps, _mm512_shuffle_ps, u[0], u[1], Q2020, Q3131);
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), z);
}
// Lane r: the sum of row r (r < nr) of x in double, else 0.
static inline __m512d cvt8(__mmask16 m, int q, const float *p) {
    return _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)(m >> (8 * q)), p + 8 * q));
}
static inline vd group_sum_d(const float *x, int64_t cols, int nr) {
    const __mmask16 m0 = first16((int)cols), m1 = first16((int)cols - 16);
    __m512d v[16], w[8], t[4], u[2];
    for (int r = 0; r < 16; r++) {
        const bool in = r < nr;
        const float *p = x + (in ? r * cols : 0);
        const __mmask16 a = in ? m0 : 0;
        v[r] = _mm512_add_pd(cvt8(a, 0, p), cvt8(a, 1, p));
        if (m1) {
            const __mmask16 c = in ? m1 : 0;
            v[r] = _mm512_add_pd(v[r], _mm512_add_pd(cvt8(c, 0, p + 16), cvt8(c, 1, p + 16)));
        }
    }
    for (int i = 0; i < 8; i++)
        w[i] = BFLY(_mm512_add_pd, _mm512_shuffle_f64x2, v[2 * i], v[2 * i + 1], Q1010, Q3232);
    for (int i = 0; i < 4; i++)
        t[i] = BFLY(_mm512_add_pd, _mm512_shuffle_f64x2, w[2 * i], w[2 * i + 1], Q2020, Q3131);
    for (int i = 0; i < 2; i++)
        u[i] = _mm512_add_pd(_mm512_unpacklo_pd(t[2 * i], t[2 * i + 1]),
                             _mm512_unpackhi_pd(t[2 * i], t[2 * i + 1]));
    const __m512i o = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
    return (vd){_mm512_permutexvar_pd(o, u[0]), _mm512_permutexvar_pd(o, u[1])};
}
// VW lane indices from memory (the body's group_index)
static inline vi vi_load(const int32_t *p) { return _mm512_loadu_si512(p); }
// Lane l: v's lane i[l]
static inline vf vf_perm(vf v, vi i) { return _mm512_permutexvar_ps(i, v); }

// tanh and softplus in double from the body's own exp pieces instead of
// SLEEF's tanhf16 and expf16 + log1pf16 (see k_tanh, k_softplus), as on
// AVX2: 4 Ki floats, elements/ns, tanh 1.09 -> 2.47, softplus 1.06 -> 1.48.
#define TANH_FROM_EXPM1 1
#define SOFTPLUS_IN_DOUBLE 1

#define VW 16 // floats per block
#define KERNELS_NAME "avx512"
#define KERNELS_SYMBOL soma_act_kernels_avx512

#include "cpu/kernels/act_body.h"
