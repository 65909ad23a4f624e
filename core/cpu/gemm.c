// The GEMM framework (BLIS' five loops), portable C. Everything ISA-specific
// is behind the kernel set dispatch.c picks: the micro-kernel, the packing
// routines and the direct kernel. This file decides, from the shape alone,
// how a product is computed:
// - the direct path (no packing) when op(B) has contiguous columns and
//   either A is a few rows (batch-1 inference, a GEMV in disguise) or B is
//   small enough to stay in L2 while every row panel of A streams past it —
//   the shapes of a training step, where packing would cost more than it
//   saves (a set may send those whose B leaves L1 to the packed path when
//   m and n are large: packed_from, gemm_internal.h);
// - the dot-product kernel for A·Bᵀ with a few rows of A (a batch-1 input
//   gradient), where packing Bᵀ costs more than the product;
// - the panel path for other A·Bᵀ with a small B (the input gradients of a
//   training step): Bᵀ packed, transposed, into one k×n row-major matrix
//   and the direct kernel run on it with A where it lies; and, where the set
//   asks for it (tn_panel_from), for Aᵀ·B whose B leaves L1, packed into
//   panels of 16 columns;
// - otherwise the packed path: A and B packed in blocks, micro-tiles of mr×nr
//   in registers, in one of two loop orders the kernel set picks: BLIS'
//   (A's mc×kc block in L2, B's kc×nc in L3, a panel of B in L1 while the
//   tiles walk down a column of C) or, with b_in_l2, oneDNN's (B's kc×nc
//   block in L2, A's mc rows in L3, a micro-panel of A serving every tile
//   along a row of C).
// Threads split the rows or the columns of C into pieces aligned to the
// micro-tile, never k, and every element of C is computed the same way
// whichever piece it lands in, so results are bit-identical for any thread
// count. Packing buffers are per thread, page-aligned, allocated once; when
// the packed path in BLIS' order splits rows, the threads pack each block of
// B together into the caller's buffer (a team, thread/pool.h) instead of
// each packing all of it.
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cpu/cpu.h"
#include "cpu/gemm_internal.h"
#include "thread/pool.h"

// Direct path limits (see the top comment), measured on Zen: a B of up to
// this many bytes stays in L2 (512 KiB on Zen 3) across the row panels of A...
#define DIRECT_B_BYTES (512u * 1024u)
// ...and with at most this many rows of A (three row panels), packing B does
// not pay back whatever its size: 16×512×512 runs at twice the speed direct.
#define DIRECT_M_MAX 16
// Below this many flops (about 1.2 µs on one core) a product stays on the
// calling thread: handing half to a worker costs a fraction of a
// microsecond while the workers spin between the GEMMs of a training step,
// and more once they sleep (a worker that wakes late costs the caller no
// wait: it runs the unclaimed half itself). Zen 3, 2 threads, tools/ab with
// the workers spinning, 2 threads against 1 (same process, paired rounds):
// 1.6e5 flops (the output layer's products at batch 128: 128×64×10 NT,
// 128×10×64 NN, 64×10×128 TN) 1.51, 1.55, 1.21; 1e5-1.3e5 (80×64×10 NT,
// 32×32×48 NN, 16×64×64 NN) 1.41, 1.29, 1.12; 6e4-8e4 (48×64×10 NT,
// 64×64×10 NT, 64×10×64 NN, 64×10×48 TN) 1.06, 1.04, 1.17, 1.03; 4e4
// (32×64×10 NT, batch 32's) 0.94. The bound was 2.5e5 until December 2026.
#define PARALLEL_MIN_FLOPS 1e5
// NT products with at most this many rows go to the set's dot-product kernel
// (when it has one): packing Bᵀ for one row (batch-1 input gradients) cost
// more than the product. Measured on Zen 5 (AVX-512), m×128×64: 0.39/1.22 µs
// (dot/packed) at m = 1, 0.76/1.28 at 2, 1.17/1.34 at 3, 1.51/1.36 at 4.
#define DOT_M_MAX 3
// The panel path takes A·Bᵀ when Bᵀ packed (its rows padded, below) has at
// most this many bytes: it stays in L2 while the rows of A stream past.
// Against the packed path on Zen 5 (AVX-512), when it still packed panels
// of nr: 256×64×10 1.93 → 1.81 µs, 256×128×64 18.3 → 17.2 µs.
#define PANEL_B_BYTES (256u * 1024u)
// The panel path's packed Bᵀ has its n columns padded to a multiple of this
// many floats, a cache line (run_panels); a TN product's B is packed in
// panels of this many columns.
#define PANEL_ALIGN 16
// A TN product takes the panel path (the set's tn_panel_from) only while a
// k×PANEL_ALIGN panel of B fills at most half of what stays in L1 (256 rows,
// 16 KB): the rows of A need the rest.
#define TN_PANEL_K_MAX (SOMA_L1_B_FLOATS / 2 / PANEL_ALIGN)
static inline int64_t panel_width(int64_t n) {
    return (n + PANEL_ALIGN - 1) / PANEL_ALIGN * PANEL_ALIGN;
}
// Largest tile of any kernel set (8×48 AVX-512, 6×16, 8×12, 4×8).
#define MAX_TILE SOMA_GEMM_MAX_TILE

