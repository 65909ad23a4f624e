// The wide AVX-512 micro-kernel, MR = 8 rows × 48 columns (three zmm per row
// of C), in inline assembly. It is the packed path's kernel on AVX-512, in
// the order where the tiles walk along the rows of C (gemm.c, b_in_l2): one
// 8×kc micro-panel of A serves a row of tiles while the 48-column panels of
// B stream from L2, so the tile's width is not bounded by what fits L1.
//
// Register map (all 32 zmm registers):
//
//     zmm0 zmm1 zmm2   B(p, 0:16), B(p, 16:32), B(p, 32:48), aligned loads
//     zmm3             A(r, p) broadcast, one row after the other
//     zmm4 … zmm6      epilogue: alpha, beta, beta·C
//     zmm8 + 3r + v    the accumulator of row r (0 … 7), vector v (0 … 2)
//
// Per k step: 3 loads of B, 8 broadcasts, 24 FMAs: 11 loads for 12 cycles of
// FMAs on the two 512-bit pipes, and 24 independent chains, three times the
// 2 pipes × 4 cycles of latency. Twenty-four accumulators, three vectors of
// B and a broadcast need 28 registers: GCC's allocator spilled a vector of B
// to the stack in every k step of the intrinsics version (0.90 of oneDNN at
// 1024²), hence the assembly. The loop runs two k steps per iteration and
// asks for one line of the next micro-panel of A (packed right after this
// one, 8·k floats on), which gemm.c's tiles use next and which otherwise
// comes from L3 when they reach it: +1% for the kernel alone with A's
// micro-panels cycling through 4 MiB.
//
// Arithmetic: each accumulator is the FMA chain over p from zero, then
// alpha·acc (+ beta·C as a separate product and sum, never fused): the same
// bits as the 8×32 kernel and gemm.c's edge path (gemm_internal.h).

#include <immintrin.h>

#include "cpu/gemm_internal.h"

// One row r of a k step: broadcast A(r, p) from a_off bytes into the packed
// micro-panel, then three FMAs into that row's accumulators.
#define ROW(a_off, c0, c1, c2)                                                                     \
    "vbroadcastss " a_off "(%[a]), %%zmm3\n\t"                                                     \
    "vfmadd231ps %%zmm0, %%zmm3, %%zmm" c0 "\n\t"                                                  \
    "vfmadd231ps %%zmm1, %%zmm3, %%zmm" c1 "\n\t"                                                  \
    "vfmadd231ps %%zmm2, %%zmm3, %%zmm" c2 "\n\t"

// One k step: A at a_off (8 floats), B at b_off (48 floats) bytes.
#define KSTEP(a_off, b_off)                                                                        \
    "vmovaps " b_off "(%[b]), %%zmm0\n\t"                                                          \
    "vmovaps " b_off "+64(%[b]), %%zmm1\n\t"                                                       \
    "vmovaps " b_off "+128(%[b]), %%zmm2\n\t"                                                      \
    ROW(a_off "+0", "8", "9", "10")                                                                \
    ROW(a_off "+4", "11", "12", "13")                                                              \
    ROW(a_off "+8", "14", "15", "16")                                                              \
    ROW(a_off "+12", "17", "18", "19")                                                             \
    ROW(a_off "+16", "20", "21", "22")                                                             \
    ROW(a_off "+20", "23", "24", "25")                                                             \
    ROW(a_off "+24", "26", "27", "28")                                                             \
    ROW(a_off "+28", "29", "30", "31")

// Row r of C at %[t]: alpha·acc when beta is 0 (C not read) ...
#define STORE(c0, c1, c2)                                                                          \
    "vmulps %%zmm" c0 ", %%zmm4, %%zmm" c0 "\n\t"                                                  \
    "vmulps %%zmm" c1 ", %%zmm4, %%zmm" c1 "\n\t"                                                  \
    "vmulps %%zmm" c2 ", %%zmm4, %%zmm" c2 "\n\t"                                                  \
    "vmovups %%zmm" c0 ", (%[t])\n\t"                                                              \
    "vmovups %%zmm" c1 ", 64(%[t])\n\t"                                                            \
    "vmovups %%zmm" c2 ", 128(%[t])\n\t"                                                           \
    "add %[ldc], %[t]\n\t"

