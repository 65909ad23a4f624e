/* core/cpu/kernels/act_body.h — the activation kernels, written once on blocks
 * of VW floats through the helper layer (vf/vm/vd types and functions) of the
 * ISA file that includes it: kernels/avx2/act_avx2.c (8 lanes),
 * kernels/avx512/act_avx512.c (16), kernels/neon/act_neon.c (4). That file
 * defines VW, KERNELS_NAME and KERNELS_SYMBOL, then includes this at the end.
 * Only ISA kernel files include it; it has no include guard on purpose. */

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define SQRT1_2 0.70710678118654752440084436210485
#define SQRT_2_OVER_PI 0.79788456080286535587989211986876
#define INV_SQRT_2PI 0.39894228040143267793994605993438
#define GELU_C 0.044715

static inline vf vf_zero(void) { return vf_set1(0.0f); }
static inline unsigned lane_mask(int w) { return (1u << w) - 1u; }
// A block of w <= VW floats: whole when w is VW, else the helper layer's
// partial load (the rest of the lanes `pad`) and store (only w floats
// touched). A partial load of floats stored moments ago by vector stores it
// straddles stalls on store forwarding: read those back whole or as scalars.
static inline vf load_w(const float *p, int w, float pad) {
    return w == VW ? vf_load(p) : vf_load_part(p, w, pad);
}
static inline void store_w(float *p, vf v, int w) {
    if (w == VW) vf_store(p, v);
    else vf_store_part(p, v, w);
}

// e^x - 1 for float x <= 0 (the callers discard what positive x give), in
// double to 2^-30 relative, so that with the product and the rounding that
// follow it is within 0.52 ulp. x = k·ln2 + r, k = round(x·log2 e) (rounded
// by adding EXPM1_SHIFT, which also leaves k + 1023 in the low bits for 2^k),
// |r| <= 0.35: exactly x when k is 0, else within 2^-46 absolutely.
// e^r - 1 = r·(1 + r·Q(r)) with Q a degree 5 Chebyshev fit (2^-30.7 relative
// on |r| <= 0.35), then 2^k·(e^r - 1) - (1 - 2^k) rounded once: 1 - 2^k is
// exact down to k = -53 (and below, within 2^-53 of the result), and for k < 0
// the first term is at most 0.71 of the result (k = -1, r = ln2/2), so it
// keeps its precision. ±0 give ±0, NaN NaN. The caller passes x in double
// clamped below at -100 (expm1_arg), where e^x (below 2^-144) is already lost
// against -1 in double, so that 2^k stays normal.
#define LOG2E 1.4426950408889634074
#define LN2 0.69314718055994530942
#define EXPM1_SHIFT (0x1.8p52 + 1023.0)
static const double expm1_q[6] = {
    0.500000001427659,    0.16666666682523656,  0.04166645690406264,
    0.008333310034706868, 0.001393453165508802, 0.00019891969905683137,
};
static inline vd expm1_arg(vf x) { return vd_cvt(vf_max(vf_set1(-100.0f), x)); } // keeps NaN
typedef struct {
    vd s, p; // 2^k, e^r - 1
} exp_parts;
static inline exp_parts vd_exp_split(vd xd) {
    const vd kb = vd_fma(xd, vd_set1(LOG2E), vd_set1(EXPM1_SHIFT));
    const vd r = vd_fma(vd_sub(kb, vd_set1(EXPM1_SHIFT)), vd_set1(-LN2), xd);
    const vd r2 = vd_mul(r, r); // Q by Estrin: three short chains, not one long one
    const vd q01 = vd_fma(vd_set1(expm1_q[1]), r, vd_set1(expm1_q[0]));
    const vd q23 = vd_fma(vd_set1(expm1_q[3]), r, vd_set1(expm1_q[2]));
    const vd q45 = vd_fma(vd_set1(expm1_q[5]), r, vd_set1(expm1_q[4]));
    const vd q = vd_fma(vd_fma(q45, r2, q23), r2, q01);
    const vd p = vd_mul(r, vd_fma(q, r, vd_set1(1.0))); // r·P(r): keeps -0
    return (exp_parts){vd_pow2_low(kb), p};
}
static inline vd vd_expm1_neg(vd xd) {
    const exp_parts t = vd_exp_split(xd);
    return vd_fms(t.s, t.p, vd_sub(vd_set1(1.0), t.s)); // -0 - (+0) for x = -0
}
// e^x = 2^k·(1 + (e^r - 1)) from the same pieces, for double x in [-700, 0]
// (2^k normal): within 2^-31 relative (the fit's 2^-30.7 of e^r - 1, which
// is at most 0.42 of e^r), about a tenth of SLEEF's double exp.
static inline vd vd_exp_neg(vd xd) {
    const exp_parts t = vd_exp_split(xd);
    return vd_fma(t.s, t.p, t.s);
}

// ---- forward kernels (VW lanes) ----

// σ(x) = 1/(1 + e^{-x}) for x >= 0, e^{x}/(1 + e^{x}) below: e = e^{-|x|} <= 1
// never overflows and is the result's own subnormal tail. SLEEF's error in e
// reaches the result at most undamped, then two roundings (1 + e, the
// quotient): at most 2 ulp, the bound the tests hold it to.
//
// Where the helper layer has an inline exp (HAVE_VF_EXP_IN: vf_exp_in, within
// 0.63 ulp for |x| <= EXP_IN_MAX, no call), e comes from it, its argument
// held at -EXP_IN_MAX (e below 2^-125 is lost against 1 either way); x below
// -EXP_IN_MAX (a subnormal σ) and NaN go to the scalar code (h_sigmoid).
#ifdef HAVE_VF_EXP_IN
static inline vf exp_neg_abs(vf x) {
    return vf_exp_in(vf_max(vf_neg(vf_abs(x)), vf_set1(-EXP_IN_MAX)));
}
static inline vm h_sigmoid(vf x) { return vm_not(vf_ge(x, vf_set1(-EXP_IN_MAX))); }
#else
static inline vf exp_neg_abs(vf x) { return vf_exp(vf_neg(vf_abs(x))); }
static inline vm h_sigmoid(vf x) {
    (void)x;
    return vm_none();
}
#endif
static inline vf k_sigmoid(vf x) {
    const vf e = exp_neg_abs(x);
    const vf num = vf_sel(vf_lt(x, vf_zero()), e, vf_set1(1.0f));
    return vf_div(num, vf_add(vf_set1(1.0f), e));
}

// x·σ(x) = x/(1 + e), e = e^{-x} from SLEEF, in float with error-free steps:
// d + t = 1 + e exactly (Fast2Sum on the larger and the smaller of 1 and e),
// q = x·ρ with ρ = 1/d, then q is corrected by the remainder q·(d + t) - x
// times ρ (a term of an ulp or two of q, to 2^-22 relative). Where the
// helper layer has a reciprocal estimate (HAVE_VF_RCP, 1.5·2^-12), q is x/d
// itself, off the estimate's path, and ρ the estimate: the term, within an
// ulp of q, is then to 2^-11 relative (one multiplication shorter; silu
// 2.10 -> 2.29 elements/ns on AVX2 with vf_exp_in). What remains is
// SLEEF's error in e (halved for x >= 0, where e <= 1, undamped below) and
// the last rounding, as from a quotient in double. The remainder is taken as
// q·d - x and subtracted last, so that ±0 (and the ±2^-149 whose half rounds
// to 0) keep their sign. Scalar code below -80 (e past 5e34, with ρ nearing
// the subnormals and e overflowing at -88.7), at +inf (inf - inf in the
// remainder) and for NaN. With HAVE_VF_EXP_IN, e is vf_exp_in's (0.63 ulp),
// its argument held at -EXP_IN_MAX (x beyond it rounds to x either way).
static inline vf k_silu(vf x) {
    const vf one = vf_set1(1.0f), nx = vf_neg(x);
#ifdef HAVE_VF_EXP_IN
    const vf e = vf_exp_in(vf_max(nx, vf_set1(-EXP_IN_MAX)));
#else
    const vf e = vf_exp(nx);
#endif
    const vf d = vf_add(one, e);
    const vf t = vf_sub(vf_min(one, e), vf_sub(d, vf_max(one, e)));
#ifdef HAVE_VF_RCP
    const vf q = vf_div(x, d), rho = vf_rcp(d);
#else
    const vf rho = vf_div(one, d), q = vf_mul(x, rho);
#endif
    const vf c = vf_fma(q, t, vf_fma(q, d, nx)); // q·(d + t) - x
    return vf_fnma(c, rho, q);
}
static inline vm h_silu(vf x) {
    return vm_not(vm_and(vf_ge(x, vf_set1(-80.0f)), vf_le(x, vf_set1(FLT_MAX))));
}