// ---- per-thread packing space ----

typedef struct pack_space {
    float *a, *b; // page-aligned, sized for the largest blocking of any set
    struct pack_space *prev, *next;
} pack_space;

static pthread_mutex_t spaces_lock = PTHREAD_MUTEX_INITIALIZER;
static pack_space *spaces; // every thread's space, for soma_cpu_shutdown
static _Thread_local pack_space *my_space;
static pthread_key_t space_key;
static pthread_once_t space_once = PTHREAD_ONCE_INIT;
static size_t a_bytes, b_bytes;

static void free_buffers(pack_space *s) {
    soma_free(s->a);
    soma_free(s->b);
    s->a = s->b = NULL;
}

// A thread that ends (a host thread, or a pool worker at exit) takes its
// space with it.
static void space_thread_exit(void *p) {
    pack_space *s = p;
    pthread_mutex_lock(&spaces_lock);
    if (s->prev) s->prev->next = s->next;
    else spaces = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&spaces_lock);
    free_buffers(s);
    free(s);
}

static void spaces_prepare(void) { pthread_mutex_lock(&spaces_lock); }
static void spaces_release(void) { pthread_mutex_unlock(&spaces_lock); }
static void at_exit(void) { soma_cpu_shutdown(); }

static void space_init(void) {
    size_t amax = 0, bmax = 0;
    const soma_cpu_kernels *const *sets = soma_cpu_kernel_sets();
    for (int i = 0; sets[i]; i++) {
        size_t a = (size_t)sets[i]->mc * (size_t)sets[i]->kc;
        size_t b = (size_t)sets[i]->nc * (size_t)sets[i]->kc;
        if (a > amax) amax = a;
        if (b > bmax) bmax = b;
    }
    // The panel path packs all of Bᵀ, up to PANEL_B_BYTES, into s->b.
    if (bmax < PANEL_B_BYTES / sizeof(float)) bmax = PANEL_B_BYTES / sizeof(float);
    a_bytes = (amax + SOMA_PACK_SLACK) * sizeof(float);
    b_bytes = (bmax + SOMA_PACK_SLACK) * sizeof(float);
    pthread_key_create(&space_key, space_thread_exit);
    pthread_atfork(spaces_prepare, spaces_release, spaces_release);
    atexit(at_exit);
}

static pack_space *get_space(void) {
    pack_space *s = my_space;
    if (s && s->a) return s;
    pthread_once(&space_once, space_init);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_mutex_lock(&spaces_lock);
        s->next = spaces;
        if (spaces) spaces->prev = s;
        spaces = s;
        pthread_mutex_unlock(&spaces_lock);
        my_space = s;
        pthread_setspecific(space_key, s);
    }
    s->a = soma_alloc(a_bytes, 4096);
    s->b = soma_alloc(b_bytes, 4096);
    if (!s->a || !s->b) {
        free_buffers(s);
        soma_clear_error(); // soma_sgemm cannot fail: it falls back to a loop
        return NULL;
    }
    return s;
}

