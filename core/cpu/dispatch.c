// CPU dispatch: which kernel set runs, chosen once per process. This is the
// "config registry" of BLIS: the framework (gemm.c) is portable, the kernel
// sets live in kernels/<isa>/, and this file picks one from what the CPU and
// the OS support, unless SOMA_CPU names one.
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "base/base.h"
#include "cpu/cpu.h"
#include "cpu/gemm_internal.h"

static const soma_cpu_kernels *const kernel_sets[] = {
    &soma_kernels_generic,
#if defined(__x86_64__)
    &soma_kernels_avx2,
    &soma_kernels_avx512,
#endif
#if defined(__aarch64__)
    &soma_kernels_neon,
#endif
    NULL,
};

// Every name SOMA_CPU may hold, whatever this build has, so that asking for
// NEON on x86 is "this build lacks it", not "unknown name".
static const char *const known_names[] = {"generic", "avx2", "avx512", "neon"};

const soma_cpu_kernels *const *soma_cpu_kernel_sets(void) { return kernel_sets; }

// ---- feature detection ----

static _Atomic int hide_isa; // soma_cpu_test_hide_isa: 0, 1 (every tuned ISA) or 2 (AVX-512)

void soma_cpu_test_hide_isa(int hide) { atomic_store(&hide_isa, hide < 0 || hide > 2 ? 1 : hide); }

#if defined(__x86_64__)
// AVX2 and FMA must be reported by CPUID *and* enabled by the OS: XCR0 bits 1
// and 2 say the kernel saves the XMM and YMM halves on a context switch.
// Without that check a VM or an old kernel that hides AVX state would crash
// on the first ymm instruction.
static bool cpu_has_avx2_fma(void) {
    if (atomic_load(&hide_isa) == 1) return false;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!fma || !osxsave || !avx) return false;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 0x6u) != 0x6u) return false;
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    return b & (1u << 5);
}

// AVX-512 F, VL, DQ and BW (the kernels use all four) on top of AVX2/FMA,
// and the OS saving the whole ZMM state: XCR0 bits 1, 2 (XMM, YMM), 5
// (opmask), 6 (the upper halves of zmm0-15) and 7 (zmm16-31). A kernel that
// enables AVX but not the ZMM state (some hypervisors do) must get avx2.
static bool cpu_has_avx512(void) {
    if (atomic_load(&hide_isa) != 0 || !cpu_has_avx2_fma()) return false;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 0xE6u) != 0xE6u) return false;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31); // F DQ BW VL
    return (b & need) == need;
}
#endif

