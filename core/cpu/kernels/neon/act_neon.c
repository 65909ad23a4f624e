// Activation kernels for AArch64 Advanced SIMD on SLEEF
// (Sleef_*f4_u10advsimd), behind soma_activation_forward / _backward while
// the "neon" kernel set is active.
//
// The kernels are kernels/act_body.h, shared with the other ISAs (the numerics
// are explained in kernels/avx2/act_avx2.c); only the helpers differ: a
// block of 8 floats is two float32x4_t, 8 doubles four float64x2_t, and
// SLEEF is called once per quarter or half.
#include <arm_neon.h>
#include <float.h>
#include <math.h>
#include <sleef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/act.h"

// ---- helper layer: 8 floats (vf), their lane masks (vm), 8 doubles (vd) --------------

typedef struct {
    float32x4_t a, b;
} vf;
typedef struct {
    uint32x4_t a, b;
} vm;
typedef struct {
    float64x2_t q0, q1, q2, q3;
} vd;

#define VF_MAP2(f, x, y) ((vf){f((x).a, (y).a), f((x).b, (y).b)})
#define VF_MAP1(f, x) ((vf){f((x).a), f((x).b)})
#define VM_MAP2(f, x, y) ((vm){f((x).a, (y).a), f((x).b, (y).b)})
#define VD_MAP2(f, x, y) \
    ((vd){f((x).q0, (y).q0), f((x).q1, (y).q1), f((x).q2, (y).q2), f((x).q3, (y).q3)})
#define VD_MAP1(f, x) ((vd){f((x).q0), f((x).q1), f((x).q2), f((x).q3)})

static inline vf vf_load(const float *p) { return (vf){vld1q_f32(p), vld1q_f32(p + 4)}; }
static inline void vf_store(float *p, vf v) {
    vst1q_f32(p, v.a);
    vst1q_f32(p + 4, v.b);
}
// The first w < 8 floats (the rest of the lanes `pad`), through a copy on
// the stack: NEON has no masked load or store.
static inline vf vf_load_part(const float *p, int w, float pad) {
    float t[8];
    for (int j = 0; j < 8; j++) t[j] = pad;
    memcpy(t, p, (size_t)w * sizeof *t);
    return vf_load(t);
}
static inline void vf_store_part(float *p, vf v, int w) {
    float t[8];
    vf_store(t, v);
    memcpy(p, t, (size_t)w * sizeof *t);
}
static inline vf vf_set1(float f) { return (vf){vdupq_n_f32(f), vdupq_n_f32(f)}; }
static inline vf vf_add(vf a, vf b) { return VF_MAP2(vaddq_f32, a, b); }
static inline vf vf_sub(vf a, vf b) { return VF_MAP2(vsubq_f32, a, b); }
static inline vf vf_mul(vf a, vf b) { return VF_MAP2(vmulq_f32, a, b); }
static inline vf vf_div(vf a, vf b) { return VF_MAP2(vdivq_f32, a, b); }
// a·b + c and c - a·b, one rounding
static inline vf vf_fma(vf a, vf b, vf c) {
    return (vf){vfmaq_f32(c.a, a.a, b.a), vfmaq_f32(c.b, a.b, b.b)};
}
static inline vf vf_fnma(vf a, vf b, vf c) {
    return (vf){vfmsq_f32(c.a, a.a, b.a), vfmsq_f32(c.b, a.b, b.b)};
}
static inline vf vf_abs(vf a) { return VF_MAP1(vabsq_f32, a); }
static inline vf vf_neg(vf a) { return VF_MAP1(vnegq_f32, a); }
// Comparisons are ordered: false when a lane is NaN.
static inline vm vf_lt(vf a, vf b) { return VM_MAP2(vcltq_f32, a, b); }
static inline vm vf_le(vf a, vf b) { return VM_MAP2(vcleq_f32, a, b); }
static inline vm vf_gt(vf a, vf b) { return VM_MAP2(vcgtq_f32, a, b); }
static inline vm vf_ge(vf a, vf b) { return VM_MAP2(vcgeq_f32, a, b); }
static inline vm vf_eq(vf a, vf b) { return VM_MAP2(vceqq_f32, a, b); }
static inline vm vm_and(vm a, vm b) { return VM_MAP2(vandq_u32, a, b); }
static inline vm vm_or(vm a, vm b) { return VM_MAP2(vorrq_u32, a, b); }
static inline vm vm_not(vm a) { return (vm){vmvnq_u32(a.a), vmvnq_u32(a.b)}; }
static inline vm vm_none(void) { return (vm){vdupq_n_u32(0), vdupq_n_u32(0)}; }
// Bit j set when lane j is.
static inline unsigned vm_bits(vm m) {
    static const uint32_t w[4] = {1, 2, 4, 8};
    const uint32x4_t wv = vld1q_u32(w);
    return vaddvq_u32(vandq_u32(m.a, wv)) | vaddvq_u32(vandq_u32(m.b, wv)) << 4;
}
// m ? a : b, lane by lane
static inline vf vf_sel(vm m, vf a, vf b) {
    return (vf){vbslq_f32(m.a, a.a, b.a), vbslq_f32(m.b, a.b, b.b)};
}

// a > b ? a : b and a < b ? a : b, as the scalar code's ternaries (fmax and
// fmin would differ at NaN and signed zeros).
static inline vf vf_max(vf a, vf b) { return vf_sel(vf_gt(a, b), a, b); }
static inline vf vf_min(vf a, vf b) { return vf_sel(vf_lt(a, b), a, b); }