void soma_cpu_thread_init(void) { (void)get_space(); }

void soma_cpu_shutdown(void) {
    pthread_mutex_lock(&spaces_lock);
    for (pack_space *s = spaces; s; s = s->next) free_buffers(s);
    pthread_mutex_unlock(&spaces_lock);
}

// ---- one product ----

// How a product runs (the top comment): decided by choose_path from the
// shape and the kernel set alone.
typedef enum gemm_path { PATH_PACKED, PATH_DIRECT, PATH_DOT, PATH_PANEL } gemm_path;

typedef struct gemm_job {
    const soma_cpu_kernels *ks;
    int64_t m, n, k;
    float alpha, beta;
    const float *a;
    int64_t rsa, csa; // op(A)(i, p) = a[i·rsa + p·csa]
    const float *b;
    int64_t rsb, csb; // op(B)(p, j) = b[p·rsb + j·csb]
    float *c;
    int64_t ldc;
    const float *bias; // epilogue: + bias[j], then relu; NULL / 0 for none
    int relu;
    gemm_path path;
    float *shared_b;   // a team's packed block of B (packed_member)
    // The split among threads: `parts` pieces of whole units of `unit` rows
    // (split_m) or columns.
    bool split_m;
    int64_t unit, units;
    int parts;
} gemm_job;

// C ← beta·C, the whole product when k = 0 or alpha = 0 (BLAS: A and B are
// then not read, and beta = 0 clears NaN).
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f) memset(ci, 0, (size_t)n * sizeof(float));
        else
            for (int64_t j = 0; j < n; j++) ci[j] *= beta;
    }
}

// Rows per call of the set's direct kernel for this product: narrow ones
// (n ≤ 16) may take more (AVX-512 puts the rows in the lanes there).
static int64_t direct_rows(const gemm_job *g) {
    return g->n <= 16 && g->ks->narrow_mr ? g->ks->narrow_mr : g->ks->direct_mr;
}

static void run_direct(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    const soma_cpu_kernels *ks = g->ks;
    const soma_tile_epilogue ep = {.alpha = g->alpha, .beta = g->beta,
                                   .bias = g->bias ? g->bias + j0 : NULL, .relu = g->relu};
    const int64_t rows = direct_rows(g);
    for (int64_t i = i0; i < i1; i += rows) {
        int64_t mb = i1 - i < rows ? i1 - i : rows;
        ks->direct(mb, j1 - j0, g->k, g->a + i * g->rsa, g->rsa, g->csa, g->b + j0, g->rsb,
                   g->c + i * g->ldc + j0, g->ldc, &ep);
    }
}

// The epilogue on an mb×nb tile of C that has just been finished (still in
// L1): + bias, then relu with NaN kept, in the direct kernels' order.
static void epilogue(float *c, int64_t ldc, int64_t mb, int64_t nb, const float *bias, int relu) {
    for (int64_t i = 0; i < mb; i++) {
        float *ci = c + i * ldc;
        if (bias)
            for (int64_t j = 0; j < nb; j++) ci[j] = ci[j] + bias[j];
        if (relu)
            for (int64_t j = 0; j < nb; j++) ci[j] = ci[j] < 0.0f ? 0.0f : ci[j];
    }
}

static void run_naive(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1);

// One mb×nb tile of C at row i, column j, from the packed micro-panels ap
// (mr×kc) and bp (kc×nr) of k-block pc: a full tile (mb = mr, nb = nr)
// straight through the kernel; an edge tile computed whole into a buffer on
// the stack, and only its part inside C merged, with the same alpha·acc +
// beta·c the kernel computes. Later k-blocks add onto what the first one
// wrote (beta 1); the last one finishes the tile with the epilogue.
static inline __attribute__((always_inline)) void tile(const gemm_job *g, soma_sgemm_ukr_fn ukr,
                                                       int64_t nr, const float *ap, const float *bp,
                                                       int64_t pc, int64_t kc, int64_t i,
                                                       int64_t mb, int64_t j, int64_t nb) {
    float *c = g->c + i * g->ldc + j;
    const float beta = pc == 0 ? g->beta : 1.0f;
    if (mb == g->ks->mr && nb == nr) {
        ukr(kc, g->alpha, ap, bp, beta, c, g->ldc);
    } else {
        float buf[MAX_TILE] __attribute__((aligned(64)));
        ukr(kc, g->alpha, ap, bp, 0.0f, buf, nr);
        for (int64_t r = 0; r < mb; r++) {
            float *cr = c + r * g->ldc;
            const float *br = buf + r * nr;
            if (beta == 0.0f)
                for (int64_t q = 0; q < nb; q++) cr[q] = br[q];
            else
                for (int64_t q = 0; q < nb; q++) cr[q] = br[q] + beta * cr[q];
        }
    }
    if (pc + kc == g->k && (g->bias || g->relu))
        epilogue(c, g->ldc, mb, nb, g->bias ? g->bias + j : NULL, g->relu);
}

