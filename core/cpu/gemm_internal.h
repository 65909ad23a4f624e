/* core/cpu/gemm_internal.h — the contract between the portable GEMM framework
 * (gemm.c), the per-ISA kernel files (kernels/<isa>/) and the dispatcher
 * (dispatch.c). Nothing here is public.
 *
 * Layout of packed data (BLIS'):
 * - A is packed into micro-panels of MR rows: panel q holds rows q·MR ...
 *   q·MR+MR-1 of the block, column by column (for each p, MR consecutive
 *   floats). Rows past the end of the matrix are zero.
 * - B is packed into micro-panels of NR columns: for each p, NR consecutive
 *   floats. That is the same layout as packing Bᵀ into panels of NR rows, so a
 *   single pack routine serves both (soma_pack_fn).
 * Buffers start page-aligned; a B panel starts at a multiple of NR·k floats,
 * so with NR = 16 (AVX2) every panel is 64-byte aligned for any k. A set
 * with a wide kernel (nr_wide below) packs a block of B into panels of
 * nr_wide columns followed by at most two of NR, one after the other.
 */
#ifndef SOMA_CORE_GEMM_INTERNAL_H
#define SOMA_CORE_GEMM_INTERNAL_H

#include <stdint.h>

/* The micro-kernel: the full MR×NR tile
 *     C ← alpha·(Ap·Bp) + beta·C
 * where ap is a packed MR×k micro-panel of A, bp a packed k×NR micro-panel of
 * B (64-byte aligned when NR = 16), c a row-major tile with row stride ldc (columns are
 * contiguous, c itself may be unaligned). beta == 0 MUST NOT read C. The
 * product is accumulated in p order from zero, then alpha·acc + beta·c is
 * computed as a multiply, a multiply and an add (no fused rounding), so every
 * element gets the same bits whether it sits in a full or an edge tile. */
typedef void (*soma_sgemm_ukr_fn)(int64_t k, float alpha, const float *ap, const float *bp,
                                  float beta, float *c, int64_t ldc);

/* Packs rows [0, m) × columns [0, k) of a strided matrix X (element (i, p) at
 * x[i·rs + p·cs]) into micro-panels of `mr` rows (layout above), zero-filling
 * the rows of the last panel past m. mr is the set's mr, nr or nr_wide, or,
 * from the panel path, any multiple of 16 with m ≤ mr: one panel holding all
 * of Bᵀ (gemm.c, run_panels). dst is page-aligned; it may be written up
 * to SOMA_PACK_SLACK floats past the last panel, except when packing B (mr =
 * the set's nr, dst then 64-byte aligned): the threads of a team pack
 * adjacent shares of one B buffer at once, so that writes nothing past its
 * last panel. */
typedef void (*soma_pack_fn)(int mr, int64_t m, int64_t k, const float *x, int64_t rs, int64_t cs,
                             float *dst);
#define SOMA_PACK_SLACK 64

/* What the direct kernel does with a tile once the product is in registers:
 * t = alpha·acc (+ beta·c unless beta == 0, which MUST NOT read C), then
 * + bias[j] when bias is not NULL, then relu (t < 0 ? 0 : t, NaN kept) when
 * relu is set. Passed by pointer so that none of it has to stay in a
 * register through the k loop. */
typedef struct soma_tile_epilogue {
    float alpha, beta;
    const float *bias; /* indexed by the call's column j, or NULL */
    int relu;
} soma_tile_epilogue;

/* The unpacked ("direct") kernel for small and skinny products: for m ≤ the
 * table's direct_mr (its narrow_mr, when set, if n ≤ 16) and any n,
 *     C[0:m, 0:n] ← epilogue(A·B)
 * reading A in place (element (i, p) at a[i·rsa + p·csa], any strides) and B
 * in place with contiguous columns (element (p, j) at b[p·ldb + j]). The whole
 * k range is accumulated at once. Every element is computed the same way
 * whatever its position, so how the caller splits the rows or columns never
 * changes a bit of the result. */
