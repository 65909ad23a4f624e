// soma_ab: two or more builds of soma's GEMM (and, if asked, OpenBLAS, BLIS
// or oneDNN) measured side by side in one process, for deciding whether a
// change to the GEMM is faster. tools/ab builds the revisions and runs this;
// bench/README.md ("Comparing builds of soma") explains the method.
//
//   soma_ab [--threads T] [--rounds R] [--time S] [--offset F] [--per-round]
//           [--csv] SHAPE... -- VARIANT...
//   SHAPE   NN:MxNxK, NT:…, TN:… (op(A) is M×K, op(B) K×N)
//   VARIANT a shared object exporting ab_sgemm and ab_set_threads (a build
//           of soma with bench/ab_variant.c), or openblas, blis, onednn
//   A, B and C start on a page boundary, or F floats past one (--offset:
//   what a caller's malloc'd matrices look like, 4 floats past a line).
//
// Why one process and paired rounds: this VM's speed drifts by 10-30% over
// seconds to minutes, so two builds timed minutes apart differ by more than
// most changes do. Here, for each shape, every variant runs for --time
// seconds, then the next, R times over (the order reversed every other
// round), and each variant's speed is divided by the first variant's in the
// same round: the median of those per-round ratios, with their 25th-75th
// percentiles, says which is faster while both saw the same machine.
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compare.h"
#include "load.h"

typedef void (*ab_sgemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                            const float *, int64_t, float, float *, int64_t);

typedef struct variant {
    const char *name;
    bench_lib *lib;     // a comparator, or NULL
    ab_sgemm_fn sgemm;  // a build of soma, or NULL
    void (*set_threads)(int);
} variant;

typedef struct shape {
    int ta, tb;
    int64_t m, n, k;
} shape;

static int parse_shape(const char *s, shape *out) {
    char ta, tb;
    long long m, n, k;
    int used = 0;
    if (sscanf(s, "%c%c:%lldx%lldx%lld%n", &ta, &tb, &m, &n, &k, &used) != 5 || s[used] != '\0')
        return -1;
    if ((ta != 'N' && ta != 'T') || (tb != 'N' && tb != 'T') || (ta == 'T' && tb == 'T') ||
        m < 1 || n < 1 || k < 1)
        return -1;
    *out = (shape){ta == 'T', tb == 'T', m, n, k};
    return 0;
}

static int load_variant(const char *name, int threads, variant *v) {
    v->name = name;
    size_t len = strlen(name);
    if (len > 3 && strcmp(name + len - 3, ".so") == 0) {
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "soma_ab: %s\n", dlerror());
            return -1;
        }
        *(void **)&v->sgemm = dlsym(h, "ab_sgemm");
        *(void **)&v->set_threads = dlsym(h, "ab_set_threads");
        if (!v->sgemm || !v->set_threads) {
            fprintf(stderr, "soma_ab: %s exports no ab_sgemm/ab_set_threads (bench/ab_variant.c)\n",
                    name);
            return -1;
        }
        v->set_threads(threads);
        const char *slash = strrchr(name, '/');
        v->name = slash ? slash + 1 : name;
        return 0;
    }
    // soma itself only as a .so: every build is loaded and called the same way.
    v->lib = bench_lib_find(name);
    if (v->lib == bench_lib_get(BENCH_SOMA)) v->lib = NULL;
    if (!v->lib || !bench_lib_available(v->lib)) {
        fprintf(stderr, "soma_ab: %s: %s\n", name,
                v->lib ? bench_lib_info(v->lib) : "not a .so, openblas, blis or onednn");
        return -1;
    }
    bench_lib_set_threads(v->lib, threads);
    return 0;
}

static void call(const variant *v, const shape *s, const float *a, const float *b, float *c) {
    const int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    if (v->sgemm)
        v->sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
    else
        bench_lib_sgemm(v->lib, s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c,
                        s->n);
}

static void usage(void) {
    fprintf(stderr, "usage: soma_ab [--threads T] [--rounds R] [--time S] [--offset F] "
                    "[--per-round] [--csv] "
                    "SHAPE... -- VARIANT...\n  SHAPE: NN:MxNxK, NT:MxNxK or TN:MxNxK\n"
                    "  VARIANT: a .so built with bench/ab_variant.c, or openblas, blis, onednn\n");
    exit(2);
}