// BLIS' order. Rows [i0, i1) of C's block (jc, pc) — columns [jc, jc + nc),
// the k-block [pc, pc + kc) — against that block of B already packed in
// `bp`: the inner three loops, A packed mc×kc at a time into s->a. i0 is a
// multiple of mr so the tiles line up with those of any other split.
static void multiply_block(const gemm_job *g, pack_space *s, const float *bpack, int64_t i0,
                           int64_t i1, int64_t jc, int64_t nc, int64_t pc, int64_t kc) {
    const soma_cpu_kernels *ks = g->ks;
    const int64_t MR = ks->mr, NR = ks->nr, MC = ks->mc;
    for (int64_t ic = i0; ic < i1; ic += MC) {
        int64_t mc = i1 - ic < MC ? i1 - ic : MC;
        ks->pack_a((int)MR, mc, kc, g->a + ic * g->rsa + pc * g->csa, g->rsa, g->csa, s->a);
        for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t nb = nc - jr < NR ? nc - jr : NR;
            for (int64_t ir = 0; ir < mc; ir += MR)
                tile(g, ks->ukr, NR, s->a + ir * kc, bpack + jr * kc, pc, kc, ic + ir,
                     mc - ir < MR ? mc - ir : MR, jc + jr, nb);
        }
    }
}

// Columns [j0, j0 + nc) of the k-block [pc, pc + kc) of B packed as Bᵀ
// panels of nr columns (the set's nr or nr_wide), at dst.
static void pack_b_block(const gemm_job *g, int nr, int64_t j0, int64_t nc, int64_t pc,
                         int64_t kc, float *dst) {
    g->ks->pack_b(nr, nc, kc, g->b + pc * g->rsb + j0 * g->csb, g->csb, g->rsb, dst);
}

// The five loops over rows [i0, i1) and columns [j0, j1) of C, B packed by
// this thread alone; i0 and j0 are multiples of mr and nr.
static void run_packed(const gemm_job *g, pack_space *s, int64_t i0, int64_t i1, int64_t j0,
                       int64_t j1) {
    const int64_t KC = g->ks->kc, NC = g->ks->nc;
    for (int64_t jc = j0; jc < j1; jc += NC) {
        int64_t nc = j1 - jc < NC ? j1 - jc : NC;
        for (int64_t pc = 0; pc < g->k; pc += KC) {
            int64_t kc = g->k - pc < KC ? g->k - pc : KC;
            pack_b_block(g, g->ks->nr, jc, nc, pc, kc, s->b);
            multiply_block(g, s, s->b, i0, i1, jc, nc, pc, kc);
        }
    }
}

// ---- the b_in_l2 order (gemm_internal.h) ----

// How many of a block's nc columns go to the panels of nr_wide (nr itself
// for a set without a wider kernel); the rest, if any, to one or two panels
// of nr. A remainder of up to 2·nr − wide columns (16
// with 48 and 32) takes the last wide panel along, as two panels of nr; one
// of up to nr is one panel of nr; a larger one is a last wide panel, partly
// empty.
static int64_t wide_columns(const soma_cpu_kernels *ks, int64_t nc) {
    const int64_t w = ks->nr_wide, nr = ks->nr, rem = nc % w;
    if (w == nr || rem == 0) return nc;
    if (w + rem <= 2 * nr && nc >= w + rem) return nc - w - rem;
    return rem <= nr ? nc - rem : nc;
}

