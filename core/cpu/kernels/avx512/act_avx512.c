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

#define VW 16 // floats per block
#define KERNELS_NAME "avx512"
#define KERNELS_SYMBOL soma_act_kernels_avx512

#include "cpu/kernels/act_body.h"