// e^x: SLEEF's, or vf_exp_in where the helper layer has it, with |x| beyond
// EXP_IN_MAX (overflow, subnormal results) and NaN to the scalar code.
#ifdef HAVE_VF_EXP_IN
static inline vf k_exponential(vf x) { return vf_exp_in(x); }
static inline vm h_exponential(vf x) { return vm_not(vf_le(vf_abs(x), vf_set1(EXP_IN_MAX))); }
#else
static inline vf k_exponential(vf x) { return vf_exp(x); }
static inline vm h_exponential(vf x) {
    (void)x;
    return vm_none();
}
#endif

// tanh: SLEEF's, or where the helper layer asks for it (TANH_FROM_EXPM1:
// AVX2's SLEEF tanhf cost over three times elu; 0.56 -> 1.36 elements/ns),
// -em/(2 + em) with em = e^{-2|x|} - 1 from vd_expm1_neg (2^-30 relative) in
// double, the sign put back. A relative error ε in em reaches the quotient as
// 2ε/(2 + em) <= 2ε (em in [-1, 0]), so it is within 2^-29 before its one
// rounding to float: 1 ulp, the bound. -2|x| is exact (or -inf, clamped at
// -100 by expm1_arg, as are -inf's: tanh rounds to ±1 from |x| = 9); ±0 are
// passed through, NaN propagates.
#ifdef TANH_FROM_EXPM1
static inline vf k_tanh(vf x) {
    const vf ax = vf_abs(x);
    const vd em = vd_expm1_neg(expm1_arg(vf_neg(vf_add(ax, ax))));
    const vf q = vf_cvt(vd_div(em, vd_add(vd_set1(2.0), em))); // -tanh|x|
    return vf_sel(vf_lt(x, vf_zero()), q, vf_sel(vf_eq(x, vf_zero()), x, vf_neg(q)));
}
#else
static inline vf k_tanh(vf x) { return vf_tanh(x); }
#endif

// max(x, 0) + log1p(e^{-|x|}): the log1p term is at most half the result
// when x > 0, and the whole result (rounded once by SLEEF) otherwise.
#ifndef SOFTPLUS_IN_DOUBLE
static inline vf k_softplus(vf x) {
    const vf l = vf_log1p(vf_exp(vf_neg(vf_abs(x))));
    return vf_add(vf_sel(vf_gt(x, vf_zero()), x, vf_zero()), l);
}
#else
// Where the helper layer asks for it (SOFTPLUS_IN_DOUBLE: two SLEEF calls
// cost it more than elu's whole kernel), in double and rounded once:
// e = e^{-|x|} from vd_exp_neg (2^-31; -|x| held at -700, where e^-700 is
// already far below the float result's half ulp), and log1p(e), e in (0, 1],
// as a + 2·atanh(s), s = f/(2 + f), with f = e, a = 0 for e below √2 - 1
// (|x| > 0.8814), else f = (e - 1)/2 (exact: e - 1 by Sterbenz from 1/2 up,
// within 2^-54 absolutely below) and a = ln 2, so that 1 + f is within
// [√2/2, √2]: f in [-0.293, 0.414], |s| <= 0.172, s² <= 0.0295.
// 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + ... + s^10/11) leaves s^12/13 < 2^-34
// of it. The relative errors (2^-31 of e, which log1p(e) damps, 2^-34 of the
// series, the division's 2^-53, and a = ln 2 against log1p(f) >= -0.347,
// which at most doubles that part's error) stay below 2^-29 of the result,
// then one rounding: within 1 ulp, the bound (softplus 0.52 -> 0.75
// elements/ns on AVX2). NaN passes through.
static inline vf k_softplus(vf x) {
    const vf ax = vf_abs(x);
    const vd e = vd_exp_neg(vd_nabs_clamp(vd_cvt(x), 700.0));
    const vm big = vf_lt(ax, vf_set1(0.8813736f)); // e > √2 - 1
    const vd f = vd_sel(big, vd_mul(vd_sub(e, vd_set1(1.0)), vd_set1(0.5)), e);
    const vd s = vd_div(f, vd_add(vd_set1(2.0), f));
    const vd z = vd_mul(s, s), u = vd_add(s, s);
    vd q = vd_fma(vd_set1(1.0 / 11), z, vd_set1(1.0 / 9));
    q = vd_fma(q, z, vd_set1(1.0 / 7));
    q = vd_fma(q, z, vd_set1(1.0 / 5));
    q = vd_fma(q, z, vd_set1(1.0 / 3));
    const vd l = vd_fma(vd_mul(u, z), q, u); // log1p(f)
    const vd pos = vd_sel(vf_gt(x, vf_zero()), vd_cvt(x), vd_set1(0.0));
    const vd a = vd_add(pos, vd_sel(big, vd_set1(LN2), vd_set1(0.0)));
    const vf r = vf_cvt(vd_add(a, l));
    return vf_sel(vf_eq(x, x), r, x);
}
#endif
static inline vf k_log_sigmoid(vf x) {
    const vf l = vf_log1p(vf_exp(vf_neg(vf_abs(x))));
    return vf_sel(vf_lt(x, vf_zero()), vf_sub(x, l), vf_neg(l)); // -l: 0 - l is +0 for l = 0
}

// x > 0 ? x : α·expm1(x), the product in double (one rounding).
static inline vf k_elu(vf x, float alpha) {
    vd e = vd_expm1_neg(expm1_arg(x));
    if (alpha != 1.0f) e = vd_mul(e, vd_set1(alpha));
    return vf_sel(vf_gt(x, vf_zero()), x, vf_cvt(e));
}

// scale·x or scale·α·expm1(x), both in double as the scalar code does.
static inline vf k_selu(vf x) {
    const vd xd = expm1_arg(x); // x itself where x > 0
    const vd neg = vd_mul(vd_expm1_neg(xd), vd_set1(SELU_SCALE * SELU_ALPHA));
    return vf_cvt(vd_sel(vf_gt(x, vf_zero()), vd_mul(xd, vd_set1(SELU_SCALE)), neg));
}

// erfc(z) for z = |x|/√2 in double, as t·e^{v·Q(v) - z²} with t = 1/(1 + z/2)
// (the form of Numerical Recipes' erfcc), v = 1 - t and Q a degree 12
// Chebyshev fit on v in [0, 0.79] (|x| <= 10.5; tools/fit_erfc.py makes it):
// v·Q(v) is within 2^-32.8 of ln(erfc(z)·e^{z²}/t), so erfc relatively, and
// exactly 0 at z = 0 (erfc(0) is then exactly 1, and x·Φ(x) rounds as the
// scalar code's at subnormal x). With vd_exp_neg's 2^-31.5, about 2^-31 in
// all. SLEEF's erfcf cost six times as much and needed its argument split
// into float parts.
static const double erfc_fit[13] = {
    -1.2567583341907949,  -0.3032374238828375,  0.16143605331736782,  0.19331318874169984,
    0.05525853350447043,  -0.060259846945758075, -0.06813853446233681, -0.09388337659802175,
    0.2174541557326638,   -0.39090995695003433, 0.6172297598359237,   -0.46334700382767163,
    0.12637119911337574,
};

// 2Φ(x) = erfc(-x/√2) and e^{-x²/2} (gelu's derivative) for |x| <= 10.5;
// larger |x| are computed as 10.5 (the callers replace those lanes).
typedef struct {
    vd phi2; // 2Φ(x)
    vd g;    // e^{-x²/2}
} gelu_parts;
static inline gelu_parts gelu_split(vf x) {
    const vd z = vd_mul(vd_cvt(vf_min(vf_abs(x), vf_set1(10.5f))), vd_set1(SQRT1_2));
    const vd z2 = vd_mul(z, z);
    const vd t = vd_div(vd_set1(1.0), vd_fma(z, vd_set1(0.5), vd_set1(1.0)));
    const vd v = vd_sub(vd_set1(1.0), t);
    vd q = vd_set1(erfc_fit[12]);
    for (int i = 11; i >= 0; i--) q = vd_fma(q, v, vd_set1(erfc_fit[i]));
    const vd w = vd_mul(t, vd_exp_neg(vd_fms(q, v, z2))); // erfc(|x|/√2)
    return (gelu_parts){vd_sel(vf_lt(x, vf_zero()), w, vd_sub(vd_set1(2.0), w)),
                        vd_exp_neg(vd_sub(vd_set1(0.0), z2))};
}
// x·Φ(x) rounds to x beyond 10 (the deficit is below 1e-23 relative); below
// -10 the result heads for the subnormals: scalar code.
static inline vf k_gelu(vf x) {
    const gelu_parts p = gelu_split(x);
    const vf r = vf_cvt(vd_mul(vd_mul(vd_cvt(x), vd_set1(0.5)), p.phi2));
    return vf_sel(vf_gt(x, vf_set1(10.0f)), x, r);
}
static inline vm h_gelu(vf x) { return vm_not(vf_ge(x, vf_set1(-10.0f))); }