// The kc×nc block of B at columns jc, k-block pc, packed into dst: the wide
// panels first, then those of nr, each panel's columns × kc floats after
// the previous one (a partial wide panel is the last).
static void pack_b_panels(const gemm_job *g, int64_t jc, int64_t nc, int64_t pc, int64_t kc,
                          float *dst) {
    const int64_t wcols = wide_columns(g->ks, nc);
    if (wcols > 0) pack_b_block(g, g->ks->nr_wide, jc, wcols, pc, kc, dst);
    if (wcols < nc) pack_b_block(g, g->ks->nr, jc + wcols, nc - wcols, pc, kc, dst + wcols * kc);
}

// Rows [i0, i0 + mc) of C's block (jc, pc), A's rows packed at apack and
// the block of B at bpack: each micro-panel of A serves every tile along
// its rows before the next one starts.
static void multiply_rows(const gemm_job *g, const float *apack, int64_t i0, int64_t mc,
                          const float *bpack, int64_t jc, int64_t nc, int64_t pc, int64_t kc) {
    const soma_cpu_kernels *ks = g->ks;
    const int64_t MR = ks->mr, NR = ks->nr, w = ks->nr_wide, wcols = wide_columns(ks, nc);
    for (int64_t ir = 0; ir < mc; ir += MR) {
        const float *ap = apack + ir * kc;
        const int64_t mb = mc - ir < MR ? mc - ir : MR;
        int64_t jr = 0;
        for (; jr < wcols; jr += w)
            tile(g, ks->ukr_wide, w, ap, bpack + jr * kc, pc, kc, i0 + ir, mb, jc + jr,
                 wcols - jr < w ? wcols - jr : w);
        for (; jr < nc; jr += NR)
            tile(g, ks->ukr, NR, ap, bpack + jr * kc, pc, kc, i0 + ir, mb, jc + jr,
                 nc - jr < NR ? nc - jr : NR);
    }
}

// The packed path in the b_in_l2 order on rows [i0, i1) and columns
// [j0, j1) of C: for each mc rows and k-block, A packed into s->a; then
// each kc×nc block of B packed into s->b and multiplied. Threads split the
// rows and each packs the blocks of B it needs itself. Sharing them as
// BLIS' order does (packed_member) makes each core read half of every
// block from the other's cache: on 2 threads of this VM, with the two CPUs
// on different dies (core round trip 0.4 µs), soma / oneDNN at 512² was
// 0.87-0.88 shared against 0.95-1.00 private, at 2048² 0.97-0.98 against
// 1.00-1.01; with them close (0.08 µs) private was 0.5-1.5% behind.
static void run_rows(const gemm_job *g, pack_space *s, int64_t i0, int64_t i1, int64_t j0,
                     int64_t j1) {
    const soma_cpu_kernels *ks = g->ks;
    const int64_t MC = ks->mc, KC = ks->kc, NC = ks->nc;
    for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = i1 - ic < MC ? i1 - ic : MC;
        for (int64_t pc = 0; pc < g->k; pc += KC) {
            const int64_t kc = g->k - pc < KC ? g->k - pc : KC;
            ks->pack_a(ks->mr, mc, kc, g->a + ic * g->rsa + pc * g->csa, g->rsa, g->csa, s->a);
            for (int64_t jc = j0; jc < j1; jc += NC) {
                const int64_t nc = j1 - jc < NC ? j1 - jc : NC;
                pack_b_panels(g, jc, nc, pc, kc, s->b);
                multiply_rows(g, s->a, ic, mc, s->b, jc, nc, pc, kc);
            }
        }
    }
}

// Rows (split_m) or columns [lo, hi) of piece `part` of `parts`: whole units
// of the split plan_split chose, so the tiles line up with any other split.
static void piece(const gemm_job *g, int64_t part, int64_t parts, int64_t *lo, int64_t *hi) {
    const int64_t end = g->split_m ? g->m : g->n, h = g->units * (part + 1) / parts * g->unit;
    *lo = g->units * part / parts * g->unit;
    *hi = h < end ? h : end;
}

