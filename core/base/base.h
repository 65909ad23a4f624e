/* core/base — errors, logging, aligned memory, overflow-checked sizes, RNG,
 * tensors. Internal to libsoma: nothing here is part of the public ABI. */
#ifndef SOMA_CORE_BASE_H
#define SOMA_CORE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "soma/plugin.h"
#include "soma/soma.h"

/* ---- errors (error.c) ----
 * soma_error_set records code + message for soma_last_error() in this thread
 * and returns code, so `return soma_error_set(SOMA_E_SHAPE, "...")`. */
int soma_error_set(int code, const char *fmt, ...) SOMA_PRINTF(2, 3);
int soma_error_setv(int code, const char *fmt, va_list ap);
/* Prepends "prefix: " to the current message; returns the current code.
 * Used to add context on the way up: "layer 2 (dense): ...". */
int soma_error_prefix(const char *fmt, ...) SOMA_PRINTF(1, 2);

/* ---- logging (log.c) ---- */
void soma_log(int level, const char *fmt, ...) SOMA_PRINTF(2, 3);
void soma_logv(int level, const char *fmt, va_list ap);

/* ---- memory (alloc.c) ----
 * 64-byte aligned by default (align 0). NULL for size 0 or failure (and then
 * an error is set). */
void *soma_alloc(size_t size, size_t align);
void *soma_calloc(size_t count, size_t size); /* zeroed, 64-aligned, checked */
void soma_free(void *p);
/* a*b / a+b with overflow check: false on overflow. */
static inline bool soma_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool soma_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
char *soma_strdup(const char *s); /* malloc'd copy, NULL-safe */

/* ---- random numbers (rng.c) ----
 * Counter-based: Philox4x32-10 keyed by (seed, stream). Draw i of a stream is a
 * pure function of (seed, stream, i), so results do not depend on threads. */
struct soma_rng {
    uint64_t key;      /* seed                                        */
    uint64_t stream;   /* which independent stream of that seed       */
    uint64_t counter;  /* next 128-bit block                          */
    uint32_t buf[4];   /* unconsumed words of the current block       */
    int nbuf;
};
void soma_rng_init(soma_rng *r, uint64_t seed, uint64_t stream);
uint32_t soma_rng_u32(soma_rng *r);
uint64_t soma_rng_u64(soma_rng *r);
/* Uniform in [0, 1) with 24 random bits (float) / 53 bits (double). */
float soma_rng_unit_f(soma_rng *r);
double soma_rng_unit_d(soma_rng *r);
void soma_rng_uniform(soma_rng *r, float *out, size_t n, float lo, float hi);
void soma_rng_normal(soma_rng *r, float *out, size_t n, float mean, float std);
void soma_rng_truncated_normal(soma_rng *r, float *out, size_t n, float mean,
                               float std);
/* Fisher–Yates permutation of 0..n-1. */
void soma_rng_permutation(soma_rng *r, int64_t *perm, int64_t n);

/* ---- tensors (tensor.c) ---- */
struct soma_tensor {
    float *data;                /* 64-byte aligned, owned             */
    int ndim;
    int64_t dims[SOMA_MAX_DIMS];
    int64_t numel;
};
/* numel of dims with overflow and sign checks; sets an error on failure. */
int soma_shape_numel(int ndim, const int64_t *dims, int64_t *numel);
/* A view of a tensor (all of it). */
soma_tview soma_tensor_view(const soma_tensor *t);
/* "(32, 784)" into buf. */
const char *soma_shape_str(int ndim, const int64_t *dims, char *buf, size_t len);

#endif