// The tanh form: x·σ(t), t = 2·√(2/π)·(x + 0.044715x³), in double; e^{-|t|}
// through vd_exp_neg (exact argument, 2^-31; |t| <= 88 for the x kept), then
// num/(1 + e) in double. Beyond 10 it
// rounds to x; below -9 the result heads for the subnormals: scalar code.
static inline vd gelu_tanh_t(vd xd) {
    const vd x3 = vd_mul(vd_mul(xd, xd), xd);
    return vd_mul(vd_set1(2.0 * SQRT_2_OVER_PI), vd_fma(vd_set1(GELU_C), x3, xd));
}
static inline vf k_gelu_tanh(vf x) {
    const vd xd = vd_cvt(x);
    const vd t = gelu_tanh_t(xd);
    const vm neg = vf_lt(vf_cvt(t), vf_zero());
    const vd e = vd_exp_neg(vd_sel(neg, t, vd_sub(vd_set1(0.0), t)));
    const vd num = vd_sel(neg, vd_mul(xd, e), xd);
    const vf r = vf_cvt(vd_div(num, vd_add(vd_set1(1.0), e)));
    return vf_sel(vf_gt(x, vf_set1(10.0f)), x, r);
}
static inline vm h_gelu_tanh(vf x) { return vm_not(vf_ge(x, vf_set1(-9.0f))); }

// x/(1 + |x|) in float, with what rounding dropped from 1 + |x| (t, by
// Knuth's two-sum) divided back in: the quotient's rounding and a second-order
// term remain, within 1 ulp. ±inf: scalar code.
static inline vf k_softsign(vf x) {
    const vf one = vf_set1(1.0f), ax = vf_abs(x);
    const vf d = vf_add(one, ax), bb = vf_sub(d, one);
    const vf t = vf_add(vf_sub(one, vf_sub(d, bb)), vf_sub(ax, bb));
    const vf q = vf_div(x, d);
    return vf_sel(vf_eq(q, vf_zero()), q, vf_fnma(q, vf_div(t, d), q)); // keeps -0
}
static inline vm h_softsign(vf x) { return vf_eq(vf_abs(x), vf_set1(INFINITY)); }

// The piecewise ones, as the scalar code's ternaries (NaN falls through the
// comparisons into the formula).
static inline vf k_hard_sigmoid(vf x) {
    const vf r = vf_cvt(vd_div(vd_add(vd_cvt(x), vd_set1(3.0)), vd_set1(6.0)));
    return vf_sel(vf_le(x, vf_set1(-3.0f)), vf_zero(),
                  vf_sel(vf_ge(x, vf_set1(3.0f)), vf_set1(1.0f), r));
}
static inline vf k_hard_silu(vf x) {
    const vd xd = vd_cvt(x);
    const vf r = vf_cvt(vd_div(vd_mul(xd, vd_add(xd, vd_set1(3.0))), vd_set1(6.0)));
    return vf_sel(vf_le(x, vf_set1(-3.0f)), vf_set1(-0.0f),
                  vf_sel(vf_ge(x, vf_set1(3.0f)), x, r));
}
static inline vf k_soft_shrink(vf x, float t) {
    const vf r = vf_sel(vf_eq(x, x), vf_zero(), x);
    return vf_sel(vf_gt(x, vf_set1(t)), vf_sub(x, vf_set1(t)),
                  vf_sel(vf_lt(x, vf_set1(-t)), vf_add(x, vf_set1(t)), r));
}
static inline vf k_clamp(vf x, float lo, float hi) {
    return vf_sel(vf_lt(x, vf_set1(lo)), vf_set1(lo),
                  vf_sel(vf_gt(x, vf_set1(hi)), vf_set1(hi), x));
}

// Keras' relu without a negative slope: x > t (or NaN) passes, then the cap.
static inline vf k_relu_capped(vf x, float cap, float t) {
    vf r = vf_sel(vm_or(vf_gt(x, vf_set1(t)), vm_not(vf_eq(x, x))), x, vf_zero());
    if (!isnan(cap)) {
        r = vf_sel(vf_lt(r, vf_zero()), vf_zero(), r);
        r = vf_sel(vf_gt(r, vf_set1(cap)), vf_set1(cap), r);
    }
    return r;
}

// ---- loops ----

// Lanes flagged in h (within the first w) are recomputed by the scalar code
// from the inputs v; the first w lanes of r then go to y.
static void fwd_fix(const soma_activation *a, float *y, vf v, vf r, unsigned h, int w) {
    float xs[VW], ys[VW];
    vf_store(xs, v);
    vf_store(ys, r);
    for (int j = 0; j < w; j++)
        if (h >> j & 1u) soma_activation_forward_scalar(a, &ys[j], &xs[j], 1, 1);
    memcpy(y, ys, (size_t)w * sizeof *y);
}

// y = F over n elements, F an expression in the block v; HARD (an expression
// in v) flags the lanes for the scalar code. The tail is padded with zeros,
// which no kernel flags.
#define FWD_LOOP(F, HARD) FWD_LOOP_FROM(0, F, HARD)
#define FWD_LOOP_FROM(I0, F, HARD)                       \
    for (int64_t i = (I0); i < n; i += VW) {             \
        const int w = n - i < VW ? (int)(n - i) : VW;    \
        const vf v = load_w(x + i, w, 0.0f);             \
        const vf r = (F);                                \
        const unsigned h = vm_bits(HARD) & lane_mask(w); \
        if (!h) store_w(y + i, r, w);                    \
        else fwd_fix(a, y + i, v, r, h, w);              \
    }

// FWD_LOOP two whole blocks at a time, where the helper layer asks for it
// (FWD_PAIRS: on AVX2 exponential 4.1 -> 5.2, sigmoid 3.29 -> 3.50, silu
// 2.29 -> 2.43 elements/ns: two independent chains in flight, half the loop's
// branches); the same bits either way.
#ifndef FWD_PAIRS
#define FWD_LOOP2 FWD_LOOP
#else
#define FWD_LOOP2(F, HARD)                                                 \
    do {                                                                   \
        int64_t i2 = 0;                                                    \
        for (; i2 + 2 * VW <= n; i2 += 2 * VW) {                           \
            vf r0, r1, v0 = vf_load(x + i2), v1 = vf_load(x + i2 + VW);    \
            unsigned h0, h1;                                               \
            {                                                              \
                const vf v = v0;                                           \
                r0 = (F);                                                  \
                h0 = vm_bits(HARD);                                        \
            }                                                              \
            {                                                              \
                const vf v = v1;                                           \
                r1 = (F);                                                  \
                h1 = vm_bits(HARD);                                        \
            }                                                              \
            if (!h0) vf_store(y + i2, r0);                                 \
            else fwd_fix(a, y + i2, v0, r0, h0, VW);                       \
            if (!h1) vf_store(y + i2 + VW, r1);                            \
            else fwd_fix(a, y + i2 + VW, v1, r1, h1, VW);                  \
        }                                                                  \
        FWD_LOOP_FROM(i2, F, HARD);                                        \
    } while (0)
#endif

#ifdef HAVE_SILU_PAIR
// silu two blocks at a time through the helper layer's silu_pair, which
// computes k_silu's bits more cheaply where every lane of both blocks lies
// in its range; a pair it refuses (a lane outside, NaN, inf) goes through
// k_silu and h_silu as FWD_LOOP2's would.
static void silu_forward(const soma_activation *a, float *y, const float *x, int64_t n) {
    int64_t i2 = 0;
    for (; i2 + 2 * VW <= n; i2 += 2 * VW) {
        const vf v0 = vf_load(x + i2), v1 = vf_load(x + i2 + VW);
        vf r0, r1;
        if (silu_pair(v0, v1, &r0, &r1)) {
            vf_store(y + i2, r0);
            vf_store(y + i2 + VW, r1);
            continue;
        }
        for (int b = 0; b < 2; b++) {
            const vf v = b ? v1 : v0, r = k_silu(v);
            const unsigned h = vm_bits(h_silu(v));
            if (!h) vf_store(y + i2 + b * VW, r);
            else fwd_fix(a, y + i2 + b * VW, v, r, h, VW);
        }
    }
    FWD_LOOP_FROM(i2, k_silu(v), h_silu(v));
}
#endif

static void bwd_fix(const soma_activation *a, float *dx, vf xv, vf gv, vf r, unsigned h, int w) {
    float xs[VW], gs[VW], ds[VW], ys[VW] = {0};
    vf_store(xs, xv);
    vf_store(gs, gv);
    vf_store(ds, r);
    for (int j = 0; j < w; j++)
        if (h >> j & 1u) soma_activation_backward_scalar(a, &ds[j], &xs[j], &ys[j], &gs[j], 1, 1);
    memcpy(dx, ds, (size_t)w * sizeof *dx);
}

