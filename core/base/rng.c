// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11): a counter-based generator, so draw i of (seed, stream) is a pure
// function of those three numbers. That is what makes "same seed, same
// weights" hold whatever the thread count or the order layers are built in.
#include <math.h>

#include "base/base.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_block(uint64_t counter, uint64_t stream, uint64_t key,
                         uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void soma_rng_init(soma_rng *r, uint64_t seed, uint64_t stream) {
    r->key = seed;
    r->stream = stream;
    r->counter = 0;
    r->nbuf = 0;
}

uint32_t soma_rng_u32(soma_rng *r) {
    if (r->nbuf == 0) {
        philox_block(r->counter++, r->stream, r->key, r->buf);
        r->nbuf = 4;
    }
    return r->buf[4 - r->nbuf--];
}

uint64_t soma_rng_u64(soma_rng *r) {
    uint64_t hi = soma_rng_u32(r);
    return (hi << 32) | soma_rng_u32(r);
}

float soma_rng_unit_f(soma_rng *r) {
    return (float)(soma_rng_u32(r) >> 8) * 0x1.0p-24f;
}

double soma_rng_unit_d(soma_rng *r) {
    return (double)(soma_rng_u64(r) >> 11) * 0x1.0p-53;
}

void soma_rng_uniform(soma_rng *r, float *out, size_t n, float lo, float hi) {
    float span = hi - lo;
    for (size_t i = 0; i < n; i++) {
        float v = lo + span * soma_rng_unit_f(r);
        // lo + span*u can round up to hi in float; keep the interval half-open.
        if (v >= hi && hi > lo) v = nextafterf(hi, lo);
        out[i] = v;
    }
}

// One standard normal pair by Box–Muller in double precision.
static void normal_pair(soma_rng *r, double *z0, double *z1) {
    double u1 = 1.0 - soma_rng_unit_d(r); // (0, 1]: log stays finite
    double u2 = soma_rng_unit_d(r);
    double rad = sqrt(-2.0 * log(u1));
    *z0 = rad * cos(2.0 * M_PI * u2);
    *z1 = rad * sin(2.0 * M_PI * u2);
}

void soma_rng_normal(soma_rng *r, float *out, size_t n, float mean, float std) {
    size_t i = 0;
    while (i < n) {
        double z0, z1;
        normal_pair(r, &z0, &z1);
        out[i++] = (float)(mean + std * z0);
        if (i < n) out[i++] = (float)(mean + std * z1);
    }
}

void soma_rng_truncated_normal(soma_rng *r, float *out, size_t n, float mean,
                               float std) {
    size_t i = 0;
    while (i < n) {
        double z[2];
        normal_pair(r, &z[0], &z[1]);
        for (int j = 0; j < 2 && i < n; j++)
            if (fabs(z[j]) <= 2.0) out[i++] = (float)(mean + std * z[j]);
    }
}

// Unbiased integer in [0, bound) by rejection.
static uint64_t below(soma_rng *r, uint64_t bound) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do x = soma_rng_u64(r);
    while (x >= limit);
    return x % bound;
}

void soma_rng_permutation(soma_rng *r, int64_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