// One member of a team running the packed path split by rows: every block
// of B is packed once, each member packing a share of its panels into the
// caller's buffer (g->shared_b), and multiplied by each member's own rows;
// packing B per thread would repeat the whole of it on every thread. The
// tiles and their k-order are run_packed's, so the bits are too.
static void packed_member(void *arg, soma_team *team, int index, int size) {
    const gemm_job *g = arg;
    const soma_cpu_kernels *ks = g->ks;
    const int64_t NR = ks->nr, KC = ks->kc, NC = ks->nc;
    int64_t i0, i1;
    piece(g, index, size, &i0, &i1); // split_m: rows
    pack_space *s = get_space(); // NULL: this member computes its rows alone, at the end
    for (int64_t jc = 0; jc < g->n; jc += NC) {
        const int64_t nc = g->n - jc < NC ? g->n - jc : NC, panels = (nc + NR - 1) / NR;
        const int64_t q0 = panels * index / size, q1 = panels * (index + 1) / size;
        const int64_t c0 = q0 * NR, c1 = q1 * NR < nc ? q1 * NR : nc;
        for (int64_t pc = 0; pc < g->k; pc += KC) {
            const int64_t kc = g->k - pc < KC ? g->k - pc : KC;
            // Panels are NR·kc floats apart, and packing B writes nothing past
            // its last panel (gemm_internal.h): the shares never overlap.
            if (c0 < c1) pack_b_block(g, (int)NR, jc + c0, c1 - c0, pc, kc, g->shared_b + c0 * kc);
            soma_team_barrier(team);
            if (s && i0 < i1) multiply_block(g, s, g->shared_b, i0, i1, jc, nc, pc, kc);
            // Nobody repacks the buffer while another member still reads it.
            if (jc + nc < g->n || pc + kc < g->k) soma_team_barrier(team);
        }
    }
    if (!s && i0 < i1) run_naive(g, i0, i1, 0, g->n);
}

// Last resort when the packing buffers cannot be allocated (soma_sgemm
// cannot report failure): one dot product per element.
static void run_naive(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < g->k; p++)
                acc += g->a[i * g->rsa + p * g->csa] * g->b[p * g->rsb + j * g->csb];
            float t = g->alpha * acc, *c = g->c + i * g->ldc + j;
            *c = g->beta == 0.0f ? t : t + g->beta * *c;
            epilogue(c, g->ldc, 1, 1, g->bias ? g->bias + j : NULL, g->relu);
        }
}