// dx = D over n elements with the blocks xv = x, gv = dy (derivatives that
// need the input), HARD as in FWD_LOOP.
#define BWD_LOOP_X(D, HARD)                              \
    for (int64_t i = 0; i < n; i += VW) {                \
        const int w = n - i < VW ? (int)(n - i) : VW;    \
        const vf xv = load_w(x + i, w, 0.0f);            \
        const vf gv = load_w(dy + i, w, 0.0f);           \
        const vf r = (D);                                \
        const unsigned h = vm_bits(HARD) & lane_mask(w); \
        if (!h) store_w(dx + i, r, w);                   \
        else bwd_fix(a, dx + i, xv, gv, r, h, w);        \
    }

// dx = D with the blocks yv = y, gv = dy (derivatives from the output).
#define BWD_LOOP_Y(D)                                 \
    for (int64_t i = 0; i < n; i += VW) {             \
        const int w = n - i < VW ? (int)(n - i) : VW; \
        const vf yv = load_w(y + i, w, 0.0f);         \
        const vf gv = load_w(dy + i, w, 0.0f);        \
        const vf r = (D);                             \
        (void)yv;                                     \
        store_w(dx + i, r, w);                        \
    }

// ---- rows: softmax and log_softmax ----

static float row_max(const float *x, int64_t n) {
    vf m = vf_set1(-INFINITY);
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        m = vf_max(load_w(x + i, w, -INFINITY), m);
    }
    return vf_hmax(m);
}

// d = x - m as the float d plus its rounding error (Knuth's two-sum), the
// error zeroed where it is not finite (x or m infinite: d is then ±inf or NaN
// and says all).
static inline vf shifted_exp(vf v, vf m) {
    const vf nm = vf_neg(m);
    const vf d = vf_add(v, nm);
    const vf bb = vf_sub(d, v);
    vf err = vf_add(vf_sub(v, vf_sub(d, bb)), vf_sub(nm, bb));
    err = vf_sel(vf_lt(vf_abs(err), vf_set1(INFINITY)), err, vf_zero());
    const vf e = vf_exp(d);
    return vf_fma(e, err, e); // e^{d + err} = e^d·(1 + err)
}
// The rows' exponentials: shifted_exp, or where the helper layer has an
// inline exp (HAVE_VF_EXP_IN, whose layer also has vf_exp_shifted: within
// 0.66 ulp, against SLEEF's 1 plus shifted_exp's correction) the layer's.
static inline vf row_exp(vf v, vf m) {
#ifdef HAVE_VF_EXP_IN
    return vf_exp_shifted(v, m);
#else
    return shifted_exp(v, m);
#endif
}

// As the scalar code: NaN anywhere, +inf (inf - inf) or an all -inf row make
// the row NaN. Exponentials are stored, summed in double, then scaled in
// double: SLEEF's ulp plus one rounding.
static void softmax_row(float *y, const float *x, int64_t n) {
    const vf m = vf_set1(row_max(x, n));
    vd sum = vd_set1(0.0);
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        const vf e = row_exp(load_w(x + i, w, -INFINITY), m);
        sum = vd_add(sum, vd_cvt(e));
        store_w(y + i, e, w);
    }
    const vd inv = vd_set1(1.0 / vd_hsum(sum));
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        const vf r = vf_cvt(vd_mul(vd_cvt(load_w(y + i, w, 0.0f)), inv));
        store_w(y + i, r, w);
    }
}

// Σ exp(x - m) = k + rest with k the count of maxima, log1p(rest) when k is 1
// (the scalar code's split); y = (x - m) - lse in double, one rounding.
// One block of log_softmax_row's sum: e^{v - m} below the maximum added to
// rest, the maxima counted in k, d > 0 or NaN flagged in bad.
static inline vd lsm_block(vf v, vf m, vd rest, int64_t *k, bool *bad) {
    const vf d = vf_add(v, vf_neg(m)); // v - m, as row_exp forms it (one op for both)
    const vm below = vf_lt(d, vf_zero());
    const unsigned at_max = vm_bits(vf_eq(d, vf_zero()));
    *k += __builtin_popcount(at_max);
    *bad |= (vm_bits(below) | at_max) != lane_mask(VW); // d > 0 or NaN
    return vd_add(rest, vd_cvt(vf_sel(below, row_exp(v, m), vf_zero())));
}
static inline vf lsm_out(vf v, vd md, vd ld) { return vf_cvt(vd_sub(vd_sub(vd_cvt(v), md), ld)); }
static void log_softmax_row(float *y, const float *x, int64_t n) {
    const float mf = row_max(x, n);
    const vf m = vf_set1(mf);
    vd rest = vd_set1(0.0);
    int64_t k = 0, i = 0;
    bool bad = false;
#ifdef FWD_PAIRS // two blocks at a time (as FWD_LOOP2), the sum in the same order
    for (; i + 2 * VW <= n; i += 2 * VW) {
        rest = lsm_block(vf_load(x + i), m, rest, &k, &bad);
        rest = lsm_block(vf_load(x + i + VW), m, rest, &k, &bad);
    }
#endif
    for (; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        rest = lsm_block(load_w(x + i, w, -INFINITY), m, rest, &k, &bad);
    }
    const double r = vd_hsum(rest);
    const double lse = bad ? NAN : k == 1 ? log1p(r) : log((double)k + r);
    const vd md = vd_set1((double)mf), ld = vd_set1(lse);
    i = 0;
#ifdef FWD_PAIRS
    for (; i + 2 * VW <= n; i += 2 * VW) {
        const vf o0 = lsm_out(vf_load(x + i), md, ld), o1 = lsm_out(vf_load(x + i + VW), md, ld);
        vf_store(y + i, o0);
        vf_store(y + i + VW, o1);
    }
#endif
    for (; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        store_w(y + i, lsm_out(load_w(x + i, w, 0.0f), md, ld), w);
    }
}

// Rows narrower than two blocks (a classifier's 10 classes) would spend more
// on per-row tails than on arithmetic. There the per-row work (max, sums over
// a few elements) is scalar, and the exponentials and scaling run in blocks
// of VW across row ends against per-element copies of the row values (written
// row by row, read as vectors: building each block's lanes in registers from
// scalar stores would stall on store forwarding). NARROW_ROWS rows at a time
// keep it all on the stack; each row still gets the same bits wherever it
// sits.
#define NARROW_COLS (2 * VW)
#define NARROW_ROWS 64
#define NARROW_N (NARROW_ROWS * NARROW_COLS + VW)

// Row r's value over [r·cols, (r + 1)·cols) as one or two whole blocks
// from r·cols (cols < 2·VW), each spilling into the next row, which
// overwrites it; the last spill is zeroed. A scalar store per element cost
// more than the exponentials.
static void spread_f(float *out, const float *vals, int64_t nr, int64_t cols) {
    for (int64_t r = 0; r < nr; r++) {
        const vf v = vf_set1(vals[r]);
        vf_store(out + r * cols, v);
        if (cols > VW) vf_store(out + r * cols + VW, v);
    }
    vf_store(out + nr * cols, vf_zero());
}
static void spread_d(double *out, const double *vals, int64_t nr, int64_t cols) {
    for (int64_t r = 0; r < nr; r++) {
        const vd v = vd_set1(vals[r]);
        vd_store(out + r * cols, v);
        if (cols > VW) vd_store(out + r * cols + VW, v);
    }
    vd_store(out + nr * cols, vd_set1(0.0));
}

// Each row's maximum (NaN ignored, as by row_max) from at most two blocks
// reduced as vectors: a scalar chain of cols dependent steps per row cost
// more than all the exponentials.
static void row_maxes(float *m, const float *x, int64_t nr, int64_t cols) {
    const int w0 = cols < VW ? (int)cols : VW, w1 = (int)cols - w0;
    for (int64_t r = 0; r < nr; r++) {
        vf v = load_w(x + r * cols, w0, -INFINITY);
        if (w1 > 0) v = vf_max(load_w(x + r * cols + VW, w1, -INFINITY), v);
        m[r] = vf_hmax(v);
    }
}
#ifndef HAVE_ROW_GROUPS
// The double sum of a narrow row's floats, the same way.
static double row_sum_d(const float *x, int64_t cols) {
    const int w0 = cols < VW ? (int)cols : VW, w1 = (int)cols - w0;
    vd s = vd_cvt(load_w(x, w0, 0.0f));
    if (w1 > 0) s = vd_add(s, vd_cvt(load_w(x + VW, w1, 0.0f)));
    return vd_hsum(s);
}
#endif