static inline vf vf_exp(vf a) { return VF_MAP1(Sleef_expf4_u10advsimd, a); }
static inline vf vf_expm1(vf a) { return VF_MAP1(Sleef_expm1f4_u10advsimd, a); }
static inline vf vf_log1p(vf a) { return VF_MAP1(Sleef_log1pf4_u10advsimd, a); }
static inline vf vf_tanh(vf a) { return VF_MAP1(Sleef_tanhf4_u10advsimd, a); }

// Horizontal max of lanes that hold no NaN (row_max never lets one in).
static inline float vf_hmax(vf a) {
    return vmaxvq_f32(vbslq_f32(vcgtq_f32(a.a, a.b), a.a, a.b));
}

static inline vd vd_cvt(vf a) {
    return (vd){vcvt_f64_f32(vget_low_f32(a.a)), vcvt_high_f64_f32(a.a),
                vcvt_f64_f32(vget_low_f32(a.b)), vcvt_high_f64_f32(a.b)};
}
// Rounds to float (round to nearest even).
static inline vf vf_cvt(vd a) {
    return (vf){vcvt_high_f32_f64(vcvt_f32_f64(a.q0), a.q1),
                vcvt_high_f32_f64(vcvt_f32_f64(a.q2), a.q3)};
}
// VW floats from p as doubles, and d rounded to floats at p
static inline vd vd_load_f(const float *p) { return vd_cvt(vf_load(p)); }
static inline void vd_store_f(float *p, vd a) { vf_store(p, vf_cvt(a)); }
static inline vd vd_set1(double d) {
    const float64x2_t v = vdupq_n_f64(d);
    return (vd){v, v, v, v};
}
static inline vd vd_load(const double *p) {
    return (vd){vld1q_f64(p), vld1q_f64(p + 2), vld1q_f64(p + 4), vld1q_f64(p + 6)};
}
static inline void vd_store(double *p, vd a) {
    vst1q_f64(p, a.q0);
    vst1q_f64(p + 2, a.q1);
    vst1q_f64(p + 4, a.q2);
    vst1q_f64(p + 6, a.q3);
}
static inline vd vd_add(vd a, vd b) { return VD_MAP2(vaddq_f64, a, b); }
static inline vd vd_sub(vd a, vd b) { return VD_MAP2(vsubq_f64, a, b); }
static inline vd vd_mul(vd a, vd b) { return VD_MAP2(vmulq_f64, a, b); }
static inline vd vd_div(vd a, vd b) { return VD_MAP2(vdivq_f64, a, b); }
static inline vd vd_fma(vd a, vd b, vd c) {
    return (vd){vfmaq_f64(c.q0, a.q0, b.q0), vfmaq_f64(c.q1, a.q1, b.q1),
                vfmaq_f64(c.q2, a.q2, b.q2), vfmaq_f64(c.q3, a.q3, b.q3)};
}
// a·b - c, one rounding
static inline vd vd_fms(vd a, vd b, vd c) {
    return (vd){vfmaq_f64(vnegq_f64(c.q0), a.q0, b.q0), vfmaq_f64(vnegq_f64(c.q1), a.q1, b.q1),
                vfmaq_f64(vnegq_f64(c.q2), a.q2, b.q2), vfmaq_f64(vnegq_f64(c.q3), a.q3, b.q3)};
}
// -min(|a|, c), c > 0
static inline float64x2_t nabs_clamp_q(float64x2_t a, float64x2_t c) {
    return vnegq_f64(vminq_f64(vabsq_f64(a), c));
}
static inline vd vd_nabs_clamp(vd a, double c) {
    const float64x2_t cv = vdupq_n_f64(c);
    return (vd){nabs_clamp_q(a.q0, cv), nabs_clamp_q(a.q1, cv), nabs_clamp_q(a.q2, cv),
                nabs_clamp_q(a.q3, cv)};
}
// 1/a for a in [1, 2] (the body needs 2^-41; this is the division's rounding)
static inline vd vd_recip(vd a) { return vd_div(vd_set1(1.0), a); }
// 2^(j - 1023) for j in the low 11 bits of a's significand (j in 1..2046, bit
// 11 clear): a's bits shifted left by 52, into the exponent field.
static inline float64x2_t pow2_low_q(float64x2_t a) {
    return vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(a), 52));
}
static inline vd vd_pow2_low(vd a) { return VD_MAP1(pow2_low_q, a); }
// m ? a : b with the float lanes' mask (sign-extended to 64 bits)
static inline vd vd_sel(vm m, vd a, vd b) {
    const int32x4_t ma = vreinterpretq_s32_u32(m.a), mb = vreinterpretq_s32_u32(m.b);
    return (vd){vbslq_f64(vreinterpretq_u64_s64(vmovl_s32(vget_low_s32(ma))), a.q0, b.q0),
                vbslq_f64(vreinterpretq_u64_s64(vmovl_high_s32(ma)), a.q1, b.q1),
                vbslq_f64(vreinterpretq_u64_s64(vmovl_s32(vget_low_s32(mb))), a.q2, b.q2),
                vbslq_f64(vreinterpretq_u64_s64(vmovl_high_s32(mb)), a.q3, b.q3)};
}
// e^a in double precision (derivatives that cancel near their zeros)
static inline vd vd_exp_d(vd a) { return VD_MAP1(Sleef_expd2_u10advsimd, a); }
static inline vd vd_log1p_d(vd a) { return VD_MAP1(Sleef_log1pd2_u10advsimd, a); }
static inline double vd_hsum(vd a) {
    return vaddvq_f64(vaddq_f64(vaddq_f64(a.q0, a.q1), vaddq_f64(a.q2, a.q3)));
}

#define VW 8 // floats per block
#define KERNELS_NAME "neon"
#define KERNELS_SYMBOL soma_act_kernels_neon

#include "cpu/kernels/act_body.h"
