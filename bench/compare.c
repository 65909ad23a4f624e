// The comparators behind one interface. Each third-party library is opened by
// explicit path with RTLD_LOCAL: OpenBLAS and BLIS both export cblas_sgemm
// (and sgemm_), and with RTLD_GLOBAL the second one loaded would silently run
// the first one's code. Nothing here needs the libraries' headers at build
// time, so the benchmark builds on a machine that has none of them.
#include "compare.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "soma/soma.h"

#if defined(__x86_64__)
#define TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define TRIPLET "aarch64-linux-gnu"
#else
#define TRIPLET ""
#endif
#define LIBDIR "/usr/lib/" TRIPLET "/"

// CBLAS enum values are fixed by the CBLAS standard.
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*cblas_sgemm32_fn)(int, int, int, int32_t, int32_t, int32_t, float,
                                 const float *, int32_t, const float *, int32_t,
                                 float, float *, int32_t);
typedef void (*cblas_sgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, float,
                                 const float *, int64_t, const float *, int64_t,
                                 float, float *, int64_t);
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float,
                             const float *, int64_t, const float *, int64_t,
                             float, float *, int64_t);
// Mirrors dnnl_version_t (stable across oneDNN 2.x and 3.x).
typedef struct dnnl_version_like {
    int major, minor, patch;
    const char *hash;
    unsigned cpu_runtime, gpu_runtime;
} dnnl_version_like;

struct bench_lib {
    const char *name;
    int available;
    char info[512];
    void *handle;
    // cblas (OpenBLAS, BLIS); the integer width is the library's build choice.
    cblas_sgemm32_fn cblas32;
    cblas_sgemm64_fn cblas64;
    dnnl_sgemm_fn dnnl;
    void (*openblas_set_threads)(int);
    void (*blis_set_threads)(int64_t);
    void (*omp_set_threads)(int);
    int failed_calls;
};

static bench_lib libs[BENCH_NLIBS] = {
    [BENCH_SOMA] = {.name = "soma"},
    [BENCH_OPENBLAS] = {.name = "openblas"},
    [BENCH_BLIS] = {.name = "blis"},
    [BENCH_ONEDNN] = {.name = "onednn"},
};

// First candidate that opens; `env` overrides the list. On failure `tried`
// holds the paths and dlerror of the last one for the message.
static void *open_first(const char *env, const char *const *cands, char *tried,
                        size_t tried_len, const char **path_out) {
    const char *over = getenv(env);
    const char *one[2] = {over, NULL};
    const char *const *list = over && *over ? one : cands;
    size_t used = 0;
    tried[0] = 0;
    for (int i = 0; list[i]; i++) {
        void *h = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            *path_out = list[i];
            return h;
        }
        const char *err = dlerror();
        int w = snprintf(tried + used, tried_len - used, "%s%s", used ? "; " : "",
                         err ? err : list[i]);
        if (w > 0) used += (size_t)w < tried_len - used ? (size_t)w : tried_len - used - 1;
    }
    return NULL;
}

static void *sym(void *h, const char *name) { return h ? dlsym(h, name) : NULL; }

static void load_openblas(bench_lib *l) {
    static const char *const cands[] = {
        LIBDIR "openblas-pthread/libopenblas.so.0",
        LIBDIR "openblas-openmp/libopenblas.so.0",
        LIBDIR "libopenblas.so.0",
        NULL,
    };
    char tried[400];
    const char *path = NULL;
    l->handle = open_first("SOMA_BENCH_OPENBLAS", cands, tried, sizeof tried, &path);
    if (!l->handle) {
        snprintf(l->info, sizeof l->info,
                 "not found (apt-get install libopenblas0-pthread, or set "
                 "SOMA_BENCH_OPENBLAS=/path/libopenblas.so.0): %s",
                 tried);
        return;
    }
    void *gemm = sym(l->handle, "cblas_sgemm");
    *(void **)&l->openblas_set_threads = sym(l->handle, "openblas_set_num_threads");
    char *(*config)(void) = NULL, *(*corename)(void) = NULL;
    *(void **)&config = sym(l->handle, "openblas_get_config");
    *(void **)&corename = sym(l->handle, "openblas_get_corename");
    if (!gemm || !l->openblas_set_threads) {
        snprintf(l->info, sizeof l->info, "%s lacks cblas_sgemm or openblas_set_num_threads", path);
        return;
    }
    const char *cfg = config ? config() : "";
    // OpenBLAS built with INTERFACE64 takes 64-bit integers in cblas.
    if (strstr(cfg, "USE64BITINT"))
        *(void **)&l->cblas64 = gemm;
    else
        *(void **)&l->cblas32 = gemm;
    snprintf(l->info, sizeof l->info, "%s: %s; core %s", path, cfg,
             corename ? corename() : "?");
    l->available = 1;
}