// Each row's maximum into m, spread per element into me, and e^(x - max) of
// the nr rows into dst, in blocks across row ends.
static void narrow_exps(float *dst, float *m, float *me, const float *x, int64_t nr, int64_t cols) {
    const int64_t n = nr * cols;
    row_maxes(m, x, nr, cols);
    spread_f(me, m, nr, cols);
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        store_w(dst + i, row_exp(load_w(x + i, w, 0.0f), vf_load(me + i)), w);
    }
}

// Narrow rows scale by 1/sum taken as a float pair h + l: e·h + e·l is
// within 2^-47 of e·(1/sum) before its one rounding, for two float
// operations instead of a trip through double.
typedef struct {
    vf h, l;
} recip_pair;
static inline recip_pair recip_split(vd sum) {
    const vd iv = vd_div(vd_set1(1.0), sum);
    const vf h = vf_cvt(iv);
    return (recip_pair){h, vf_cvt(vd_sub(iv, vd_cvt(h)))};
}
static inline vf scale_by(vf e, vf h, vf l) { return vf_fma(e, h, vf_mul(e, l)); }

#ifndef HAVE_ROW_GROUPS
// The pairs of 1/sum spread per element (spread_f).
static void softmax_narrow(float *y, const float *x, int64_t rows, int64_t cols) {
    float m[NARROW_ROWS], me[NARROW_N], ih[NARROW_ROWS], il[NARROW_ROWS];
    float ihe[NARROW_N], ile[NARROW_N];
    double inv[NARROW_ROWS];
    for (int64_t r0 = 0; r0 < rows; r0 += NARROW_ROWS) {
        const int64_t nr = rows - r0 < NARROW_ROWS ? rows - r0 : NARROW_ROWS, n = nr * cols;
        const float *xc = x + r0 * cols;
        float *yc = y + r0 * cols;
        narrow_exps(yc, m, me, xc, nr, cols);
        for (int64_t q = 0; q < NARROW_ROWS; q++) inv[q] = q < nr ? row_sum_d(yc + q * cols, cols) : 1.0;
        for (int64_t q = 0; q < nr; q += VW) {
            const recip_pair p = recip_split(vd_load(inv + q));
            vf_store(ih + q, p.h);
            vf_store(il + q, p.l);
        }
        spread_f(ihe, ih, nr, cols);
        spread_f(ile, il, nr, cols);
        for (int64_t i = 0; i < n; i += VW) {
            const int w = n - i < VW ? (int)(n - i) : VW;
            const vf e = load_w(yc + i, w, 0.0f);
            store_w(yc + i, scale_by(e, vf_load(ihe + i), vf_load(ile + i)), w);
        }
    }
}
#endif

#ifdef HAVE_ROW_GROUPS
// idx[b], b < cols: lane l of block b of VW rows of cols floats belongs to
// row (VW·b + l)/cols (counted, not divided: this runs once per call).
static inline void group_index(vi *idx, int64_t cols) {
    int32_t t[VW];
    int32_t row = 0, c = 0;
    for (int64_t b = 0; b < cols; b++) {
        for (int l = 0; l < VW; l++) {
            t[l] = row;
            if (++c == cols) c = 0, row++;
        }
        idx[b] = vi_load(t);
    }
}

// Where the helper layer reduces VW rows at once (group_max, group_sum_d:
// one vector of VW row values each; 16 rows on AVX-512, 8 on AVX2), narrow
// rows go VW at a time: a group of VW rows is cols whole blocks, and each
// block takes its rows' maxima and
// 1/sum from those vectors by one permutation (vf_perm) instead of through
// per-element copies on the stack. NARROW_ROWS rows at a time, in phases:
// all the groups' maxima (independent reductions that overlap), then their
// exponentials (stored), then their sums (whose row loads then meet no
// stores still in flight) and 1/sum, then the scaling. The numerics are
// softmax_narrow's, with the exponentials from the helper layer's inline
// vf_exp_shifted (within 0.63 ulp on AVX-512, 0.66 on AVX2; SLEEF's expf and
// shifted_exp's correction reach 1.5), which a layer with HAVE_ROW_GROUPS
// must have: the rows' results within 2 ulp. A layer with HAVE_EXP_ROWSHIFT
// (AVX2) gives rows other shifts than their maxima (rowshift_make,
// vf_exp_rowshift_ok, rowshift_fix: see there), into a buffer of its own.
static void softmax_narrow_groups(float *y, const float *x, int64_t rows, int64_t cols) {
    vi idx[NARROW_COLS];
    group_index(idx, cols);
    enum { G = NARROW_ROWS / VW };
#ifdef HAVE_EXP_ROWSHIFT
    // The exponentials apart from y, so that x stays whole for their second
    // pass (y may be x) until the scaling.
    float eb[NARROW_ROWS * NARROW_COLS];
#endif
    for (int64_t r0 = 0; r0 < rows; r0 += NARROW_ROWS) {
        const int64_t nrc = rows - r0 < NARROW_ROWS ? rows - r0 : NARROW_ROWS;
        const int ng = (int)((nrc + VW - 1) / VW);
        int nr[G];
        vf m[G]; // the row maxima first, so that their reductions overlap
        for (int g = 0; g < ng; g++) {
            nr[g] = nrc - g * VW < VW ? (int)(nrc - g * VW) : VW;
            m[g] = group_max(x + (r0 + g * VW) * cols, cols, nr[g]);
        }
#ifdef HAVE_EXP_ROWSHIFT
        rowshift rs[G];
        for (int g = 0; g < ng; g++) rowshift_make(&rs[g], m[g], nr[g]);
#endif
        for (int g = 0; g < ng; g++) {
            const int64_t n = nr[g] * cols;
            const float *xg = x + (r0 + g * VW) * cols;
#ifdef HAVE_EXP_ROWSHIFT
            float *yg = eb + g * VW * cols;
            // The group's exponentials in one pass with the lanes' checks
            // gathered, and a second, block by block, where one failed.
            vm ok = rowshift_all();
            int b = 0;
            for (; (b + 2) * VW <= n; b += 2) {
                const vf v0 = vf_load(xg + b * VW), v1 = vf_load(xg + (b + 1) * VW);
                const vf e0 = vf_exp_rowshift_ok(&rs[g], v0, idx[b], &ok);
                const vf e1 = vf_exp_rowshift_ok(&rs[g], v1, idx[b + 1], &ok);
                vf_store(yg + b * VW, e0);
                vf_store(yg + (b + 1) * VW, e1);
            }
            for (; b * VW < n; b++) {
                const int w = n - b * VW < VW ? (int)(n - b * VW) : VW;
                const vf v = load_w(xg + b * VW, w, 0.0f);
                store_w(yg + b * VW, vf_exp_rowshift_ok(&rs[g], v, idx[b], &ok), w);
            }
            if (!rowshift_ok(ok)) {
                for (b = 0; b * VW < n; b++) {
                    const int w = n - b * VW < VW ? (int)(n - b * VW) : VW;
                    const vf v = load_w(xg + b * VW, w, 0.0f);
                    store_w(yg + b * VW, vf_exp_rowshift(&rs[g], v, idx[b]), w);
                }
            }
#else
            float *yg = y + (r0 + g * VW) * cols;
            for (int b = 0; b * VW < n; b++) {
                const int w = n - b * VW < VW ? (int)(n - b * VW) : VW;
                const vf v = load_w(xg + b * VW, w, 0.0f);
                store_w(yg + b * VW, vf_exp_shifted(v, vf_perm(m[g], idx[b])), w);
            }
#endif
        }
        recip_pair inv[G];
        for (int g = 0; g < ng; g++)
#ifdef HAVE_EXP_ROWSHIFT
            inv[g] = recip_split(vd_add(group_sum_d(eb + g * VW * cols, cols, nr[g]),
                                        rowshift_fix(&rs[g])));
#else
            inv[g] = recip_split(group_sum_d(y + (r0 + g * VW) * cols, cols, nr[g]));
#endif
        for (int g = 0; g < ng; g++) {
            const int64_t n = nr[g] * cols;
            float *yg = y + (r0 + g * VW) * cols;
            for (int b = 0; b * VW < n; b++) {
                const int w = n - b * VW < VW ? (int)(n - b * VW) : VW;
#ifdef HAVE_EXP_ROWSHIFT
                const vf e = load_w(eb + g * VW * cols + b * VW, w, 0.0f);
#else
                const vf e = load_w(yg + b * VW, w, 0.0f);
#endif
                store_w(yg + b * VW,
                        scale_by(e, vf_perm(inv[g].h, idx[b]), vf_perm(inv[g].l, idx[b])), w);
            }
        }
    }
}
#endif

