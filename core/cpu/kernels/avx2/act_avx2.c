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
//   float exponential that folds the rounding error in, vf_exp_shifted).
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

// ---- helper layer: 8 floats (vf), their lane masks (vm), 8 doubles (vd) --------------

typedef __m256 vf;
typedef __m256 vm;
typedef struct {
    __m256d lo, hi;
} vd;

static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
// The first w < 8 floats, under a mask: nothing outside them is read or
// written (and no store-forwarding stall through a stack copy).
static inline __m256i first_lanes(int w) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_load_part(const float *p, int w, float pad) {
    const __m256i m = first_lanes(w);
    return _mm256_blendv_ps(_mm256_set1_ps(pad), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vf_store_part(float *p, vf v, int w) { _mm256_maskstore_ps(p, first_lanes(w), v); }
static inline vf vf_set1(float f) { return _mm256_set1_ps(f); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
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
// 1/a for a in [1, 2] (the body needs 2^-41; this is the division's rounding)
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

#define VW 8 // floats per block
#define KERNELS_NAME "avx2"
#define KERNELS_SYMBOL soma_act_kernels_avx2

#include "cpu/kernels/act_body.h"