#if defined(__aarch64__)
// ASIMD is part of the ARMv8-A baseline; HWCAP is checked anyway so that a
// kernel that hides it (or a strange emulator) gets the generic set.
static bool cpu_has_asimd(void) {
    return atomic_load(&hide_isa) != 1 && (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
}
#endif

// The set called `name` if it is compiled in and the CPU runs it; otherwise
// NULL, with the status in *code and the message in why.
static const soma_cpu_kernels *find_set(const char *name, int *code, char *why, size_t why_len) {
    *code = SOMA_E_UNSUPPORTED;
    bool known = false;
    for (size_t i = 0; i < sizeof known_names / sizeof *known_names; i++)
        if (strcasecmp(name, known_names[i]) == 0) known = true;
    if (!known) {
        *code = SOMA_E_INVALID;
        snprintf(why, why_len,
                 "SOMA_CPU=%s is not a kernel set (one of: generic, avx2, avx512, neon)", name);
        return NULL;
    }
    const soma_cpu_kernels *set = NULL;
    for (int i = 0; kernel_sets[i]; i++)
        if (strcasecmp(name, kernel_sets[i]->name) == 0) set = kernel_sets[i];
    if (!set) {
        snprintf(why, why_len,
                 "SOMA_CPU=%s requested but this build has no %s kernels (built for %s)", name,
                 strcasecmp(name, "neon") == 0     ? "NEON"
                 : strcasecmp(name, "avx512") == 0 ? "AVX-512"
                                                   : "AVX2",
#if defined(__x86_64__)
                 "x86-64"
#elif defined(__aarch64__)
                 "aarch64"
#else
                 "another architecture"
#endif
        );
        return NULL;
    }
#if defined(__x86_64__)
    if (set == &soma_kernels_avx2 && !cpu_has_avx2_fma()) {
        snprintf(why, why_len, "SOMA_CPU=%s requested but this CPU lacks AVX2/FMA", name);
        return NULL;
    }
    if (set == &soma_kernels_avx512 && !cpu_has_avx512()) {
        snprintf(why, why_len,
                 "SOMA_CPU=%s requested but this CPU lacks AVX-512 (F, VL, DQ, BW with the OS "
                 "saving ZMM state)",
                 name);
        return NULL;
    }
#endif
#if defined(__aarch64__)
    if (set == &soma_kernels_neon && !cpu_has_asimd()) {
        snprintf(why, why_len, "SOMA_CPU=%s requested but this CPU lacks NEON (ASIMD)", name);
        return NULL;
    }
#endif
    return set;
}

static const soma_cpu_kernels *best_set(void) {
#if defined(__x86_64__)
    if (cpu_has_avx512()) return &soma_kernels_avx512;
    if (cpu_has_avx2_fma()) return &soma_kernels_avx2;
#endif
#if defined(__aarch64__)
    if (cpu_has_asimd()) return &soma_kernels_neon;
#endif
    return &soma_kernels_generic;
}

// ---- the active set ----

// Merged copies, one per compiled set: a set's NULL slots are the generic
// ones (BLIS sets the reference context first, then overrides).
static soma_cpu_kernels merged[sizeof kernel_sets / sizeof *kernel_sets];
static _Atomic(const soma_cpu_kernels *) active;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = SOMA_OK;       // what soma_cpu_init reports
static char init_message[256];

static const soma_cpu_kernels *merged_of(const soma_cpu_kernels *set) {
    for (int i = 0; kernel_sets[i]; i++)
        if (kernel_sets[i] == set) return &merged[i];
    return &merged[0];
}

static void init_kernels(void) {
    const soma_cpu_kernels *g = &soma_kernels_generic;
    for (int i = 0; kernel_sets[i]; i++) {
        soma_cpu_kernels m = *kernel_sets[i];
        if (!m.pack_a) m.pack_a = g->pack_a;
        if (!m.pack_b) m.pack_b = g->pack_b;
        if (!m.ukr_wide) { // no wider kernel: the packed path's panels are all nr wide
            m.ukr_wide = m.ukr;
            m.nr_wide = m.nr;
        }
        if (!m.direct) {
            m.direct = g->direct;
            m.direct_mr = g->direct_mr;
            m.direct_split = g->direct_split;
            m.narrow_mr = g->narrow_mr;
        }
        merged[i] = m;
    }
    const soma_cpu_kernels *pick = best_set();
    const char *env = getenv("SOMA_CPU");
    if (env && *env) {
        const soma_cpu_kernels *want =
            find_set(env, &init_status, init_message, sizeof init_message);
        if (want) {
            init_status = SOMA_OK;
            pick = want;
        } else {
            // soma_sgemm cannot fail, so it runs on the portable kernels; the
            // model reports the error through soma_cpu_init at compile.
            pick = &soma_kernels_generic;
            soma_log(SOMA_LOG_ERROR, "%s; using the generic kernels", init_message);
        }
    }
    atomic_store(&active, merged_of(pick));
    soma_log(SOMA_LOG_DEBUG, "cpu: %s kernels", pick->name);
}

const soma_cpu_kernels *soma_cpu_kernels_active(void) {
    pthread_once(&init_once, init_kernels);
    return atomic_load_explicit(&active, memory_order_acquire);
}

int soma_cpu_init(void) {
    pthread_once(&init_once, init_kernels);
    if (init_status != SOMA_OK) return soma_error_set(init_status, "%s", init_message);
    return SOMA_OK;
}

const char *soma_cpu_name(void) { return soma_cpu_kernels_active()->name; }

int soma_cpu_force(const char *name) {
    pthread_once(&init_once, init_kernels);
    if (!name || !*name) {
        atomic_store(&active, merged_of(best_set()));
        return SOMA_OK;
    }
    char why[256];
    int code;
    const soma_cpu_kernels *set = find_set(name, &code, why, sizeof why);
    if (!set) return soma_error_set(code, "%s", why);
    atomic_store(&active, merged_of(set));
    return SOMA_OK;
}
