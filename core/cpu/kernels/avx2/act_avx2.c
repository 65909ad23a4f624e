// Activation kernels for AVX2+FMA on SLEEF (Sleef_*f8_u10avx2), behind
// soma_activation_forward / _backward while the "avx2" kernel set is active.
//
// This file is the helper layer; the kernels themselves (the "body") are
// written once, on blocks of VW floats, in kernels/act_body.h.
//
// How the body stays within 2 ulp (the exact forms are in each kernel):
// - a SLEEF u10 function is within 1 ulp; what follows it either adds a single
//   rounding (float formulas whose other roundings cannot reach the result,
//   or whose roundings are recovered exactly with FMA, as in silu), or runs
//   in double lanes and rounds once at the end;
// - elu and selu take e^x - 1 from the body's own range reduction and
//   polynomial in double (vd_expm1_neg), far cheaper than SLEEF's expm1f;
//   silu's derivative takes e^-|x| from the same pieces (vd_exp_neg; on
//   AVX-512 a table-driven vd_exp_tab), and gelu erfc(|x|/√2) from a fitted
//   t·e^{v·Q(v) - x²/2} (gelu_split), within 2^-29 or better in double; near
//   the derivatives' zeros silu's takes the cancelling factor from a series
//   in x - x0, gelu's SLEEF's double exp and a series for Φ;
// - no transcendental function sees a rounded argument: exp(±x), exp(-|x|)
//   and expm1(x) take x itself, the double ones their argument whole; where
//   a float one's argument is computed (gelu_tanh's 2u) it is formed in
//   double, split into float hi + lo, and the lo part is put back to first
//   order (e^{h+l} = e^h·(1 + l));
// - softmax rows take x - max as a float plus its exact rounding error, and
//   sum in double (on AVX-512, narrow rows take e^{x - max} from an inline
//   float exponential that folds the rounding error in, vf_exp_shifted; on
//   AVX2 all softmax rows do, narrow ones 8 at a time as AVX-512's 16, and
//   those with a maximum m within ±64 take e^{x - K·ln2} instead, K an
//   integer near m·log2 e, where x itself is exact: HAVE_EXP_ROWSHIFT);
// - on AVX2, exponential, sigmoid and silu take e^x from an inline float
//   exponential (vf_exp_in, within 0.63 ulp, below), and tanh and softplus
//   run in double from the body's exp pieces (TANH_FROM_EXPM1,
//   SOFTPLUS_IN_DOUBLE; on AVX-512 too): SLEEF's calls cost more than the 5x
//   of a scalar libm loop the benchmarks ask of the exp-based functions
//   allows.
// Lanes outside a kernel's range (subnormal tails where a product such as
// x·e^x would round twice, and non-finite inputs where a formula gives
// inf·0) are recomputed by the scalar code; the tests sweep both sides.
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/act.h"
#include "cpu/kernels/avx2/partial_avx2.h"
#include "cpu/kernels/exp8.h"

// ---- helper layer: 8 floats (vf), their lane masks (vm), 8 doubles (vd) --------------

typedef __m256 vf;
typedef __m256 vm;
typedef struct {
    __m256d lo, hi;
} vd;