// Columns [j0, j1) of Bᵀ packed into one k×w row-major matrix (w: their
// count rounded up to PANEL_ALIGN, so each row starts a cache line), then
// each block of direct_rows rows of A against all of it: those rows stay in
// L1 while B comes from L2, and the direct kernel picks its widest tiles
// across the whole row (128 columns: 48 + 48 + 32 on AVX-512). Each element
// is the direct kernel's FMA chain, the same as the micro-kernel's. Panels
// of nr columns (one direct call each, tiles of at most nr) were 4-12%
// slower on Zen 5 at the training step's input gradients, soma / oneDNN
// same-process: 32×128×64 0.99-1.00 → 1.06-1.07, 256×64×10 1.00-1.02 →
// 1.12-1.13 (AVX-512); 128×64×10 and 256×64×10 0.96 → 1.07-1.08 (AVX2).
// Each thread packs all of Bᵀ here, even split by rows: sharing the packing
// as the packed path does (a team, a barrier, the other core's panels) was
// slower for these small B on 2 threads (32×128×64 NT 1.80 → 2.18 µs,
// 256×128×64 9.3 → 9.7 µs).
// The row blocks run last to first. Walking forward, 256×64×10 on 2 threads
// with the two CPUs on different dies (core round trip 0.4 µs) took 2.0-3.1
// µs, more than on one thread (1.7); backward 1.6-1.7, on one thread the
// same either way. Our reading, not measured (no counters here): the worker
// starts late, so walking forward it writes the first rows of C after the
// caller's last ones, whose store prefetches pulled them to the caller's
// core; walking backward the two meet at the boundary at different times.
// Aᵀ·B (TN, the set's tn_panel_from) packs B instead into panels of
// PANEL_ALIGN columns, k×16 each, and runs every row block of A against one
// panel before the next: the panel stays in L1, where 16 columns of B in
// place, rows ldb apart, share a few of L1's sets with the scattered lines
// of Aᵀ and come from L2 again for every block of rows.
static void run_panels(const gemm_job *g, pack_space *s, int64_t i0, int64_t i1, int64_t j0,
                       int64_t j1) {
    const soma_cpu_kernels *ks = g->ks;
    const int64_t nb = j1 - j0, rows = direct_rows(g);
    // Columns per panel: NT has rsb = 1, and one panel as wide as Bᵀ; TN
    // has rsb = ldb ≥ n, more than 1 for any product that gets here (k·n >
    // SOMA_L1_B_FLOATS with k ≤ TN_PANEL_K_MAX), and panels of 16.
    const int64_t w = g->rsb != 1 ? PANEL_ALIGN : panel_width(nb);
    pack_b_block(g, (int)w, j0, nb, 0, g->k, s->b);
    for (int64_t q = 0; q < nb; q += w) {
        const int64_t qb = nb - q < w ? nb - q : w;
        const soma_tile_epilogue ep = {.alpha = g->alpha, .beta = g->beta,
                                       .bias = g->bias ? g->bias + j0 + q : NULL, .relu = g->relu};
        for (int64_t i = i0 + (i1 - i0 - 1) / rows * rows; i >= i0; i -= rows) {
            const int64_t mb = i1 - i < rows ? i1 - i : rows;
            ks->direct(mb, qb, g->k, g->a + i * g->rsa, g->rsa, g->csa, s->b + q * g->k, w,
                       g->c + i * g->ldc + j0 + q, g->ldc, &ep);
        }
    }
}

static void run_piece(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    if (g->path == PATH_DOT) {
        const soma_tile_epilogue ep = {.alpha = g->alpha, .beta = g->beta,
                                       .bias = g->bias ? g->bias + j0 : NULL, .relu = g->relu};
        g->ks->dot(i1 - i0, j1 - j0, g->k, g->a + i0 * g->rsa, g->rsa, g->b + j0 * g->csb, g->csb,
                   g->c + i0 * g->ldc + j0, g->ldc, &ep);
        return;
    }
    if (g->path == PATH_DIRECT) {
        run_direct(g, i0, i1, j0, j1);
        return;
    }
    pack_space *s = get_space();
    if (!s) run_naive(g, i0, i1, j0, j1);
    else if (g->path == PATH_PANEL) run_panels(g, s, i0, i1, j0, j1);
    else if (g->ks->b_in_l2) run_rows(g, s, i0, i1, j0, j1);
    else run_packed(g, s, i0, i1, j0, j1);
}

static void run_pieces(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const gemm_job *g = arg;
    for (int64_t part = begin; part < end; part++) {
        int64_t lo, hi;
        piece(g, part, g->parts, &lo, &hi);
        if (g->split_m) run_piece(g, lo, hi, 0, g->n);
        else run_piece(g, 0, g->m, lo, hi);
    }
}

// How many pieces, along which dimension: only from the shape and the thread
// count, and in whole micro-tiles so every split computes the same bits.
static void plan_split(gemm_job *g) {
    const soma_cpu_kernels *ks = g->ks;
    int threads = soma_pool_threads();
    double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    const bool dot = g->path == PATH_DOT;
    // The direct kernel's results do not depend on how rows are grouped, so
    // its pieces only need to be tiles it runs well (8 rows on AVX-512 where
    // n > 16: 784 rows are 49 blocks of 16, 25 on one of two threads, but 98
    // of 8, 49 each).
    int64_t dmu = g->n > 16 && ks->direct_split ? ks->direct_split : direct_rows(g);
    int64_t mu = dot ? 1 : g->path == PATH_PACKED ? ks->mr : dmu;
    int64_t nu = dot || g->path == PATH_DIRECT ? 16 : ks->nr;
    int64_t munits = (g->m + mu - 1) / mu, nunits = (g->n + nu - 1) / nu;
    // Prefer splitting rows: each thread then reads only its rows of A and
    // writes only its rows of C, and shares B through the cache. The dot
    // kernel's few rows split along N instead: each thread then reads only
    // its own rows of Bᵀ, the operand that is not small.
    g->split_m = !dot && (munits >= threads || munits >= nunits);
    g->unit = g->split_m ? mu : nu;
    g->units = g->split_m ? munits : nunits;
    g->parts = 1;
    if (threads > 1 && flops >= PARALLEL_MIN_FLOPS)
        g->parts = g->units < threads ? (int)g->units : threads;
}

