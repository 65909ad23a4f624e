/* core/cpu/kernels/exp8.h — the constants of the inline float exponential
 * the x86 activation kernels share: e^y = 2^k·2^(j/8)·e^r with n = 8k + j =
 * round(8y·log2 e) (taken by adding EXP8_SHIFT), r = y - n·ln2/8 in two steps
 * (a 13-bit head whose product with |n| < 2^11 is exact, then the tail),
 * e^r - 1 = r + r²·(1/2 + r/6 + r²/24), and 2^(j/8) as the float pair
 * Th + Tl. kernels/avx2/act_avx2.c (exp8_core, silu_mid) proves the error
 * bound; kernels/avx512/act_avx512.c (vf_exp_shifted) uses the same pieces.
 * Constants only: each ISA file writes its own vector code around them. */
#ifndef SOMA_CPU_KERNELS_EXP8_H
#define SOMA_CPU_KERNELS_EXP8_H

#define EXP8_SHIFT 0x1.8p23f        /* 1.5·2^23: rounds to an integer in the low bits */
#define EXP8_LOG2E_8 0x1.715476p+3f /* 8·log2 e */
#define EXP8_LN2_8_HI 0x1.62ep-4f   /* ln2/8, a 13-bit head */
#define EXP8_LN2_8_LO 0x1.0bfbe8p-18f /* ln2/8 - the head, rounded to float */
#define EXP8_C3 0x1.555556p-3f      /* 1/6 */
#define EXP8_C4 0x1.555556p-5f      /* 1/24 */
/* 2^(j/8), j = 0 … 7: Th rounded to float, Tl the rest (2^-48 relative). */
#define EXP8_TH                                                                          \
    0x1p+0f, 0x1.172b84p+0f, 0x1.306fep+0f, 0x1.4bfdaep+0f, 0x1.6a09e6p+0f, 0x1.8ace54p+0f, \
        0x1.ae89fap+0f, 0x1.d5818ep+0f
#define EXP8_TL                                                                        \
    0.0f, -0x1.c15742p-27f, 0x1.4636e2p-25f, -0x1.593abcp-25f, 0x1.9fcef4p-26f,        \
        0x1.15506ep-27f, -0x1.a94b14p-26f, -0x1.822dbcp-27f

#endif