static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
// The first w < 8 floats: nothing outside them is read (under a mask) or
// written (no store-forwarding stall through a stack copy).
static inline vf vf_load_part(const float *p, int w, float pad) {
    const __m256i m = soma_avx2_lanes(w);
    return _mm256_blendv_ps(_mm256_set1_ps(pad), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vf_store_part(float *p, vf v, int w) { soma_avx2_store_first(p, v, w); }
static inline vf vf_set1(float f) { return _mm256_set1_ps(f); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
// 1/a to 1.5·2^-12 relative (VRCPPS), for normal a below 2^126: enough
// where it only scales a correction of an ulp (silu's remainder). As a full
// reciprocal (the estimate and a Newton step in place of VDIVPS, for silu
// and sigmoid) it measured slower: 1.9 against 2.1 and 3.1 elements/ns.
#define HAVE_VF_RCP 1
static inline vf vf_rcp(vf a) { return _mm256_rcp_ps(a); }
// a·b + c and c - a·b, one rounding
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
// a > b ? a : b and a < b ? a : b, as the scalar code's ternaries (maxps and
// minps return b when either is NaN or both are zeros).
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vf vf_neg(vf a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
// Comparisons are ordered: false when a lane is NaN.
static inline vm vf_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vf_le(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline vm vf_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm vf_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vm vm_and(vm a, vm b) { return _mm256_and_ps(a, b); }
static inline vm vm_or(vm a, vm b) { return _mm256_or_ps(a, b); }
static inline vm vm_not(vm a) {
    return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1)));
}
static inline vm vm_none(void) { return _mm256_setzero_ps(); }
// Bit j set when lane j is.
static inline unsigned vm_bits(vm m) { return (unsigned)_mm256_movemask_ps(m); }
// m ? a : b, lane by lane
static inline vf vf_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }

static inline vf vf_exp(vf a) { return Sleef_expf8_u10avx2(a); }
static inline vf vf_expm1(vf a) { return Sleef_expm1f8_u10avx2(a); }
static inline vf vf_log1p(vf a) { return Sleef_log1pf8_u10avx2(a); }
static inline vf vf_tanh(vf a) { return Sleef_tanhf8_u10avx2(a); }

// ---- inline float exponentials (no call: the loops keep their registers) ----
// e^y = 2^k·2^(j/8)·e^r with n = 8k + j = round(8y·log2 e), taken by adding
// 1.5·2^23 (which leaves n in the low bits of kb), and r = y - n·ln2/8 in two
// steps: ln2/8 as a 13-bit head, whose product with |n| < 2^11 is exact, so
// that y - n·head is exact too (r = y for n = 0; else |y| >= 0.04, and both
// are multiples of ulp(y) or of 2^-16, the smaller, of which |r| < 2^-4 is
// fewer than 2^24), then the tail (ln2/8 - head, rounded to float) at 2^-29
// of rounding (|r| < 2^-4). |r| <= ln2/16·(1 + 2^-12) = 0.0434. 2^(j/8) is a
// float pair Th + Tl (Th rounded, Tl the rest, to 2^-48 relative) taken by
// VPERMPS from 8-entry tables with j = n mod 8 in kb's low 3 bits, and
// e^r - 1 is p = r + r²·(1/2 + r/6 + r²/24), Taylor's, whose remainder
// r^5/120·e^0.0434 is below 2^-29.4 of e^r. Then e = Th + (Th·p + Tl), in
// [0.957, 1.92], rounds once. Its error: 0.5 ulp from that rounding plus,
// relative to e, 2^-29 (r's rounding) + 2^-32 (the tail's own rounding,
// times |n| <= 1016) + 2^-29.4 (the polynomial) + 1.05·2^-28 (the inner sum,
// |Th·p + Tl| < 2^-3.5, rounded once) + 2^-48 (the table) < 7.5·10^-9,
// at most 0.126 ulp (e/ulp(e) < 2^24): within 0.63 ulp. Scaling by 2^k is
// exact while the result is a normal float (exp8_scale), else it rounds
// once more (exp8_scale2: only into the subnormals). The tests' dense sweep
// (inline_exp_dense_sweep) holds exponential on this set to 0.63 ulp.
static const float exp8_th[8] = {EXP8_TH}, exp8_tl[8] = {EXP8_TL}; // exp8.h
typedef struct {
    __m256 e;   // 2^(j/8)·e^r, in [0.957, 1.92] (NaN for NaN y)
    __m256i kb; // n in the low bits (n + 0x4b400000)
} exp8_parts;
// An exponential as h + s before their sum (Th and Th·p + Tl), and kb.
typedef struct {
    __m256 h, s;
    __m256i kb;
} exp8_hs;
// 2^(j/8)·(1 + p), j in kb's low 3 bits: the table step of every user of the
// tables.
static inline exp8_hs exp8_tab(__m256 kb, __m256 p) {
    const __m256i j = _mm256_castps_si256(kb);
    const __m256 h = _mm256_permutevar8x32_ps(_mm256_loadu_ps(exp8_th), j);
    const __m256 l = _mm256_permutevar8x32_ps(_mm256_loadu_ps(exp8_tl), j);
    return (exp8_hs){h, _mm256_fmadd_ps(h, p, l), j};
}
// y within ±150 or NaN; err (finite, |err| <= 1) is added to r where
// with_err: e^{y + err}.
static inline exp8_hs exp8_core_hs(__m256 y, __m256 err, bool with_err) {
    const __m256 sh = _mm256_set1_ps(EXP8_SHIFT);
    const __m256 kb = _mm256_fmadd_ps(y, _mm256_set1_ps(EXP8_LOG2E_8), sh);
    const __m256 t = _mm256_sub_ps(kb, sh);
    __m256 r = _mm256_fnmadd_ps(t, _mm256_set1_ps(EXP8_LN2_8_HI), y);
    r = _mm256_fnmadd_ps(t, _mm256_set1_ps(EXP8_LN2_8_LO), r);
    if (with_err) r = _mm256_add_ps(r, err);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(EXP8_C4), r, _mm256_set1_ps(EXP8_C3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.5f));
    return exp8_tab(kb, _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r));
}
static inline exp8_parts exp8_core(__m256 y, __m256 err, bool with_err) {
    const exp8_hs q = exp8_core_hs(y, err, with_err);
    return (exp8_parts){_mm256_add_ps(q.h, q.s), q.kb};
}
// e·2^k by adding k to the exponent field, for results in the normal range
// (y in [-87, 88]: k in [-126, 127] and, at k = -126, j >= 4 and e > 1).
// kb << 20 is n << 20 (0x4b400000 << 20 vanishes), k << 23 once j's bits
// are cleared.
static inline __m256i exp8_k23(__m256i kb) {
    return _mm256_andnot_si256(_mm256_set1_epi32(7 << 20), _mm256_slli_epi32(kb, 20));
}
static inline __m256 exp8_scale(exp8_parts p) {
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p.e), exp8_k23(p.kb)));
}
// e·2^k for k in [-218, 127] as e·2^k1·2^k2, k1 = floor(k/2), both powers
// normal: the first product is exact, the second rounds once (to a
// subnormal or 0 when the result is one). NaN stays NaN.
static inline __m256 exp8_scale2(exp8_parts p) {
    const __m256i k = _mm256_srai_epi32(_mm256_sub_epi32(p.kb, _mm256_set1_epi32(0x4b400000)), 3);
    const __m256i k1 = _mm256_srai_epi32(k, 1), k2 = _mm256_sub_epi32(k, k1);
    const __m256i b = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, b), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, b), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p.e, s1), s2);
}
// e^x within 0.63 ulp for x in [-87, 87]; other lanes (and NaN) give
// garbage: the body sends them to the scalar code (HAVE_VF_EXP_IN).
#define HAVE_VF_EXP_IN 1
#define EXP_IN_MAX 87.0f
static inline vf vf_exp_in(vf x) { return exp8_scale(exp8_core(x, x, false)); }
// e^{x - m} for floats x <= m (softmax's shifted exponentials), within 0.66
// ulp where normal (AVX-512's vf_exp_shifted, in 8 lanes): d = x - m is
// taken with its rounding error err (Knuth's two-sum) folded into r, which
// costs another rounding of r (2^-29) and, |n| up to 1731, a larger tail
// error (2^-31.2): 9.5·10^-9 relative in all, 0.16 ulp. A block with a lane
// below -87 (or NaN) scales in two steps, where subnormal results round a
// second time; there d below -150 is taken as -150 (the result 0, as
// e^d's), -inf - m gives 0, NaN and inf - inf NaN. The clamps cost the
// common block nothing (log_softmax_c1024 1.47 -> 1.58 elements/ns).
static inline vf vf_exp_shifted(vf x, vf m) {
    const __m256 nm = _mm256_xor_ps(_mm256_set1_ps(-0.0f), m);
    const __m256 d = _mm256_add_ps(x, nm), bb = _mm256_sub_ps(d, x);
    __m256 err = _mm256_add_ps(_mm256_sub_ps(x, _mm256_sub_ps(d, bb)), _mm256_sub_ps(nm, bb));
    // All of d in [-87, 0]: x and m finite, so is err, and the results normal.
    if (_mm256_movemask_ps(_mm256_cmp_ps(d, _mm256_set1_ps(-EXP_IN_MAX), _CMP_GE_OQ)) == 0xff)
        return exp8_scale(exp8_core(d, err, true));
    err = _mm256_max_ps(err, _mm256_set1_ps(-1.0f)); // NaN (infinite x or m) → -1, harmless
    const __m256 dc = _mm256_max_ps(_mm256_set1_ps(-150.0f), d); // keeps NaN
    return exp8_scale2(exp8_core(dc, err, true));
}