static void load_blis(bench_lib *l) {
    static const char *const cands[] = {
        LIBDIR "blis-pthread/libblis.so.4",
        LIBDIR "blis-openmp/libblis.so.4",
        LIBDIR "libblis.so.4",
        NULL,
    };
    char tried[400];
    const char *path = NULL;
    l->handle = open_first("SOMA_BENCH_BLIS", cands, tried, sizeof tried, &path);
    if (!l->handle) {
        snprintf(l->info, sizeof l->info,
                 "not found (apt-get install libblis4-pthread or libblis4-openmp, or "
                 "set SOMA_BENCH_BLIS=/path/libblis.so.4): %s",
                 tried);
        return;
    }
    void *gemm = sym(l->handle, "cblas_sgemm");
    *(void **)&l->blis_set_threads = sym(l->handle, "bli_thread_set_num_threads");
    const char *(*version)(void) = NULL;
    int64_t (*int_size)(void) = NULL;
    int (*arch_id)(void) = NULL;
    const char *(*arch_name)(int) = NULL;
    *(void **)&version = sym(l->handle, "bli_info_get_version_str");
    *(void **)&int_size = sym(l->handle, "bli_info_get_blas_int_type_size");
    *(void **)&arch_id = sym(l->handle, "bli_arch_query_id");
    *(void **)&arch_name = sym(l->handle, "bli_arch_string");
    if (!gemm || !l->blis_set_threads) {
        snprintf(l->info, sizeof l->info, "%s lacks cblas_sgemm or bli_thread_set_num_threads", path);
        return;
    }
    int64_t isz = int_size ? int_size() : 32;
    if (isz == 64)
        *(void **)&l->cblas64 = gemm;
    else
        *(void **)&l->cblas32 = gemm;
    snprintf(l->info, sizeof l->info, "%s: BLIS %s, %lld-bit BLAS ints; arch %s", path,
             version ? version() : "?", (long long)isz,
             arch_id && arch_name ? arch_name(arch_id()) : "?");
    l->available = 1;
}

static const char *dnnl_isa_name(int isa) {
    switch (isa) {
    case 0x1: return "sse41";
    case 0x3: return "avx";
    case 0x7: return "avx2";
    case 0x27: return "avx512_core";
    case 0x67: return "avx512_core_vnni";
    case 0xe7: return "avx512_core_bf16";
    case 0x3e7: return "avx512_core_amx";
    case 0x407: return "avx2_vnni";
    default: return "other";
    }
}