static void log_softmax_narrow(float *y, const float *x, int64_t rows, int64_t cols) {
    float m[NARROW_ROWS], me[NARROW_N], e[NARROW_N];
    double lse[NARROW_ROWS], le[NARROW_N];
    for (int64_t r0 = 0; r0 < rows; r0 += NARROW_ROWS) {
        const int64_t nr = rows - r0 < NARROW_ROWS ? rows - r0 : NARROW_ROWS, n = nr * cols;
        const float *xc = x + r0 * cols;
        float *yc = y + r0 * cols;
        narrow_exps(e, m, me, xc, nr, cols);
        // As log_softmax_row: k maxima, the rest summed, NaN or inf - inf
        // making the row NaN; lse = log1p((k - 1) + rest), VW rows per call.
        for (int64_t q = 0; q < nr; q++) {
            double rest = 0;
            int64_t k = 0;
            bool bad = false;
            for (int64_t j = 0; j < cols; j++) {
                const float d = xc[q * cols + j] - m[q];
                if (d < 0) rest += e[q * cols + j];
                else if (d == 0) k++;
                else bad = true;
            }
            lse[q] = bad ? NAN : (double)(k - 1) + rest;
        }
        for (int64_t q = nr; q < NARROW_ROWS; q++) lse[q] = 0;
        for (int64_t q = 0; q < nr; q += VW) vd_store(lse + q, vd_log1p_d(vd_load(lse + q)));
        spread_d(le, lse, nr, cols);
        for (int64_t i = 0; i < n; i += VW) {
            const int w = n - i < VW ? (int)(n - i) : VW;
            const vf v = load_w(xc + i, w, 0.0f);
            const vd d = vd_sub(vd_cvt(v), vd_cvt(vf_load(me + i)));
            const vf o = vf_cvt(vd_sub(d, vd_load(le + i)));
            store_w(yc + i, o, w);
        }
    }
}

// Backward of narrow rows: the per-row sum scalar, the rest across row ends.
static void softmax_narrow_backward(float *dx, const float *y, const float *dy, int64_t rows,
                                    int64_t cols, bool log_form) {
    double s[NARROW_ROWS], se[NARROW_N]; // Σ dy·y (softmax) or Σ dy (log_softmax)
    for (int64_t r0 = 0; r0 < rows; r0 += NARROW_ROWS) {
        const int64_t nr = rows - r0 < NARROW_ROWS ? rows - r0 : NARROW_ROWS, n = nr * cols;
        const float *yc = y + r0 * cols, *gc = dy + r0 * cols;
        float *dc = dx + r0 * cols;
        for (int64_t q = 0; q < nr; q++) {
            double acc = 0;
            for (int64_t j = 0; j < cols; j++)
                acc += log_form ? (double)gc[q * cols + j]
                                : (double)gc[q * cols + j] * yc[q * cols + j];
            s[q] = acc;
        }
        spread_d(se, s, nr, cols);
        for (int64_t i = 0; i < n; i += VW) {
            const int w = n - i < VW ? (int)(n - i) : VW;
            const vd sv = vd_load(se + i);
            const vf yv = load_w(yc + i, w, 0.0f);
            const vf gv = load_w(gc + i, w, 0.0f);
            const vf o = log_form ? vf_cvt(vd_sub(vd_cvt(gv), vd_mul(vd_cvt(vf_exp(yv)), sv)))
                                  : vf_cvt(vd_mul(vd_cvt(yv), vd_sub(vd_cvt(gv), sv)));
            store_w(dc + i, o, w);
        }
    }
}

// ---- entry points ----

static bool forward(const soma_activation *a, float *y, const float *x, int64_t rows,
                    int64_t cols) {
    const int64_t n = rows * cols;
    const float p0 = a->p[0], p1 = a->p[1], p2 = a->p[2];
    switch (a->kind) {
    case SOMA_ACT_RELU:
        if (p0 == 0) {
            if (isnan(p1) && p2 == 0) {
                FWD_LOOP(vf_max(vf_zero(), v), vm_none());
            } else {
                FWD_LOOP(k_relu_capped(v, p1, p2), vm_none());
            }
            return true;
        }
        if (isnan(p1) && p2 == 0) {
            FWD_LOOP(vf_sel(vf_gt(v, vf_zero()), v, vf_mul(vf_set1(p0), v)), vm_none());
            return true;
        }
        return false; // a slope with a cap or threshold: rare, scalar
    case SOMA_ACT_LEAKY_RELU:
        FWD_LOOP(vf_sel(vf_gt(v, vf_zero()), v, vf_mul(vf_set1(p0), v)), vm_none());
        return true;
    case SOMA_ACT_RELU6: FWD_LOOP(k_clamp(v, 0.0f, 6.0f), vm_none()); return true;
    case SOMA_ACT_HARD_TANH: FWD_LOOP(k_clamp(v, -1.0f, 1.0f), vm_none()); return true;
    case SOMA_ACT_HARD_SIGMOID: FWD_LOOP(k_hard_sigmoid(v), vm_none()); return true;
    case SOMA_ACT_HARD_SILU: FWD_LOOP(k_hard_silu(v), vm_none()); return true;
    case SOMA_ACT_HARD_SHRINK:
        FWD_LOOP(vf_sel(vf_le(vf_abs(v), vf_set1(p0)), vf_zero(), v), vm_none());
        return true;
    case SOMA_ACT_SOFT_SHRINK: FWD_LOOP(k_soft_shrink(v, p0), vm_none()); return true;
    case SOMA_ACT_SIGMOID: FWD_LOOP2(k_sigmoid(v), h_sigmoid(v)); return true;
    case SOMA_ACT_TANH: FWD_LOOP2(k_tanh(v), vm_none()); return true;
    case SOMA_ACT_EXPONENTIAL: FWD_LOOP2(k_exponential(v), h_exponential(v)); return true;
#ifdef HAVE_SILU_PAIR
    case SOMA_ACT_SILU: silu_forward(a, y, x, n); return true;
#else
    case SOMA_ACT_SILU: FWD_LOOP2(k_silu(v), h_silu(v)); return true;
#endif
    case SOMA_ACT_SOFTPLUS: FWD_LOOP2(k_softplus(v), vm_none()); return true;
    case SOMA_ACT_LOG_SIGMOID: FWD_LOOP(k_log_sigmoid(v), vm_none()); return true;
    case SOMA_ACT_ELU: FWD_LOOP(k_elu(v, p0), vm_none()); return true;
    case SOMA_ACT_SELU: FWD_LOOP(k_selu(v), vm_none()); return true;
    case SOMA_ACT_GELU:
        if (p0 != 0) {
            FWD_LOOP(k_gelu_tanh(v), h_gelu_tanh(v));
        } else {
            FWD_LOOP(k_gelu(v), h_gelu(v));
        }
        return true;
    case SOMA_ACT_SOFTSIGN: FWD_LOOP(k_softsign(v), h_softsign(v)); return true;
    case SOMA_ACT_SOFTMAX:
#ifdef HAVE_ROW_GROUPS
        if (cols < NARROW_COLS) softmax_narrow_groups(y, x, rows, cols);
#else
        if (cols < NARROW_COLS) softmax_narrow(y, x, rows, cols);
#endif
        else
            for (int64_t r = 0; r < rows; r++) softmax_row(y + r * cols, x + r * cols, cols);
        return true;
    case SOMA_ACT_LOG_SOFTMAX:
        if (cols < NARROW_COLS) log_softmax_narrow(y, x, rows, cols);
        else
            for (int64_t r = 0; r < rows; r++) log_softmax_row(y + r * cols, x + r * cols, cols);
        return true;
    default: return false;
    }
}

// Derivatives of the x-based kernels, times dy, rounded once.

// The derivatives of silu and gelu cross zero (near -1.28 and -0.75), where
// float-accurate parts would leave an absolute error of an ulp of 1: they are
// double throughout and rounded once, from the inline exp (and erfc fit) to
// 2^-29 or better, and for the lanes near a zero, where that would not do
// either, from a series in x - x0 (silu': see d_silu_d) or SLEEF's double
// exp and a series for Φ (gelu').