// ... else alpha·acc + beta·C.
#define UPDATE1(c, off)                                                                            \
    "vmulps " off "(%[t]), %%zmm5, %%zmm6\n\t"                                                     \
    "vmulps %%zmm" c ", %%zmm4, %%zmm" c "\n\t"                                                    \
    "vaddps %%zmm6, %%zmm" c ", %%zmm" c "\n\t"                                                    \
    "vmovups %%zmm" c ", " off "(%[t])\n\t"
#define UPDATE(c0, c1, c2) UPDATE1(c0, "0") UPDATE1(c1, "64") UPDATE1(c2, "128") "add %[ldc], %[t]\n\t"

#define EACH_ROW(X)                                                                                \
    X("8", "9", "10") X("11", "12", "13") X("14", "15", "16") X("17", "18", "19")                  \
    X("20", "21", "22") X("23", "24", "25") X("26", "27", "28") X("29", "30", "31")

void soma_sgemm_avx512_8x48(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                            float *c, int64_t ldc) {
    // The tile of C, asked for now and used after the k loop (four lines
    // cover 48 floats however the row is aligned).
    for (int r = 0; r < 8; r++) {
        const char *row = (const char *)(c + r * ldc);
        _mm_prefetch(row, _MM_HINT_T0);
        _mm_prefetch(row + 64, _MM_HINT_T0);
        _mm_prefetch(row + 128, _MM_HINT_T0);
        _mm_prefetch(row + 191, _MM_HINT_T0);
    }
    int64_t pairs = k / 2;
    const int64_t odd = k & 1, ldc_bytes = ldc * (int64_t)sizeof(float);
    const int beta_zero = beta == 0.0f;
    float *t;
    __asm__ volatile(
        // clang-format off
        "vpxord %%zmm8, %%zmm8, %%zmm8\n\t"
        "vmovaps %%zmm8, %%zmm9\n\t"   "vmovaps %%zmm8, %%zmm10\n\t"  "vmovaps %%zmm8, %%zmm11\n\t"
        "vmovaps %%zmm8, %%zmm12\n\t"  "vmovaps %%zmm8, %%zmm13\n\t"  "vmovaps %%zmm8, %%zmm14\n\t"
        "vmovaps %%zmm8, %%zmm15\n\t"  "vmovaps %%zmm8, %%zmm16\n\t"  "vmovaps %%zmm8, %%zmm17\n\t"
        "vmovaps %%zmm8, %%zmm18\n\t"  "vmovaps %%zmm8, %%zmm19\n\t"  "vmovaps %%zmm8, %%zmm20\n\t"
        "vmovaps %%zmm8, %%zmm21\n\t"  "vmovaps %%zmm8, %%zmm22\n\t"  "vmovaps %%zmm8, %%zmm23\n\t"
        "vmovaps %%zmm8, %%zmm24\n\t"  "vmovaps %%zmm8, %%zmm25\n\t"  "vmovaps %%zmm8, %%zmm26\n\t"
        "vmovaps %%zmm8, %%zmm27\n\t"  "vmovaps %%zmm8, %%zmm28\n\t"  "vmovaps %%zmm8, %%zmm29\n\t"
        "vmovaps %%zmm8, %%zmm30\n\t"  "vmovaps %%zmm8, %%zmm31\n\t"
        // clang-format on
        "test %[pairs], %[pairs]\n\t"
        "jz 2f\n\t"
        "1:\n\t"
        KSTEP("0", "0")
        "prefetcht0 (%[a], %[next_a])\n\t"
        KSTEP("32", "192")
        "add $64, %[a]\n\t"
        "add $384, %[b]\n\t"
        "dec %[pairs]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "test %[odd], %[odd]\n\t"
        "jz 3f\n\t"
        KSTEP("0", "0")
        "3:\n\t"
        "vbroadcastss %[alpha], %%zmm4\n\t"
        "mov %[c], %[t]\n\t"
        "test %[beta_zero], %[beta_zero]\n\t"
        "jz 4f\n\t"
        EACH_ROW(STORE)
        "jmp 5f\n\t"
        "4:\n\t"
        "vbroadcastss %[beta], %%zmm5\n\t"
        EACH_ROW(UPDATE)
        "5:\n\t"
        : [a] "+r"(ap), [b] "+r"(bp), [pairs] "+r"(pairs), [t] "=&r"(t)
        : [odd] "r"(odd), [c] "r"(c), [ldc] "r"(ldc_bytes), [alpha] "m"(alpha), [beta] "m"(beta),
          [beta_zero] "r"(beta_zero), [next_a] "r"(k * 8 * (int64_t)sizeof(float))
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",
          "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",
          "xmm29", "xmm30", "xmm31", "cc", "memory");
}