// silu on two blocks at once where every lane is in [-16, 87] (the body's
// silu_forward; HAVE_SILU_PAIR): k_silu's steps with two taken out, the
// same bits. e = e^{-x} is vf_exp_in's with the argument's sign folded into
// the constants (-x is exact and round to nearest is symmetric, so r, p and
// e come out as vf_exp_in(-x)'s), and without k_silu's clamp of -x at -87:
// exp8_core's reduction and polynomial again, negated, because calling it
// on -x measured 7% slower (4 Ki: 1578 against 1470 ns); the table step is
// exp8_tab's.
// 1 + e's rounding error is t = (1 - d) + e, no Fast2Sum ordering by min
// and max: for d <= 2^24 (x >= -16.6), 1 and d are multiples of ulp(d), so
// 1 - d is exact, and (1 - d) + e is the error of a float sum, itself a
// float, hence exact too: the same t. The pair's test (one min, one max,
// two compares, and NaN from the results: NaN x and +inf give NaN) costs
// less than h_silu's two compares per block. Any lane outside, NaN or inf
// sends the pair to k_silu and the scalar code. silu at 4 Ki on uniform
// [-8, 8], elements/ns: 2.38 with FWD_LOOP2, 2.82 this way; four blocks
// per test 2.87 (not kept), and even VRCPPS·x in place of the division (not
// accurate) only 2.88: the FMA pipes, not the divider, limit it.
#define HAVE_SILU_PAIR 1
static inline __m256 silu_mid(__m256 x) {
    const __m256 sh = _mm256_set1_ps(EXP8_SHIFT), one = _mm256_set1_ps(1.0f);
    const __m256 kb = _mm256_fmadd_ps(x, _mm256_set1_ps(-EXP8_LOG2E_8), sh);
    const __m256 n = _mm256_sub_ps(kb, sh);
    __m256 s = _mm256_fmadd_ps(n, _mm256_set1_ps(EXP8_LN2_8_HI), x); // s = -r
    s = _mm256_fmadd_ps(n, _mm256_set1_ps(EXP8_LN2_8_LO), s);
    __m256 q = _mm256_fnmadd_ps(_mm256_set1_ps(EXP8_C4), s, _mm256_set1_ps(EXP8_C3));
    q = _mm256_fnmadd_ps(q, s, _mm256_set1_ps(0.5f));
    const exp8_hs t8 = exp8_tab(kb, _mm256_fmsub_ps(_mm256_mul_ps(s, s), q, s));
    const __m256 e = exp8_scale((exp8_parts){_mm256_add_ps(t8.h, t8.s), t8.kb});
    const __m256 d = _mm256_add_ps(one, e);
    const __m256 t = _mm256_add_ps(_mm256_sub_ps(one, d), e);
    const __m256 qt = _mm256_div_ps(x, d), rho = _mm256_rcp_ps(d);
    const __m256 c = _mm256_fmadd_ps(qt, t, _mm256_fmsub_ps(qt, d, x)); // q·(d + t) - x
    return _mm256_fnmadd_ps(c, rho, qt);
}
// r0, r1: silu of x0, x1; true where they may be stored as they are.
static inline bool silu_pair(vf x0, vf x1, vf *r0, vf *r1) {
    *r0 = silu_mid(x0);
    *r1 = silu_mid(x1);
    const vm out = vm_or(vm_or(vf_lt(vf_min(x0, x1), vf_set1(-16.0f)),
                               vf_gt(vf_max(x0, x1), vf_set1(EXP_IN_MAX))),
                         _mm256_cmp_ps(*r0, *r1, _CMP_UNORD_Q));
    return vm_bits(out) == 0;
}