// gelu' = Φ(x) + x·φ(x) from gelu_split's parts, whose 2^-30.5 stays below
// 2^-26 of the result except within 0.033 of its zero at x0 = -0.7518 (Φ
// and -x·φ both near 0.226, the slope 0.43). Lanes within GELU_WIN of x0
// take Φ(x) = 1/2 + φ(x)·x·S(x²) with S(z) = Σ z^k/(2k+1)!! (positive
// terms; the 34 below leave 3e-19 relative up to x = 3), evaluated as its
// even and odd halves in z² (two chains, half the latency), φ from SLEEF's
// double exp, computed only when a block has such a lane.
#define GELU_WIN_LO -0.80f
#define GELU_WIN_HI -0.70f
#define GELU_SERIES_TERMS 34
static const double gelu_series[GELU_SERIES_TERMS] = { // 1/(2k+1)!!
    1.0, 0.3333333333333333, 0.06666666666666667, 0.009523809523809525, 0.0010582010582010583,
    9.62000962000962e-05, 7.4000074000074e-06, 4.9333382666716e-07, 2.901963686277412e-08,
    1.5273493085670588e-09, 7.273091945557423e-11, 3.1622138893727926e-12,
    1.264885555749117e-13, 4.684761317589322e-15, 1.6154349370997664e-16,
    5.211080442257311e-18, 1.5791152855325184e-19, 4.5117579586643385e-21,
    1.2193940428822536e-22, 3.1266513920057783e-24, 7.625979004892143e-26,
    1.7734834895098008e-27, 3.9410744211328905e-29, 8.38526472581466e-31,
    1.7112785154723796e-32, 3.3554480695536855e-34, 6.33103409349752e-36,
    1.1510971079086399e-37, 2.019468610366035e-39, 3.4228281531627713e-41,
    5.611193693709461e-43, 8.906656656681684e-45, 1.3702548702587206e-46, 2.04515652277421e-48,
};
static inline vd gelu_grad_series(vd xd) {
    const vd z = vd_mul(xd, xd), w = vd_mul(z, z);
    vd ev = vd_set1(gelu_series[GELU_SERIES_TERMS - 2]);
    vd od = vd_set1(gelu_series[GELU_SERIES_TERMS - 1]);
    for (int k = GELU_SERIES_TERMS - 4; k >= 0; k -= 2) {
        ev = vd_fma(ev, w, vd_set1(gelu_series[k]));
        od = vd_fma(od, w, vd_set1(gelu_series[k + 1]));
    }
    const vd p = vd_fma(z, od, ev);
    const vd phi = vd_mul(vd_exp_d(vd_mul(z, vd_set1(-0.5))), vd_set1(INV_SQRT_2PI));
    // Φ + xφ = 1/2 + φ·(x·p + x)
    return vd_fma(phi, vd_fma(xd, p, xd), vd_set1(0.5));
}
static inline vf d_gelu(vf x, vf g) {
    const vd xd = vd_cvt(x);
    const gelu_parts p = gelu_split(x);
    vd d = vd_fma(vd_mul(xd, vd_set1(INV_SQRT_2PI)), p.g, vd_mul(vd_set1(0.5), p.phi2));
    const vm win = vm_and(vf_gt(x, vf_set1(GELU_WIN_LO)), vf_lt(x, vf_set1(GELU_WIN_HI)));
    if (vm_bits(win)) d = vd_sel(win, gelu_grad_series(xd), d);
    const vf r = vf_cvt(vd_mul(vd_cvt(g), d));
    return vf_sel(vf_gt(x, vf_set1(10.0f)), g, r);
}

// σ(t) + 2x·t'/2·σ(t)·σ(-t) with σ(t), σ(-t) = 1 - σ(t) from one e^{-|t|}.
static inline vf d_gelu_tanh(vf x, vf g) {
    const vd xd = vd_cvt(x);
    const vd t = gelu_tanh_t(xd);
    const vm neg = vf_lt(vf_cvt(t), vf_zero());
    const vd e = vd_exp_d(vd_sel(neg, t, vd_sub(vd_set1(0.0), t)));
    const vd r = vd_div(vd_set1(1.0), vd_add(vd_set1(1.0), e));
    const vd er = vd_mul(e, r);
    const vd s = vd_sel(neg, er, r), sm = vd_sel(neg, r, er);
    const vd du = vd_mul(vd_set1(SQRT_2_OVER_PI),
                         vd_fma(vd_set1(3.0 * GELU_C), vd_mul(xd, xd), vd_set1(1.0)));
    const vd d = vd_fma(vd_mul(vd_mul(vd_set1(2.0), xd), du), vd_mul(s, sm), s);
    return vf_cvt(vd_mul(vd_cvt(g), d));
}

// silu' = σ(x)·(1 + x·σ(-x)) = s + x·p, σ(±x) from e = e^{-|x|} and
// r = 1/(1 + e): s = σ(x) (r, or e·r below 0), p = σ(x)·σ(-x) = e·r², all in
// double, times dy in double and rounded once. e comes from silu_exp (2^-31
// from vd_exp_neg, or 2^-29.2 where the helper layer has vd_exp_tab), r from
// vd_recip (2^-41). A relative error ε in e or r reaches silu' as at most 2ε
// for x >= 0, and as ε·(1 + e/(1+e)·|x|·r/|1 + x·r|) below, which grows as x
// nears the zero at x0 = -1.2785 (1 + x·r → 0, slope 1): outside SILU_WIN
// (±0.025 around x0) it stays below 9.4ε, 2^-26 of the result for the table's
// 2^-29.2, a quarter ulp before the final rounding (within 1 ulp after it).
//
// Near x0 the cancellation is taken out of the formula instead of computed
// more precisely: below 0, silu' = p·(1 + x + e^x), and with h = x - x0
// (exact: x0 as a double pair, x - X0_HI exact by Sterbenz) and e^{x0} =
// -(1 + x0), 1 + x + e^x = h + e^{x0}·expm1(h) exactly, two terms of h's sign.
// expm1(h) by its series to h^5/120 is within 2^-35 for |h| <= 0.027, so
// that factor is within 2^-35 relative however close x is to x0 (the nearest
// float, 1.3e-8 away, included), p within 2^-30: silu' to 2^-29 before its
// rounding. Only blocks with such a lane compute it (no SLEEF call in the
// loop, whose registers a call would spill).
#define SILU_WIN_LO -1.305f
#define SILU_WIN_HI -1.255f
#define SILU_X0_HI -0x1.474973c84120bp+0 // x0 = X0_HI + X0_LO to 2^-107
#define SILU_X0_LO -0x1.f8d74bc9ac154p-54
#define SILU_E0 0x1.1d25cf210482cp-2 // -(1 + X0_HI), e^{x0} to 2^-53
static inline vd silu_exp(vd xd) {
#ifdef HAVE_VD_EXP_TAB
    return vd_exp_tab(xd);
#else
    return vd_exp_neg(xd);
#endif
}
static inline vd silu_near_zero(vd xd) {
    const vd h = vd_sub(vd_sub(xd, vd_set1(SILU_X0_HI)), vd_set1(SILU_X0_LO));
    vd q = vd_fma(vd_set1(1.0 / 120), h, vd_set1(1.0 / 24));
    q = vd_fma(q, h, vd_set1(1.0 / 6));
    q = vd_fma(q, h, vd_set1(0.5));
    const vd em1 = vd_fma(vd_mul(h, h), q, h);
    return vd_fma(vd_set1(SILU_E0), em1, h); // 1 + x + e^x
}
// dy·silu'(x) in double, from x as floats (for the masks) and x, dy as doubles.
static inline vd d_silu_d(vf x, vd xd, vd gd) {
    // x > 700 (e^{-x}·x negligible against 1) as 700; h_silu_grad sends x < -700
    // to the scalar code.
    const vd e = silu_exp(vd_nabs_clamp(xd, 700.0));
    const vd r = vd_recip(vd_add(vd_set1(1.0), e));
    const vd er = vd_mul(e, r), p = vd_mul(er, r);
    vd d = vd_fma(xd, p, vd_sel(vf_lt(x, vf_zero()), er, r));
    const vm win = vm_and(vf_gt(x, vf_set1(SILU_WIN_LO)), vf_lt(x, vf_set1(SILU_WIN_HI)));
    if (vm_bits(win)) d = vd_sel(win, vd_mul(p, silu_near_zero(xd)), d);
    return vd_mul(gd, d);
}
static inline vf d_silu(vf x, vf g) { return vf_cvt(d_silu_d(x, vd_cvt(x), vd_cvt(g))); }
// ±inf would meet inf·0 in these formulas: scalar code (its limits).
static inline vm h_nonfinite(vf x) { return vm_not(vf_le(vf_abs(x), vf_set1(FLT_MAX))); }
// Also x < -700, beyond vd_exp_neg's range, where the scalar code's σ(x)
// goes to 0 (e^{-x} overflowing) and dy = ±inf gives NaN.
static inline vm h_silu_grad(vf x) {
    return vm_not(vm_and(vf_ge(x, vf_set1(-700.0f)), vf_le(x, vf_set1(FLT_MAX))));
}

