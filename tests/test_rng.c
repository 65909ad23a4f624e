// The RNG against Philox4x32-10's published known-answer vectors (Random123),
// plus the distributions' statistics and determinism.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "base/base.h"

Test(rng, philox_known_answers) {
    soma_rng r;
    // counter 0, key 0
    soma_rng_init(&r, 0, 0);
    uint32_t want0[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    for (int i = 0; i < 4; i++) cr_assert_eq(soma_rng_u32(&r), want0[i], "word %d", i);
    // all-ones counter and key
    soma_rng_init(&r, UINT64_MAX, UINT64_MAX);
    r.counter = UINT64_MAX;
    uint32_t want1[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
    for (int i = 0; i < 4; i++) cr_assert_eq(soma_rng_u32(&r), want1[i], "word %d", i);
    // digits of pi
    soma_rng_init(&r, 0x299f31d0a4093822ull, 0x0370734413198a2eull);
    r.counter = 0x85a308d3243f6a88ull;
    uint32_t want2[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    for (int i = 0; i < 4; i++) cr_assert_eq(soma_rng_u32(&r), want2[i], "word %d", i);
}

Test(rng, same_seed_same_stream) {
    soma_rng a, b, c;
    soma_rng_init(&a, 42, 3);
    soma_rng_init(&b, 42, 3);
    soma_rng_init(&c, 42, 4);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = soma_rng_u64(&a), z = soma_rng_u64(&c);
        cr_assert_eq(x, soma_rng_u64(&b));
        differ += x != z;
    }
    cr_assert_gt(differ, 990);
}

static void moments(const float *x, size_t n, double *mean, double *sd, double *mn, double *mx) {
    double s = 0, s2 = 0;
    *mn = INFINITY;
    *mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        *mn = fmin(*mn, x[i]);
        *mx = fmax(*mx, x[i]);
    }
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(s2 / (double)(n - 1));
}

Test(rng, distributions) {
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x);
    soma_rng r;
    double mean, sd, mn, mx;
    soma_rng_init(&r, 7, 0);
    soma_rng_uniform(&r, x, N, -2, 3);
    moments(x, N, &mean, &sd, &mn, &mx);
    cr_assert(fabs(mean - 0.5) < 5 * (5 / sqrt(12.0)) / sqrt(N), "uniform mean %g", mean);
    cr_assert(fabs(sd - 5 / sqrt(12.0)) < 0.01, "uniform sd %g", sd);
    cr_assert(mn >= -2 && mx < 3);
    soma_rng_normal(&r, x, N, 1, 2);
    moments(x, N, &mean, &sd, &mn, &mx);
    cr_assert(fabs(mean - 1) < 5 * 2 / sqrt(N), "normal mean %g", mean);
    cr_assert(fabs(sd - 2) < 0.02, "normal sd %g", sd);
    soma_rng_truncated_normal(&r, x, N, 0, 1);
    moments(x, N, &mean, &sd, &mn, &mx);
    // std of N(0,1) truncated to [-2, 2] is 0.87962566...
    cr_assert(fabs(sd - 0.87962566103423978) < 0.005, "truncated sd %g", sd);
    cr_assert(mn >= -2 && mx <= 2);
    free(x);
}

Test(rng, permutation_is_a_permutation) {
    enum { N = 1000 };
    int64_t p[N];
    int seen[N] = {0};
    soma_rng r;
    soma_rng_init(&r, 9, 1);
    soma_rng_permutation(&r, p, N);
    int fixed = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(p[i] >= 0 && p[i] < N);
        seen[p[i]]++;
        fixed += p[i] == i;
    }
    for (int i = 0; i < N; i++) cr_assert_eq(seen[i], 1);
    cr_assert_lt(fixed, 10); // a shuffle, not the identity
}