typedef void (*soma_sgemm_direct_fn)(int64_t m, int64_t n, int64_t k, const float *a,
                                     int64_t rsa, int64_t csa, const float *b, int64_t ldb,
                                     float *c, int64_t ldc, const soma_tile_epilogue *ep);

/* The dot-product kernel for a few rows of A·Bᵀ (NT with small m: a batch-1
 * input gradient), where packing Bᵀ would cost more than the product:
 *     C[0:m, 0:n] ← epilogue(A·Bᵀ)
 * with the rows of A contiguous along p (element (i, p) at a[i·rsa + p]) and
 * B given as the n×k matrix whose transpose is multiplied (element (p, j) of
 * Bᵀ at b[j·ldb + p]). Each element is a dot product whose summation order
 * depends only on k, so splitting rows or columns changes no bit; the order
 * differs from the packed path's, which is never used for the same shape. */
typedef void (*soma_sgemm_dot_fn)(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                                  const float *b, int64_t ldb, float *c, int64_t ldc,
                                  const soma_tile_epilogue *ep);

/* The largest micro-tile (mr·nr or mr·nr_wide floats) the framework's edge
 * path holds: an edge tile is computed whole into a buffer of this size on
 * the stack and merged from there (gemm.c). A kernel set may use a larger
 * tile only once this constant grows. */
#define SOMA_GEMM_MAX_TILE 384

/* B of at most this many floats (32 KiB) stays in L1 while the direct kernel
 * streams the rows of A past it: used by gemm.c's choice of path and by the
 * AVX2 direct kernel. */
#define SOMA_L1_B_FLOATS 8192

/* One kernel set. Built with designated initializers; dispatch.c starts every
 * set from the generic one, so a slot a set leaves NULL (pack_a, pack_b,
 * direct) falls back to portable C. mc is a multiple of mr and nc of nr (and
 * of nr_wide). */
/* X(1) … X(12), X(1) … X(16): the kernel files' narrow direct kernels
 * (n <= 16, rows in the lanes) are one function per column count, so that n
 * is a constant in each; these list them once for the definitions and the
 * table of each set. */
#define SOMA_NARROW_COLS_12(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#define SOMA_NARROW_COLS_16(X) SOMA_NARROW_COLS_12(X) X(13) X(14) X(15) X(16)

typedef struct soma_cpu_kernels {
    const char *name;  /* "generic", "avx2", "avx512", "neon" (SOMA_CPU)   */
    int mr, nr;        /* micro-tile                                       */
    int mc, kc, nc;    /* cache blocking: A block mc×kc, B block kc×nc     */
    soma_sgemm_ukr_fn ukr;
    /* The packed path's loop order. 0: BLIS' — A's block in L2, B's in L3,
     * each kc×nr panel of B in L1 while the tiles walk down a column of C.
     * 1: A's block (mc rows, in L3) packed once per k-block, B's kc×nc block
     * in L2, each mr×kc micro-panel of A serving every tile along a row of C
     * (oneDNN's order); B's panels then stream from L2, so their width is not
     * bounded by L1. Threads split the rows and pack B each for itself. */
    int b_in_l2;
    /* Optional, only with b_in_l2: a wider micro-kernel, mr×nr_wide, for
     * the packed path's panels of B; the last columns of a block take one
     * or two panels of nr where a wide one would be mostly empty (64
     * columns are two panels of 32, not one of 48 and one two-thirds
     * empty). Left NULL, dispatch.c sets ukr_wide = ukr, nr_wide = nr. */
    int nr_wide;
    soma_sgemm_ukr_fn ukr_wide;
    soma_pack_fn pack_a; /* NULL: soma_pack_generic                        */
    soma_pack_fn pack_b; /* NULL: soma_pack_generic                        */
    int direct_mr;       /* rows per direct-kernel call                    */
    int direct_split;    /* rows in which threads split the direct and the */
                         /* panel paths when n > 16: the direct kernel's   */
                         /* own tile height there; 0: direct_mr            */
    int narrow_mr;       /* rows per direct-kernel call when n ≤ 16, and   */
                         /* the unit of its split; 0: direct_mr            */
    soma_sgemm_direct_fn direct; /* NULL: the generic direct kernel        */
    /* Optional (0: off). An NN or TN product whose B is small enough for the
     * direct path but not for L1 (k·n > SOMA_L1_B_FLOATS) goes to the packed path
     * when 1/m + 1/n < 1/packed_from: the direct kernel reads all of B from
     * L2 again for every few rows, the packed path reads its block of A from
     * L2 once per nr columns and pays for packing A and B once, so it wins
     * where both m and n are large (gemm.c, choose_path). Rows per thread
     * would be the better measure on more than one thread, but the paths
     * round differently and results may not depend on the thread count. */
    int packed_from;
    /* Optional (0: off). A TN product on the direct path whose B leaves L1
     * (k·n > SOMA_L1_B_FLOATS) with at least this many rows, and k small
     * enough that k×16 floats fill at most half of SOMA_L1_B_FLOATS (k ≤
     * 256), goes to the panel path instead: B copied into panels of 16
     * columns, each staying in L1 while the rows of A stream
     * past (gemm.c, run_panels). In place, the 16 columns of a tile come from
     * L2 again for every few rows, next to the scattered lines of Aᵀ. */
    int tn_panel_from;
    soma_sgemm_dot_fn dot;       /* NULL: NT products always packed        */
} soma_cpu_kernels;