// silu's backward: whole blocks convert x and dy to double and back straight
// from and to memory (d_silu_d, the same bits as d_silu); the tail goes
// through BWD_LOOP_X.
static void silu_backward(const soma_activation *a, float *dx, const float *x, const float *dy,
                          int64_t n) {
#ifdef FWD_PAIRS // two blocks at a time where neither has a lane for the scalar code
                 // (AVX2: 1.00 -> 1.13 elements/ns), the same bits
    for (; n >= 2 * VW; x += 2 * VW, dy += 2 * VW, dx += 2 * VW, n -= 2 * VW) {
        const vf x0 = vf_load(x), x1 = vf_load(x + VW);
        if (vm_bits(vm_or(h_silu_grad(x0), h_silu_grad(x1)))) break;
        const vd d0 = d_silu_d(x0, vd_load_f(x), vd_load_f(dy));
        const vd d1 = d_silu_d(x1, vd_load_f(x + VW), vd_load_f(dy + VW));
        vd_store_f(dx, d0);
        vd_store_f(dx + VW, d1);
    }
#endif
    for (; n >= VW; x += VW, dy += VW, dx += VW, n -= VW) {
        const vf xv = vf_load(x);
        const unsigned h = vm_bits(h_silu_grad(xv));
        if (!h) {
            vd_store_f(dx, d_silu_d(xv, vd_load_f(x), vd_load_f(dy)));
        } else {
            const vf gv = vf_load(dy);
            bwd_fix(a, dx, xv, gv, d_silu(xv, gv), h, VW);
        }
    }
    BWD_LOOP_X(d_silu(xv, gv), h_silu_grad(xv));
}

static inline vf d_softsign(vf x, vf g) {
    const vd q = vd_add(vd_set1(1.0), vd_cvt(vf_abs(x)));
    return vf_cvt(vd_mul(vd_cvt(g), vd_div(vd_set1(1.0), vd_mul(q, q))));
}

static inline vf d_hard_silu(vf x, vf g) {
    const vd xd = vd_cvt(x);
    const vd d = vd_div(vd_fma(vd_set1(2.0), xd, vd_set1(3.0)), vd_set1(6.0));
    const vf mid = vf_cvt(vd_mul(vd_cvt(g), d));
    return vf_sel(vf_le(x, vf_set1(-3.0f)), vf_mul(g, vf_zero()),
                  vf_sel(vf_ge(x, vf_set1(3.0f)), g, mid));
}

// TF's gradients of relu with a cap or threshold (no slope): 1 where x passes.
static inline vf d_relu_capped(vf x, vf g, float cap, float t) {
    vm pass = vf_gt(x, vf_set1(t));
    if (!isnan(cap)) {
        if (t == 0 && cap == 6) pass = vm_and(pass, vf_lt(x, vf_set1(6.0f)));
        else pass = vm_and(pass, vm_and(vf_le(x, vf_set1(cap)), vf_ge(x, vf_zero())));
    }
    return vf_mul(g, vf_sel(pass, vf_set1(1.0f), vf_zero()));
}

static void softmax_row_backward(float *dx, const float *y, const float *dy, int64_t n) {
    vd acc = vd_set1(0.0);
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        const vf yv = load_w(y + i, w, 0.0f);
        const vf gv = load_w(dy + i, w, 0.0f);
        acc = vd_fma(vd_cvt(gv), vd_cvt(yv), acc);
    }
    const vd dot = vd_set1(vd_hsum(acc));
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        const vf yv = load_w(y + i, w, 0.0f);
        const vf gv = load_w(dy + i, w, 0.0f);
        const vf r = vf_cvt(vd_mul(vd_cvt(yv), vd_sub(vd_cvt(gv), dot)));
        store_w(dx + i, r, w);
    }
}

static void log_softmax_row_backward(float *dx, const float *y, const float *dy, int64_t n) {
    vd acc = vd_set1(0.0);
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        acc = vd_add(acc, vd_cvt(load_w(dy + i, w, 0.0f)));
    }
    const vd s = vd_set1(vd_hsum(acc));
    for (int64_t i = 0; i < n; i += VW) {
        const int w = n - i < VW ? (int)(n - i) : VW;
        const vf yv = load_w(y + i, w, 0.0f);
        const vf gv = load_w(dy + i, w, 0.0f);
        const vf r = vf_cvt(vd_sub(vd_cvt(gv), vd_mul(vd_cvt(vf_exp(yv)), s)));
        store_w(dx + i, r, w);
    }
}

static bool backward(const soma_activation *a, float *dx, const float *x, const float *y,
                     const float *dy, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    const float p0 = a->p[0], p1 = a->p[1], p2 = a->p[2];
    const vf one = vf_set1(1.0f), zero = vf_zero();
    switch (a->kind) {
    case SOMA_ACT_RELU:
        if (isnan(p1) && p2 == 0) {
            BWD_LOOP_Y(vf_mul(gv, vf_sel(vf_gt(yv, zero), one, vf_set1(p0))));
            return true;
        }
        if (p0 == 0) {
            BWD_LOOP_X(d_relu_capped(xv, gv, p1, p2), vm_none());
            return true;
        }
        return false;
    case SOMA_ACT_LEAKY_RELU:
        BWD_LOOP_Y(vf_mul(gv, vf_sel(vf_gt(yv, zero), one, vf_set1(p0))));
        return true;
    case SOMA_ACT_SIGMOID: BWD_LOOP_Y(vf_mul(gv, vf_mul(yv, vf_sub(one, yv)))); return true;
    case SOMA_ACT_TANH:
        BWD_LOOP_Y(vf_mul(gv, vf_mul(vf_sub(one, yv), vf_add(one, yv))));
        return true;
    case SOMA_ACT_EXPONENTIAL: BWD_LOOP_Y(vf_mul(gv, yv)); return true;
    case SOMA_ACT_ELU:
        if (!(p0 > 0)) return false;
        BWD_LOOP_Y(vf_mul(gv, vf_sel(vf_gt(yv, zero), one, vf_add(yv, vf_set1(p0)))));
        return true;
    case SOMA_ACT_SELU: {
        const vf sa = vf_set1((float)SELU_SCALE); // the scalar code's (float)SELU_SCALE
        BWD_LOOP_Y(vf_mul(gv, vf_sel(vf_lt(yv, zero),
                                     vf_cvt(vd_add(vd_cvt(yv), vd_set1(SELU_SCALE * SELU_ALPHA))),
                                     sa)));
        return true;
    }
    case SOMA_ACT_SOFTPLUS: BWD_LOOP_Y(vf_mul(gv, vf_neg(vf_expm1(vf_neg(yv))))); return true;
    case SOMA_ACT_LOG_SIGMOID: BWD_LOOP_Y(vf_mul(gv, vf_neg(vf_expm1(yv)))); return true;
    case SOMA_ACT_HARD_SIGMOID:
        BWD_LOOP_Y(vf_mul(gv, vf_sel(vm_and(vf_gt(yv, zero), vf_lt(yv, one)),
                                     vf_set1(1.0f / 6.0f), zero)));
        return true;
    case SOMA_ACT_RELU6:
        BWD_LOOP_Y(vf_mul(gv, vf_sel(vm_and(vf_gt(yv, zero), vf_lt(yv, vf_set1(6.0f))), one,
                                     zero)));
        return true;
    case SOMA_ACT_HARD_TANH:
        BWD_LOOP_X(vf_mul(gv, vf_sel(vm_and(vf_ge(xv, vf_set1(-1.0f)), vf_le(xv, one)), one, zero)),
                   vm_none());
        return true;
    case SOMA_ACT_HARD_SHRINK:
    case SOMA_ACT_SOFT_SHRINK:
        // y != 0 exactly where |x| > threshold; a negative threshold passes all.
        if (p0 < 0) {
            BWD_LOOP_Y(vf_mul(gv, one));
        } else {
            BWD_LOOP_Y(vf_mul(gv, vf_sel(vf_eq(yv, zero), zero, one)));
        }
        return true;
    case SOMA_ACT_HARD_SILU: BWD_LOOP_X(d_hard_silu(xv, gv), vm_none()); return true;
    case SOMA_ACT_SOFTSIGN: BWD_LOOP_X(d_softsign(xv, gv), vm_none()); return true;
    case SOMA_ACT_SILU: silu_backward(a, dx, x, dy, n); return true;
    case SOMA_ACT_GELU:
        if (p0 != 0) {
            BWD_LOOP_X(d_gelu_tanh(xv, gv), h_nonfinite(xv));
        } else {
            BWD_LOOP_X(d_gelu(xv, gv), h_gelu(xv));
        }
        return true;
    case SOMA_ACT_SOFTMAX:
    case SOMA_ACT_LOG_SOFTMAX: {
        const bool lf = a->kind == SOMA_ACT_LOG_SOFTMAX;
        if (cols < NARROW_COLS) softmax_narrow_backward(dx, y, dy, rows, cols, lf);
        else if (lf)
            for (int64_t r = 0; r < rows; r++)
                log_softmax_row_backward(dx + r * cols, y + r * cols, dy + r * cols, cols);
        else
            for (int64_t r = 0; r < rows; r++)
                softmax_row_backward(dx + r * cols, y + r * cols, dy + r * cols, cols);
        return true;
    }
    default: return false;
    }
}

const soma_act_kernels KERNELS_SYMBOL = {
    .name = KERNELS_NAME,
    .forward = forward,
    .backward = backward,
};