static void load_onednn(bench_lib *l) {
    static const char *const cands[] = {
        LIBDIR "libdnnl.so.2",
        LIBDIR "libdnnl.so.3",
        NULL,
    };
    char tried[400];
    const char *path = NULL;
    l->handle = open_first("SOMA_BENCH_ONEDNN", cands, tried, sizeof tried, &path);
    if (!l->handle) {
        snprintf(l->info, sizeof l->info,
                 "not found (apt-get install libdnnl2, or set "
                 "SOMA_BENCH_ONEDNN=/path/libdnnl.so.2): %s",
                 tried);
        return;
    }
    *(void **)&l->dnnl = sym(l->handle, "dnnl_sgemm");
    const dnnl_version_like *(*version)(void) = NULL;
    int (*isa)(void) = NULL;
    *(void **)&version = sym(l->handle, "dnnl_version");
    *(void **)&isa = sym(l->handle, "dnnl_get_effective_cpu_isa");
    if (!l->dnnl) {
        snprintf(l->info, sizeof l->info, "%s lacks dnnl_sgemm", path);
        return;
    }
    const dnnl_version_like *v = version ? version() : NULL;
    // oneDNN's OpenMP build sizes its parallel regions from the OpenMP
    // runtime; the libgomp it loaded is the one whose ICV must be set.
    // RTLD_NOLOAD finds that instance instead of opening another.
    void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (gomp) {
        *(void **)&l->omp_set_threads = dlsym(gomp, "omp_set_num_threads");
        dlclose(gomp); // drops only the reference NOLOAD took
    }
    const int omp = v && v->cpu_runtime == 2u;
    if (!omp || !l->omp_set_threads) {
        snprintf(l->info, sizeof l->info,
                 "%s: CPU runtime %u is not OpenMP (or libgomp not found): the "
                 "thread count cannot be set",
                 path, v ? v->cpu_runtime : 0u);
        return;
    }
    int is = isa ? isa() : -1;
    snprintf(l->info, sizeof l->info, "%s: oneDNN %d.%d.%d (%s), OpenMP, ISA %s (0x%x)", path,
             v->major, v->minor, v->patch, v->hash ? v->hash : "?", dnnl_isa_name(is), (unsigned)is);
    l->available = 1;
}

void bench_libs_load(void) {
    static int done;
    if (done) return;
    done = 1;
    bench_lib *s = &libs[BENCH_SOMA];
    const char *cpu = getenv("SOMA_CPU");
    snprintf(s->info, sizeof s->info, "linked (soma_static), kernels %s%s%s",
             soma_cpu_name(),
             cpu ? ", SOMA_CPU=" : "", cpu ? cpu : "");
    s->available = 1;
    load_openblas(&libs[BENCH_OPENBLAS]);
    load_blis(&libs[BENCH_BLIS]);
    load_onednn(&libs[BENCH_ONEDNN]);
}

bench_lib *bench_lib_get(bench_lib_id id) {
    return id >= 0 && id < BENCH_NLIBS ? &libs[id] : NULL;
}

bench_lib *bench_lib_find(const char *name) {
    for (int i = 0; i < BENCH_NLIBS; i++)
        if (!strcmp(libs[i].name, name)) return &libs[i];
    return NULL;
}

const char *bench_lib_name(const bench_lib *l) { return l->name; }
int bench_lib_available(const bench_lib *l) { return l->available; }
const char *bench_lib_info(const bench_lib *l) { return l->info; }

void bench_lib_disable(bench_lib *l, const char *why) {
    l->available = 0;
    snprintf(l->info, sizeof l->info, "%s", why);
}

void bench_lib_set_threads(bench_lib *l, int n) {
    if (n < 1) n = 1;
    if (l == &libs[BENCH_SOMA])
        soma_set_num_threads(n);
    else if (l->openblas_set_threads)
        l->openblas_set_threads(n);
    else if (l->blis_set_threads)
        l->blis_set_threads(n);
    else if (l->omp_set_threads)
        l->omp_set_threads(n);
}

void bench_lib_sgemm(bench_lib *l, int trans_a, int trans_b, int64_t m, int64_t n,
                     int64_t k, float alpha, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (l == &libs[BENCH_SOMA]) {
        soma_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else if (l->dnnl) {
        int st = l->dnnl(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b,
                         ldb, beta, c, ldc);
        if (st != 0 && l->failed_calls++ == 0)
            fprintf(stderr, "bench: dnnl_sgemm returned status %d\n", st);
    } else {
        int ta = trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS;
        int tb = trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS;
        if (l->cblas64)
            l->cblas64(CBLAS_ROW_MAJOR, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else
            l->cblas32(CBLAS_ROW_MAJOR, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, alpha, a,
                       (int32_t)lda, b, (int32_t)ldb, beta, c, (int32_t)ldc);
    }
}