// The direct path for NN/TN when A is a few rows or B stays in L2; the dot
// kernel for NT with a few rows (where the set has one); the panel path for
// other NT with a small B; the packed path for the rest.
static gemm_path choose_path(const soma_cpu_kernels *ks, int trans_a, int trans_b, int64_t m,
                             int64_t n, int64_t k) {
    const double b_bytes = (double)k * (double)n * sizeof(float);
    // The panel path's packed B: rows padded to PANEL_ALIGN floats (n = 1
    // takes 16).
    const double panel_bytes = (double)k * (double)panel_width(n) * sizeof(float);
    if (!trans_b) {
        if (m <= DIRECT_M_MAX) return PATH_DIRECT;
        if (b_bytes > DIRECT_B_BYTES) return PATH_PACKED;
        if ((double)k * (double)n <= SOMA_L1_B_FLOATS) return PATH_DIRECT;
        // The set's rules for a B that comes from L2 (gemm_internal.h). On
        // the shape alone, never the thread count: the packed path rounds
        // differently, and results must not depend on the threads.
        if (ks->packed_from && ks->packed_from * (double)(n + m) < (double)n * (double)m)
            return PATH_PACKED;
        if (ks->tn_panel_from && trans_a && m >= ks->tn_panel_from && k <= TN_PANEL_K_MAX &&
            panel_bytes <= PANEL_B_BYTES)
            return PATH_PANEL;
        return PATH_DIRECT;
    }
    if (ks->dot && !trans_a && m <= DOT_M_MAX) return PATH_DOT;
    return panel_bytes <= PANEL_B_BYTES ? PATH_PANEL : PATH_PACKED;
}

soma_gemm_plan soma_sgemm_plan(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k) {
    gemm_job g = {.ks = soma_cpu_kernels_active(), .m = m, .n = n, .k = k};
    g.path = choose_path(g.ks, trans_a, trans_b, m, n, k);
    plan_split(&g);
    return (soma_gemm_plan){.direct = g.path == PATH_DIRECT, .dot = g.path == PATH_DOT,
                            .panel = g.path == PATH_PANEL, .parts = g.parts, .split_m = g.split_m};
}

void soma_sgemm_bias_act(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc, const float *bias, int relu) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        if (bias || relu) epilogue(c, ldc, m, n, bias, relu);
        return;
    }
    gemm_job g = {
        .ks = soma_cpu_kernels_active(),
        .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta,
        .a = a, .rsa = trans_a ? 1 : lda, .csa = trans_a ? lda : 1,
        .b = b, .rsb = trans_b ? 1 : ldb, .csb = trans_b ? ldb : 1,
        .c = c, .ldc = ldc,
        .bias = bias, .relu = relu != 0,
    };
    g.path = choose_path(g.ks, trans_a, trans_b, m, n, k);
    plan_split(&g);
    if (g.parts == 1) {
        run_piece(&g, 0, m, 0, n);
        return;
    }
    // Split by rows, the packed path's threads pack B together (a team)
    // instead of each packing all of it, in BLIS' order (run_rows says why
    // not in the other).
    if (g.split_m && g.path == PATH_PACKED && !g.ks->b_in_l2) {
        pack_space *s = get_space();
        if (s) {
            g.shared_b = s->b;
            soma_parallel_team(NULL, g.parts, packed_member, &g);
            return;
        }
    }
    soma_parallel_for(NULL, g.parts, run_pieces, &g);
}

void soma_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                int64_t ldc) {
    soma_sgemm_bias_act(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, 0);
}
