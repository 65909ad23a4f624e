// NEON (AArch64 ASIMD) kernel set: the 8×12 micro-kernel. Packing and the
// direct kernel are the generic ones, which the compiler vectorizes with
// ASIMD at the baseline armv8-a, so this file holds only the tile.
//
// Register map of soma_sgemm_neon_8x12 (32 q registers of 4 floats):
//
//                columns 0-3   4-7    8-11
//     B row   :  v2 (b0)       v3     v4        three loads from the packed panel
//     A column:  v0 = A(0..3, p), v1 = A(4..7, p)
//     C row 0 :  v8            v9     v10       += b · v0[0]
//     C row 1 :  v11           v12    v13       += b · v0[1]
//     C row 2 :  v14           v15    v16       += b · v0[2]
//     C row 3 :  v17           v18    v19       += b · v0[3]
//     C row 4 :  v20           v21    v22       += b · v1[0]
//     C row 5 :  v23           v24    v25       += b · v1[1]
//     C row 6 :  v26           v27    v28       += b · v1[2]
//     C row 7 :  v29           v30    v31       += b · v1[3]
//
// Per k step: 5 loads (2 of A, 3 of B) and 24 FMAs by lane
// (vfmaq_laneq_f32), so A needs no broadcasts. 24 accumulators cover the FMA
// latency on every current core; v5-v7 stay free. Intrinsics leave the
// allocation to the compiler.
#include <arm_neon.h>

#include "cpu/gemm_internal.h"

#define MR 8
#define NR 12

void soma_sgemm_neon_8x12(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                          float *c, int64_t ldc) {
    float32x4_t c00 = vdupq_n_f32(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    float32x4_t c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    float32x4_t c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    float32x4_t c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (int64_t p = 0; p < k; p++) {
        float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4);
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8);
        c00 = vfmaq_laneq_f32(c00, b0, a0, 0);
        c01 = vfmaq_laneq_f32(c01, b1, a0, 0);
        c02 = vfmaq_laneq_f32(c02, b2, a0, 0);
        c10 = vfmaq_laneq_f32(c10, b0, a0, 1);
        c11 = vfmaq_laneq_f32(c11, b1, a0, 1);
        c12 = vfmaq_laneq_f32(c12, b2, a0, 1);
        c20 = vfmaq_laneq_f32(c20, b0, a0, 2);
        c21 = vfmaq_laneq_f32(c21, b1, a0, 2);
        c22 = vfmaq_laneq_f32(c22, b2, a0, 2);
        c30 = vfmaq_laneq_f32(c30, b0, a0, 3);
        c31 = vfmaq_laneq_f32(c31, b1, a0, 3);
        c32 = vfmaq_laneq_f32(c32, b2, a0, 3);
        c40 = vfmaq_laneq_f32(c40, b0, a1, 0);
        c41 = vfmaq_laneq_f32(c41, b1, a1, 0);
        c42 = vfmaq_laneq_f32(c42, b2, a1, 0);
        c50 = vfmaq_laneq_f32(c50, b0, a1, 1);
        c51 = vfmaq_laneq_f32(c51, b1, a1, 1);
        c52 = vfmaq_laneq_f32(c52, b2, a1, 1);
        c60 = vfmaq_laneq_f32(c60, b0, a1, 2);
        c61 = vfmaq_laneq_f32(c61, b1, a1, 2);
        c62 = vfmaq_laneq_f32(c62, b2, a1, 2);
        c70 = vfmaq_laneq_f32(c70, b0, a1, 3);
        c71 = vfmaq_laneq_f32(c71, b1, a1, 3);
        c72 = vfmaq_laneq_f32(c72, b2, a1, 3);
        ap += MR;
        bp += NR;
    }
    float32x4_t acc[MR][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22},
                              {c30, c31, c32}, {c40, c41, c42}, {c50, c51, c52},
                              {c60, c61, c62}, {c70, c71, c72}};
    for (int r = 0; r < MR; r++) {
        float *cr = c + r * ldc;
        for (int v = 0; v < 3; v++) {
            float32x4_t t = vmulq_n_f32(acc[r][v], alpha);
            // alpha·acc + beta·c as two products and a sum, never an FMA:
            // the edge path in gemm.c rounds the same way.
            if (beta != 0.0f) t = vaddq_f32(t, vmulq_n_f32(vld1q_f32(cr + 4 * v), beta));
            vst1q_f32(cr + 4 * v, t);
        }
    }
}

const soma_cpu_kernels soma_kernels_neon = {
    .name = "neon",
    .mr = MR,
    .nr = NR,
    .mc = 120,
    .kc = 256,
    .nc = 4092,
    .ukr = soma_sgemm_neon_8x12,
};