// Horizontal max (a > b ? a : b order, so a NaN lane may or may not win).
static inline float vf_hmax(vf a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline vd vd_cvt(vf a) {
    return (vd){_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
                _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1))};
}
// Rounds to float (round to nearest even).
static inline vf vf_cvt(vd a) {
    return _mm256_set_m128(_mm256_cvtpd_ps(a.hi), _mm256_cvtpd_ps(a.lo));
}
static inline vd vd_set1(double d) { return (vd){_mm256_set1_pd(d), _mm256_set1_pd(d)}; }
static inline vd vd_load(const double *p) {
    return (vd){_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)};
}
static inline void vd_store(double *p, vd a) {
    _mm256_storeu_pd(p, a.lo);
    _mm256_storeu_pd(p + 4, a.hi);
}
static inline vd vd_add(vd a, vd b) {
    return (vd){_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)};
}
static inline vd vd_sub(vd a, vd b) {
    return (vd){_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)};
}
static inline vd vd_mul(vd a, vd b) {
    return (vd){_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)};
}
static inline vd vd_div(vd a, vd b) {
    return (vd){_mm256_div_pd(a.lo, b.lo), _mm256_div_pd(a.hi, b.hi)};
}
static inline vd vd_fma(vd a, vd b, vd c) {
    return (vd){_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
}
// a·b - c, one rounding
static inline vd vd_fms(vd a, vd b, vd c) {
    return (vd){_mm256_fmsub_pd(a.lo, b.lo, c.lo), _mm256_fmsub_pd(a.hi, b.hi, c.hi)};
}
// -min(|a|, c), c > 0 (for NaN a, -c)
static inline vd vd_nabs_clamp(vd a, double c) {
    const __m256d s = _mm256_set1_pd(-0.0), nc = _mm256_set1_pd(-c);
    return (vd){_mm256_max_pd(_mm256_or_pd(a.lo, s), nc), _mm256_max_pd(_mm256_or_pd(a.hi, s), nc)};
}
// 1/a for a in [1, 2] (the body needs 2^-41; this is the division's rounding).
// VRCPPS's estimate refined by r·(1 + t + t² + t³) in its place measured
// slower (silu_grad 1.00 -> 0.72 elements/ns): the division is not what
// limits it.
static inline vd vd_recip(vd a) { return vd_div(vd_set1(1.0), a); }
// VW floats from p as doubles, and d rounded to floats at p
static inline vd vd_load_f(const float *p) {
    return (vd){_mm256_cvtps_pd(_mm_loadu_ps(p)), _mm256_cvtps_pd(_mm_loadu_ps(p + 4))};
}
static inline void vd_store_f(float *p, vd a) {
    _mm_storeu_ps(p, _mm256_cvtpd_ps(a.lo));
    _mm_storeu_ps(p + 4, _mm256_cvtpd_ps(a.hi));
}
// 2^(j - 1023) for j in the low 11 bits of a's significand (j in 1..2046, bit
// 11 clear): a's bits shifted left by 52, into the exponent field.
static inline vd vd_pow2_low(vd a) {
    return (vd){_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(a.lo), 52)),
                _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(a.hi), 52))};
}
// m ? a : b with the float lanes' mask
static inline vd vd_sel(vm m, vd a, vd b) {
    __m256i mi = _mm256_castps_si256(m);
    __m256d ml = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(mi)));
    __m256d mh = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(mi, 1)));
    return (vd){_mm256_blendv_pd(b.lo, a.lo, ml), _mm256_blendv_pd(b.hi, a.hi, mh)};
}
// e^a in double precision (derivatives that cancel near their zeros)
static inline vd vd_exp_d(vd a) {
    return (vd){Sleef_expd4_u10avx2(a.lo), Sleef_expd4_u10avx2(a.hi)};
}
static inline vd vd_log1p_d(vd a) {
    return (vd){Sleef_log1pd4_u10avx2(a.lo), Sleef_log1pd4_u10avx2(a.hi)};
}
static inline double vd_hsum(vd a) {
    __m256d s = _mm256_add_pd(a.lo, a.hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}

// ---- rows of a narrow softmax, 8 at a time (the body's softmax_narrow_groups) ----
// As on AVX-512: each of 8 rows (cols < 16 floats) is loaded as one or two
// vectors (four quarters for the sums), and the 8 vectors are reduced together
// by a butterfly (128-bit halves, then lane pairs, then lanes: 7 combinations
// of two shuffles each instead of 8 horizontal reductions and scalar stores),
// coming out with row 2k + m in lane k + 4m (floats; rows 4h + 2k + m in lane
// 2m + k of half h for the doubles, whose last level is a lane permutation)
// before one permutation puts row j in lane j. Each row meets the same tree
// wherever it sits among the 8, so a row gets the same bits alone as among
// others. softmax_c10 at 4 Ki, elements/ns: 1.41 with per-row reductions,
// 1.44 with these on masked loads, 1.73 with whole loads and quarters (and
// vf_exp_shifted's cheaper common block, 1.47 -> 1.57, in between).
#define HAVE_ROW_GROUPS 1
typedef __m256i vi; // 8 lane indices
#define BFLY(OP, SH, a, b, i1, i2) OP(SH(a, b, i1), SH(a, b, i2))
#define Q1010 _MM_SHUFFLE(1, 0, 1, 0)
#define Q3232 _MM_SHUFFLE(3, 2, 3, 2)
#define Q2020 _MM_SHUFFLE(2, 0, 2, 0)
#define Q3131 _MM_SHUFFLE(3, 1, 3, 1)
// Lane r: the maximum of row r (r < nr) of x, rows of cols < 16 floats; NaN
// may or may not win (the row comes out NaN either way). A row of 8 or more
// is two whole loads, the second ending at the row's end (the overlap does
// not change a maximum); a shorter one a masked load padded with -inf.
static inline vf group_max(const float *x, int64_t cols, int nr) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256i m0 = soma_avx2_lanes(cols);
    __m256 v[8], w[4], t[2];
    for (int r = 0; r < 8; r++) {
        const float *p = x + r * cols;
        if (r >= nr) v[r] = ninf;
        else if (cols >= 8) v[r] = _mm256_max_ps(_mm256_loadu_ps(p + cols - 8), _mm256_loadu_ps(p));
        else v[r] = _mm256_blendv_ps(ninf, _mm256_maskload_ps(p, m0), _mm256_castsi256_ps(m0));
    }
    for (int i = 0; i < 4; i++)
        w[i] = BFLY(_mm256_max_ps, _mm256_permute2f128_ps, v[2 * i], v[2 * i + 1], 0x20, 0x31);
    for (int i = 0; i < 2; i++)
        t[i] = BFLY(_mm256_max_ps, _mm256_shuffle_ps, w[2 * i], w[2 * i + 1], Q1010, Q3232);
    const __m256 z = BFLY(_mm256_max_ps, _mm256_shuffle_ps, t[0], t[1], Q2020, Q3131);
    return _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
// Lane r: the sum of row r (r < nr) of x in double, else 0: the row's
// quarters of 4 floats converted straight from memory (a partial one by a
// masked load) and added in order, then the butterfly.
// nq quarters a row (the last one's lanes mq), as a constant where
// group_sum_d calls it: the loops unrolled and v in registers (softmax_c10
// at 4 Ki, elements/ns: 1.70 -> 1.90; the rows' loop kept v on the stack).
__attribute__((always_inline)) static inline vd group_sum_q(const float *x, int64_t cols, int nr,
                                                            int nq, __m128i mq) {
    __m256d v[8], w[4], t[2];
    for (int r = 0; r < 8; r++) {
        const float *p = x + r * cols;
        if (r >= nr) {
            v[r] = _mm256_setzero_pd();
            continue;
        }
        v[r] = _mm256_cvtps_pd(nq == 1 ? _mm_maskload_ps(p, mq) : _mm_loadu_ps(p));
        for (int q = 1; q < nq; q++)
            v[r] = _mm256_add_pd(v[r], _mm256_cvtps_pd(q == nq - 1 ? _mm_maskload_ps(p + 4 * q, mq)
                                                                     : _mm_loadu_ps(p + 4 * q)));
    }
    for (int i = 0; i < 4; i++)
        w[i] = BFLY(_mm256_add_pd, _mm256_permute2f128_pd, v[2 * i], v[2 * i + 1], 0x20, 0x31);
    for (int i = 0; i < 2; i++) // rows 4i + (0, 2, 1, 3)
        t[i] = _mm256_add_pd(_mm256_unpacklo_pd(w[2 * i], w[2 * i + 1]),
                             _mm256_unpackhi_pd(w[2 * i], w[2 * i + 1]));
    return (vd){_mm256_permute4x64_pd(t[0], _MM_SHUFFLE(3, 1, 2, 0)),
                _mm256_permute4x64_pd(t[1], _MM_SHUFFLE(3, 1, 2, 0))};
}
static inline vd group_sum_d(const float *x, int64_t cols, int nr) {
    const int nq = (int)((cols + 3) / 4);
    const __m128i mq = _mm_cmpgt_epi32(_mm_set1_epi32((int)cols - 4 * (nq - 1)),
                                       _mm_setr_epi32(0, 1, 2, 3)); // the last quarter's
    switch (nq) { // cols < 16
    case 1: return group_sum_q(x, cols, nr, 1, mq);
    case 2: return group_sum_q(x, cols, nr, 2, mq);
    case 3: return group_sum_q(x, cols, nr, 3, mq);
    default: return group_sum_q(x, cols, nr, 4, mq);
    }
}
// VW lane indices from memory (the body's group_index)
static inline vi vi_load(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
// Lane l: v's lane i[l]
static inline vf vf_perm(vf v, vi i) { return _mm256_permutevar8x32_ps(v, i); }

// Narrow softmax rows with their shift as a power of two (the body's
// softmax_narrow_groups; HAVE_EXP_ROWSHIFT): softmax is the same for any
// shift of a row's x, so instead of e^{x - m}, whose x - m rounds and needs
// its error folded into r (a two-sum: six additions a block), a row with m
// in [-64, 64] (a "near" row) takes e^{x - K·ln2}, K = round(m·log2 e):
// e^x from exp8_core of x itself, its scale lowered by K in the exponent
// field (integer additions, exact), within 0.63 ulp as vf_exp_in's (|x| <=
// 150). For x >= m - 86, x - K·ln2 is in [-86.4, 0.35]: the results normal
// and below 1.5 (the sum at least e^{-0.35}). A block with any other lane
// (x below m - 86 or NaN in a near row, or a lane of a "far" row: |m| > 64,
// inf or NaN) recomputes those lanes in rowshift_slow: near rows' from x
// held at m - 110 (NaN kept) and scaled in two steps, as exp8_scale2 (0
// below), far rows' as vf_exp_shifted's e^{x - m}. Which way a lane goes
// depends on its x and its row's m only, so a row gets the same bits alone
// as among others. The sums get back the rounding of each row maximum's
// own e (rowshift_fix): without it the row's other results took that
// rounding on top of theirs (1.97 fractional ulps in the tests' rows about
// ±64, against 1.74 before; 1.69 with it). softmax_c10 at 4 Ki,
// elements/ns: 1.90 with vf_exp_shifted (and the unrolled sums), 2.07 this
// way (2.17 without rowshift_fix; a check per block instead of one per
// group 1.92; the exponentials straight into y, which leaves no x for a
// group's second pass where y is x, about the same).
#define HAVE_EXP_ROWSHIFT 1
typedef struct {
    __m256 lo;   // m - 86 for near rows, NaN for far ones
    __m256 m;    // m (0 for rows past nr)
    __m256i k23; // K << 23 (0 for far rows)
    __m256 fix;  // near rows: e^{m - K·ln2} less its float (0 for far rows)
} rowshift;
// From the maxima of rows r < nr in lanes r.
static inline void rowshift_make(rowshift *s, vf m, int nr) {
    const __m256 mv = _mm256_and_ps(m, _mm256_castsi256_ps(soma_avx2_lanes(nr))); // others +0
    const __m256 near = _mm256_cmp_ps(vf_abs(mv), _mm256_set1_ps(64.0f), _CMP_LE_OQ);
    const __m256 mn = _mm256_and_ps(mv, near);
    const __m256i k = _mm256_cvtps_epi32(_mm256_mul_ps(mn, _mm256_set1_ps(0x1.715476p+0f)));
    s->k23 = _mm256_slli_epi32(k, 23);
    s->lo = _mm256_blendv_ps(_mm256_set1_ps(NAN), _mm256_sub_ps(mn, _mm256_set1_ps(86.0f)), near);
    s->m = mv;
    // The maximum's e as its block computes it, h + s rounded to the float
    // e, and that rounding's error (h - e) + s, exact (Fast2Sum: h >= 1 >
    // |s|), both times 2^{k - K} (k - K in [-1, 0]).
    const exp8_hs q = exp8_core_hs(mn, mn, false);
    const __m256 e = _mm256_add_ps(q.h, q.s), err = _mm256_add_ps(_mm256_sub_ps(q.h, e), q.s);
    const __m256i kk = _mm256_sub_epi32(
        _mm256_srai_epi32(_mm256_sub_epi32(q.kb, _mm256_set1_epi32(0x4b400000)), 3), k);
    const __m256 sc =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(kk, _mm256_set1_epi32(127)), 23));
    s->fix = _mm256_and_ps(_mm256_mul_ps(err, sc), near);
}
// What the rows' sums of their floats lack of their maxima's e (once each:
// a row whose maximum is there twice gets half that rounding back).
static inline vd rowshift_fix(const rowshift *s) { return vd_cvt(s->fix); }
// The lanes of e not in ok, recomputed (see above); i, k23: the lanes' rows
// and their K << 23.
__attribute__((noinline)) static __m256 rowshift_slow(const rowshift *s, __m256 x, vi i,
                                                      __m256i k23, __m256 ok, __m256 e) {
    const __m256 lo = _mm256_permutevar8x32_ps(s->lo, i), m = _mm256_permutevar8x32_ps(s->m, i);
    const __m256 far = _mm256_cmp_ps(lo, lo, _CMP_UNORD_Q);
    // near: x >= m - 110 (lo - 24; NaN x stays NaN), e^{x - K·ln2} below
    // 2^-158 there, 0 once scaled; |x| <= 174, |n| < 2^11 as exp8_core needs.
    const __m256 xc = _mm256_max_ps(_mm256_sub_ps(lo, _mm256_set1_ps(24.0f)), x);
    exp8_parts p = exp8_core(xc, xc, false);
    p.kb = _mm256_sub_epi32(p.kb, _mm256_srai_epi32(k23, 20)); // n - 8K: k - K after >> 3
    const __m256 en = exp8_scale2(p);
    const __m256 ef = vf_exp_shifted(x, m);
    return _mm256_blendv_ps(_mm256_blendv_ps(en, ef, far), e, ok);
}
// The near rows' e^{x - K·ln2} in every lane (lane l of row i[l]), and ok:
// whether it is the lane's value (x >= its row's lo).
static inline vf exp_rowshift_fast(const rowshift *s, vf x, vi i, __m256i k23, vm *ok) {
    const exp8_parts p = exp8_core(x, x, false);
    const __m256i kx = exp8_k23(p.kb);
    *ok = _mm256_cmp_ps(x, _mm256_permutevar8x32_ps(s->lo, i), _CMP_GE_OQ);
    return _mm256_castsi256_ps(
        _mm256_add_epi32(_mm256_castps_si256(p.e), _mm256_sub_epi32(kx, k23)));
}
// e^{x - K·ln2} for near rows (e^{x - m} for far ones), lane l of row i[l].
static inline vf vf_exp_rowshift(const rowshift *s, vf x, vi i) {
    const __m256i k23 = _mm256_permutevar8x32_epi32(s->k23, i);
    vm ok;
    const vf e = exp_rowshift_fast(s, x, i, k23, &ok);
    if (_mm256_movemask_ps(ok) != 0xff) return rowshift_slow(s, x, i, k23, ok, e);
    return e;
}
// The same where every lane's check passes (*ok keeps all its lanes set);
// else garbage, *ok not all set.
static inline vf vf_exp_rowshift_ok(const rowshift *s, vf x, vi i, vm *ok) {
    vm k;
    const vf e = exp_rowshift_fast(s, x, i, _mm256_permutevar8x32_epi32(s->k23, i), &k);
    *ok = _mm256_and_ps(*ok, k);
    return e;
}
static inline vm rowshift_all(void) { return _mm256_castsi256_ps(_mm256_set1_epi32(-1)); }
static inline bool rowshift_ok(vm ok) { return _mm256_movemask_ps(ok) == 0xff; }

// tanh and softplus in double from the body's own exp pieces instead of
// SLEEF's tanhf8 and expf8 + log1pf8 (see k_tanh, k_softplus).
#define TANH_FROM_EXPM1 1
#define SOFTPLUS_IN_DOUBLE 1
// The exp-based forward loops take two blocks at a time (FWD_LOOP2).
#define FWD_PAIRS 1

#define VW 8 // floats per block
#define KERNELS_NAME "avx2"
#define KERNELS_SYMBOL soma_act_kernels_avx2

#include "cpu/kernels/act_body.h"