int main(int argc, char **argv) {
    int threads = 1, rounds = 30, per_round = 0, csv = 0, offset = 0;
    double turn = 0.01;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i++) {
        if (!strcmp(argv[i], "--per-round")) per_round = 1;
        else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--rounds")) rounds = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--time")) turn = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--offset")) offset = atoi(argv[++i]);
        else usage();
    }
    if (threads < 1 || rounds < 1 || !(turn > 0) || offset < 0 || offset > 1023) usage();
    shape *shapes = calloc((size_t)argc, sizeof *shapes);
    int nshapes = 0;
    for (; i < argc && strcmp(argv[i], "--"); i++)
        if (parse_shape(argv[i], &shapes[nshapes++]) != 0) {
            fprintf(stderr, "soma_ab: bad shape '%s'\n", argv[i]);
            usage();
        }
    if (i == argc || nshapes == 0 || argc - i - 1 < 1) usage();
    const int nv = argc - i - 1;
    variant *v = calloc((size_t)nv, sizeof *v);
    bench_libs_load();
    for (int j = 0; j < nv; j++)
        if (load_variant(argv[i + 1 + j], threads, &v[j]) != 0) return 1;

    double *gf = malloc(sizeof *gf * (size_t)nv * (size_t)rounds);
    double *tmp = malloc(sizeof *tmp * (size_t)rounds);
    if (csv) printf("shape,variant,gflops,us_per_call,ratio,ratio_p25,ratio_p75,max_rel_diff\n");
    for (int si = 0; si < nshapes; si++) {
        const shape *s = &shapes[si];
        const size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n),
                     nc = (size_t)(s->m * s->n);
        // On a page boundary, as soma_bench_gemm's operands and a model's
        // buffers are; --offset shifts them.
        float *abuf = soma_alloc((na + (size_t)offset) * sizeof(float), 4096);
        float *bbuf = soma_alloc((nb + (size_t)offset) * sizeof(float), 4096);
        float *cbuf = soma_alloc((nc + (size_t)offset) * sizeof(float), 4096);
        float *c0 = soma_alloc(nc * sizeof(float), 4096);
        float *a = abuf ? abuf + offset : NULL, *b = bbuf ? bbuf + offset : NULL;
        float *c = cbuf ? cbuf + offset : NULL;
        double *diff = calloc((size_t)nv, sizeof *diff);
        if (!a || !b || !c || !c0 || !diff) {
            fprintf(stderr, "soma_ab: out of memory\n");
            return 1;
        }
        soma_rng rng;
        soma_rng_init(&rng, 7, 1);
        soma_rng_uniform(&rng, a, na, -1, 1);
        soma_rng_uniform(&rng, b, nb, -1, 1);
        // Warm-up (thread start, JIT, buffers), and a check that every
        // variant computes what the first one does: a broken build must not
        // win a race.
        for (int j = 0; j < nv; j++) {
            for (int w = 0; w < 10; w++) call(&v[j], s, a, b, j ? c : c0);
            double num = 0, den = 0;
            for (size_t x = 0; j && x < nc; x++) {
                num = fmax(num, fabs((double)c[x] - (double)c0[x]));
                den = fmax(den, fabs((double)c0[x]));
            }
            diff[j] = den > 0 ? num / den : num;
        }
        const double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
        if (threads > 1) bench_settle(500); // after the last variant's warm-up
        for (int r = 0; r < rounds; r++)
            for (int q = 0; q < nv; q++) {
                const int j = r % 2 ? nv - 1 - q : q;
                // Idle workers of the previous variant spin for a while after
                // a multi-threaded call (up to ~110 ms here: load.h); on 2
                // cores they would slow the next one.
                if (threads > 1 && q > 0) bench_settle(500);
                call(&v[j], s, a, b, c);
                long calls = 0;
                double t0 = bench_now_s(), t;
                do {
                    call(&v[j], s, a, b, c);
                    calls++;
                } while ((t = bench_now_s() - t0) < turn);
                gf[(size_t)j * (size_t)rounds + (size_t)r] = flops * (double)calls / t / 1e9;
            }
        char label[64];
        snprintf(label, sizeof label, "%c%c:%lldx%lldx%lld", s->ta ? 'T' : 'N', s->tb ? 'T' : 'N',
                 (long long)s->m, (long long)s->n, (long long)s->k);
        if (!csv) printf("%s  %d thread%s, %d rounds of %g s\n", label, threads,
                         threads == 1 ? "" : "s", rounds, turn);
        for (int j = 0; j < nv; j++) {
            const double *g = gf + (size_t)j * (size_t)rounds;
            for (int r = 0; r < rounds; r++) tmp[r] = g[r];
            const double med = bench_quantile(tmp, rounds, 0.5);
            for (int r = 0; r < rounds; r++) tmp[r] = g[r] / gf[r];
            const double p25 = bench_quantile(tmp, rounds, 0.25);
            const double p50 = bench_quantile(tmp, rounds, 0.5);
            const double p75 = bench_quantile(tmp, rounds, 0.75);
            if (csv) {
                printf("%s,%s,%.2f,%.3f,%.4f,%.4f,%.4f,%.3g\n", label, v[j].name, med,
                       flops / med / 1e3, p50, p25, p75, diff[j]);
            } else {
                printf("  %-28s %8.1f GFLOP/s %10.2f us/call   ratio %.3f (%.3f-%.3f)", v[j].name,
                       med, flops / med / 1e3, p50, p25, p75);
                if (diff[j] > 1e-4) printf("   results differ: max rel %.2g", diff[j]);
                printf("\n");
            }
            if (per_round) {
                printf("    per round:");
                for (int r = 0; r < rounds; r++) printf(" %.1f", g[r]);
                printf("\n");
            }
        }
        soma_free(abuf), soma_free(bbuf), soma_free(cbuf), soma_free(c0), free(diff);
    }
    free(gf), free(tmp), free(v), free(shapes);
    return 0;
}