/* ---- the kernel sets compiled into this build ---- */
extern const soma_cpu_kernels soma_kernels_generic;
#if defined(__x86_64__)
extern const soma_cpu_kernels soma_kernels_avx2;
extern const soma_cpu_kernels soma_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const soma_cpu_kernels soma_kernels_neon;
#endif

#if defined(__x86_64__)
/* The AVX-512 set's wide kernel, in assembly (kernels/avx512/ukr_8x48.c). */
void soma_sgemm_avx512_8x48(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                            float *c, int64_t ldc);
#endif

/* Portable pieces (kernels/generic/), also the fallbacks of other sets. */
void soma_pack_generic(int mr, int64_t m, int64_t k, const float *x, int64_t rs, int64_t cs,
                       float *dst);
void soma_sgemm_generic_4x8(int64_t k, float alpha, const float *ap, const float *bp, float beta,
                            float *c, int64_t ldc);
void soma_sgemm_generic_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                               int64_t csa, const float *b, int64_t ldb, float *c, int64_t ldc,
                               const soma_tile_epilogue *ep);

/* ---- dispatch.c ----
 * The active set, chosen once (CPUID + XGETBV / HWCAP, SOMA_CPU override) and
 * merged with the generic set; never NULL. Changes only via soma_cpu_force. */
const soma_cpu_kernels *soma_cpu_kernels_active(void);
/* Every set this build has (generic first), NULL-terminated, unmerged. */
const soma_cpu_kernels *const *soma_cpu_kernel_sets(void);
/* Tests only: makes feature detection report that the CPU lacks its tuned
 * ISAs, as an old CPU or an OS without YMM/ZMM state would: hide = 1 hides
 * every one (AVX2/FMA, AVX-512, NEON), 2 only AVX-512 (an AVX2-only CPU), 0
 * none. Takes effect for choices made after the call (soma_cpu_force, or the
 * first init). */
void soma_cpu_test_hide_isa(int hide);

/* ---- gemm.c ----
 * How soma_sgemm will run a shape with the active set and the current
 * thread count: on the direct path or the packed one, in how many pieces,
 * split along M or N. Exposed so tests can check they cover every path. */
typedef struct soma_gemm_plan {
    int direct;
    int dot;   /* NT with few rows on the set's dot-product kernel   */
    int panel; /* NT with a small B: Bᵀ packed, the direct kernel on it */
    int parts;
    int split_m;
} soma_gemm_plan;
soma_gemm_plan soma_sgemm_plan(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k);

#endif
