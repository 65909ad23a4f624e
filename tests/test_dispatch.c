// CPU dispatch: the automatic choice follows the CPU, SOMA_CPU overrides it,
// and asking for a set the CPU or the build lacks (or a name that is no set)
// is a clear error from soma_cpu_init while soma_sgemm keeps working on the
// generic kernels and logs the problem once. Every test runs in its own
// process (Criterion), so each one sees the choice made for the first time.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "cpu/cpu.h"
#include "cpu/gemm_internal.h"

// libgcc's __builtin_cpu_supports checks the OS state (XCR0) as well.
static int has_avx2(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int has_avx512(void) {
#if defined(__x86_64__)
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

static const char *native_set(void) {
#if defined(__x86_64__)
    return has_avx512() ? "avx512" : has_avx2() ? "avx2" : "generic";
#elif defined(__aarch64__)
    return "neon";
#else
    return "generic";
#endif
}

typedef struct log_count {
    int errors;
    char last[512];
} log_count;

static log_count logged;

static void count_log(int level, const char *message, void *user) {
    (void)user;
    if (level < SOMA_LOG_ERROR) return;
    logged.errors++;
    snprintf(logged.last, sizeof logged.last, "%s", message);
}

// A 3×4·4×2 product on small integers, exact with any kernel set.
static void assert_gemm_works(void) {
    float a[12], b[8], c[6];
    for (int i = 0; i < 12; i++) a[i] = (float)(i % 5) - 2;
    for (int i = 0; i < 8; i++) b[i] = (float)(i % 3) - 1;
    for (int i = 0; i < 6; i++) c[i] = 1000; // beta = 0: overwritten
    soma_sgemm(0, 0, 3, 2, 4, 1, a, 4, b, 2, 0, c, 2);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            float want = 0;
            for (int p = 0; p < 4; p++) want += a[i * 4 + p] * b[p * 2 + j];
            cr_assert_eq(c[i * 2 + j], want, "C[%d,%d] = %g, want %g", i, j, c[i * 2 + j], want);
        }
}

static void expect_error(const char *env, int code, const char *message) {
    memset(&logged, 0, sizeof logged);
    soma_set_log(count_log, NULL, SOMA_LOG_ERROR);
    setenv("SOMA_CPU", env, 1);
    int rc = soma_cpu_init();
    cr_assert_eq(rc, code, "SOMA_CPU=%s: soma_cpu_init -> %d (%s)", env, rc, soma_last_error());
    cr_assert(strstr(soma_last_error(), message), "message '%s' lacks '%s'", soma_last_error(),
              message);
    cr_assert_str_eq(soma_cpu_name(), "generic");
    for (int i = 0; i < 3; i++) assert_gemm_works();
    soma_clear_error();
    cr_assert_eq(soma_cpu_init(), code, "the error stays for later calls");
    cr_assert(strstr(soma_last_error(), message));
    cr_assert_eq(logged.errors, 1, "logged %d times", logged.errors);
    cr_assert(strstr(logged.last, message), "logged '%s'", logged.last);
    soma_set_log(NULL, NULL, SOMA_LOG_WARN);
}

Test(dispatch, automatic_choice_follows_the_cpu) {
    unsetenv("SOMA_CPU");
    cr_assert_eq(soma_cpu_init(), SOMA_OK, "%s", soma_last_error());
    cr_assert_str_eq(soma_cpu_name(), native_set());
    assert_gemm_works();
}

Test(dispatch, soma_cpu_generic_is_honoured) {
    setenv("SOMA_CPU", "generic", 1);
    cr_assert_eq(soma_cpu_init(), SOMA_OK, "%s", soma_last_error());
    cr_assert_str_eq(soma_cpu_name(), "generic");
    assert_gemm_works();
}

Test(dispatch, soma_cpu_native_any_case) {
    if (strcmp(native_set(), "generic") == 0) cr_skip_test("this CPU has no tuned kernel set");
    char upper[16];
    snprintf(upper, sizeof upper, "%s", native_set());
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    setenv("SOMA_CPU", upper, 1);
    cr_assert_eq(soma_cpu_init(), SOMA_OK, "SOMA_CPU=%s: %s", upper, soma_last_error());
    cr_assert_str_eq(soma_cpu_name(), native_set());
    assert_gemm_works();
}

Test(dispatch, bogus_name_is_an_error) {
    expect_error("bogus", SOMA_E_INVALID,
                 "SOMA_CPU=bogus is not a kernel set (one of: generic, avx2, avx512, neon)");
}

Test(dispatch, set_of_another_architecture_is_an_error) {
#if defined(__x86_64__)
    expect_error("neon", SOMA_E_UNSUPPORTED,
                 "SOMA_CPU=neon requested but this build has no NEON kernels (built for x86-64)");
#elif defined(__aarch64__)
    expect_error("avx2", SOMA_E_UNSUPPORTED,
                 "SOMA_CPU=avx2 requested but this build has no AVX2 kernels (built for aarch64)");
#else
    cr_skip_test("no tuned kernel set on this architecture");
#endif
}

Test(dispatch, avx512_of_another_architecture_is_an_error) {
#if defined(__x86_64__)
    cr_skip_test("x86-64 builds have the AVX-512 kernels");
#elif defined(__aarch64__)
    expect_error("avx512", SOMA_E_UNSUPPORTED,
                 "SOMA_CPU=avx512 requested but this build has no AVX-512 kernels (built for "
                 "aarch64)");
#else
    cr_skip_test("no tuned kernel set on this architecture");
#endif
}

// A CPU (or an OS: XGETBV without YMM state) without the ISA, simulated.
Test(dispatch, set_the_cpu_lacks_is_an_error) {
    soma_cpu_test_hide_isa(1);
#if defined(__x86_64__)
    expect_error("avx2", SOMA_E_UNSUPPORTED, "SOMA_CPU=avx2 requested but this CPU lacks AVX2/FMA");
#elif defined(__aarch64__)
    expect_error("neon", SOMA_E_UNSUPPORTED, "SOMA_CPU=neon requested but this CPU lacks NEON");
#else
    cr_skip_test("no tuned kernel set on this architecture");
#endif
}

// Hiding every tuned ISA hides AVX-512 as well.
Test(dispatch, cpu_without_any_tuned_isa_lacks_avx512) {
    soma_cpu_test_hide_isa(1);
#if defined(__x86_64__)
    expect_error("avx512", SOMA_E_UNSUPPORTED,
                 "SOMA_CPU=avx512 requested but this CPU lacks AVX-512");
#else
    cr_skip_test("AVX-512 is an x86-64 kernel set");
#endif
}

// An AVX2-only CPU (or an OS without the opmask/ZMM state), simulated: the
// automatic choice is avx2, SOMA_CPU=avx2 works and SOMA_CPU=avx512 is the
// error.
Test(dispatch, cpu_with_avx2_but_not_avx512) {
#if defined(__x86_64__)
    if (!has_avx2()) cr_skip_test("this CPU has no AVX2");
    soma_cpu_test_hide_isa(2);
    unsetenv("SOMA_CPU");
    cr_assert_eq(soma_cpu_init(), SOMA_OK, "%s", soma_last_error());
    cr_assert_str_eq(soma_cpu_name(), "avx2");
    assert_gemm_works();
    cr_assert_eq(soma_cpu_force("avx512"), SOMA_E_UNSUPPORTED);
    cr_assert(strstr(soma_last_error(), "SOMA_CPU=avx512 requested but this CPU lacks AVX-512"),
              "%s", soma_last_error());
    cr_assert_str_eq(soma_cpu_name(), "avx2", "a refused force changes nothing");
    cr_assert_eq(soma_cpu_force("avx2"), SOMA_OK);
    cr_assert_eq(soma_cpu_force(NULL), SOMA_OK);
    cr_assert_str_eq(soma_cpu_name(), "avx2");
    assert_gemm_works();
#else
    cr_skip_test("AVX-512 is an x86-64 kernel set");
#endif
}

Test(dispatch, avx512_without_os_state_is_an_error) {
#if defined(__x86_64__)
    soma_cpu_test_hide_isa(2);
    expect_error("avx512", SOMA_E_UNSUPPORTED,
                 "SOMA_CPU=avx512 requested but this CPU lacks AVX-512 (F, VL, DQ, BW with the OS "
                 "saving ZMM state)");
#else
    cr_skip_test("AVX-512 is an x86-64 kernel set");
#endif
}

// Every set this machine runs can be forced by name, in any case, and then
// computes exactly.
Test(dispatch, each_supported_set_can_be_forced) {
    unsetenv("SOMA_CPU");
    static const char *const names[] = {"generic", "avx2", "AVX512", "avx512", "neon"};
    const int have[] = {1, has_avx2(), has_avx512(), has_avx512(),
#if defined(__aarch64__)
                        1
#else
                        0
#endif
    };
    for (int i = 0; i < 5; i++) {
        int rc = soma_cpu_force(names[i]);
        if (!have[i]) {
            cr_assert_eq(rc, SOMA_E_UNSUPPORTED, "%s -> %d", names[i], rc);
            continue;
        }
        cr_assert_eq(rc, SOMA_OK, "%s: %s", names[i], soma_last_error());
        cr_assert(strcasecmp(soma_cpu_name(), names[i]) == 0, "%s: active %s", names[i],
                  soma_cpu_name());
        assert_gemm_works();
    }
}

Test(dispatch, cpu_without_the_isa_gets_generic) {
    unsetenv("SOMA_CPU");
    soma_cpu_test_hide_isa(1);
    cr_assert_eq(soma_cpu_init(), SOMA_OK);
    cr_assert_str_eq(soma_cpu_name(), "generic");
    assert_gemm_works();
}

Test(dispatch, force_switches_and_refuses) {
    unsetenv("SOMA_CPU");
    cr_assert_eq(soma_cpu_force("generic"), SOMA_OK);
    cr_assert_str_eq(soma_cpu_name(), "generic");
    cr_assert_eq(soma_cpu_force("bogus"), SOMA_E_INVALID);
    cr_assert(strstr(soma_last_error(), "SOMA_CPU=bogus is not a kernel set"), "%s", soma_last_error());
    cr_assert_str_eq(soma_cpu_name(), "generic", "a refused force changes nothing");
#if defined(__x86_64__)
    cr_assert_eq(soma_cpu_force("neon"), SOMA_E_UNSUPPORTED);
#elif defined(__aarch64__)
    cr_assert_eq(soma_cpu_force("avx2"), SOMA_E_UNSUPPORTED);
#endif
    cr_assert_str_eq(soma_cpu_name(), "generic");
    cr_assert_eq(soma_cpu_force(NULL), SOMA_OK);
    cr_assert_str_eq(soma_cpu_name(), native_set());
    assert_gemm_works();
}

// The invariants the framework relies on, for every set compiled in, and the
// merged active set has every slot filled.
Test(dispatch, kernel_tables_are_consistent) {
    const soma_cpu_kernels *const *sets = soma_cpu_kernel_sets();
    cr_assert_str_eq(sets[0]->name, "generic", "the generic set comes first");
    int n = 0;
    for (; sets[n]; n++) {
        const soma_cpu_kernels *s = sets[n];
        cr_assert(s->ukr, "%s: no micro-kernel", s->name);
        cr_assert(s->mr > 0 && s->nr > 0 && s->mr * s->nr <= SOMA_GEMM_MAX_TILE, "%s: tile %dx%d",
                  s->name, s->mr, s->nr);
        cr_assert_eq(s->mc % s->mr, 0, "%s: mc %% mr", s->name);
        cr_assert_eq(s->nc % s->nr, 0, "%s: nc %% nr", s->name);
        if (s->ukr_wide) {
            cr_assert(s->b_in_l2, "%s: a wide kernel runs only in the b_in_l2 order", s->name);
            cr_assert(s->nr_wide > s->nr && s->mr * s->nr_wide <= SOMA_GEMM_MAX_TILE,
                      "%s: wide tile %dx%d", s->name, s->mr, s->nr_wide);
            cr_assert_eq(s->nc % s->nr_wide, 0, "%s: nc %% nr_wide", s->name);
        }
        cr_assert(s->kc > 0);
        for (int j = 0; j < n; j++) cr_assert_str_neq(sets[j]->name, s->name);
    }
#if defined(__x86_64__)
    cr_assert_eq(n, 3, "generic, avx2 and avx512");
#elif defined(__aarch64__)
    cr_assert_eq(n, 2, "generic and the architecture's own set");
#endif
    const soma_cpu_kernels *a = soma_cpu_kernels_active();
    cr_assert(a->ukr && a->pack_a && a->pack_b && a->direct && a->direct_mr > 0);
    // A set without a wider kernel runs its own one on panels of nr.
    cr_assert(a->ukr_wide && a->nr_wide >= a->nr);
    for (int i = 0; i < n; i++)
        if (!sets[i]->ukr_wide && soma_cpu_force(sets[i]->name) == SOMA_OK)
            cr_assert(soma_cpu_kernels_active()->ukr_wide == sets[i]->ukr &&
                          soma_cpu_kernels_active()->nr_wide == sets[i]->nr,
                      "%s: ukr_wide/nr_wide not filled from ukr/nr", sets[i]->name);
}
