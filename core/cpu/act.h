/* core/cpu — Keras 3's activation catalogue (keras.activations) on rows × cols
 * row-major float data: parsing of spec strings, forward, and backward as
 * dx = dy ⊙ f'(x) (the row-wise Jacobian product for softmax, log_softmax and
 * sparsemax, which act over the last axis). The entry points run the vector
 * kernels of the active CPU kernel set (soma_cpu_name(): AVX2 or NEON, on
 * SLEEF) where it has them, and the scalar code (the reference: transcendental
 * functions in double, <= 1 ulp) otherwise. */
#ifndef SOMA_CORE_ACT_H
#define SOMA_CORE_ACT_H

#include <stdbool.h>
#include <stdint.h>

#include "soma/plugin.h"

typedef enum soma_act_kind {
    SOMA_ACT_LINEAR = 0,
    SOMA_ACT_RELU,        /* p = {negative_slope, max_value (NaN: None), threshold} */
    SOMA_ACT_SIGMOID,
    SOMA_ACT_TANH,
    SOMA_ACT_SOFTMAX,     /* over the last axis (each row) */
    SOMA_ACT_LOG_SOFTMAX, /* over the last axis */
    SOMA_ACT_ELU,         /* p = {alpha} */
    SOMA_ACT_SELU,
    SOMA_ACT_GELU,        /* p = {approximate (0 or 1)} */
    SOMA_ACT_SOFTPLUS,
    SOMA_ACT_SOFTSIGN,
    SOMA_ACT_SILU,        /* also "swish" */
    SOMA_ACT_LEAKY_RELU,  /* p = {negative_slope} */
    SOMA_ACT_HARD_SIGMOID,
    SOMA_ACT_HARD_SILU,   /* also "hard_swish" */
    SOMA_ACT_EXPONENTIAL,
    SOMA_ACT_RELU6,
    SOMA_ACT_CELU,        /* p = {alpha} */
    SOMA_ACT_HARD_TANH,
    SOMA_ACT_HARD_SHRINK, /* p = {threshold} */
    SOMA_ACT_SOFT_SHRINK, /* p = {threshold} */
    SOMA_ACT_TANH_SHRINK,
    SOMA_ACT_LOG_SIGMOID,
    SOMA_ACT_MISH,
    SOMA_ACT_SPARSE_PLUS,
    SOMA_ACT_SPARSE_SIGMOID,
    SOMA_ACT_SQUAREPLUS,  /* p = {b} */
    SOMA_ACT_THRESHOLD,   /* p = {threshold, default_value} */
    SOMA_ACT_SPARSEMAX,   /* over the last axis */
    SOMA_ACT_COUNT
} soma_act_kind;

typedef struct soma_activation {
    soma_act_kind kind;
    float p[3]; /* parameters in the order of the comments above; unused ones are 0 */
} soma_activation;

/* Parses a spec in the plugin grammar with Keras' names, parameter names and
 * defaults: "relu", "LeakyReLU", "leaky_relu(negative_slope=0.1)",
 * "relu(max_value=6, threshold=0.5)", "gelu(approximate=true)". Names ignore
 * case and '_'; swish and hard_swish are aliases. NULL, "" and "None" give
 * linear. Errors: SOMA_E_NOT_FOUND (unknown name, listing the known ones;
 * unknown parameter), SOMA_E_INVALID (ill-typed or out-of-range value, missing
 * required parameter), SOMA_E_FORMAT (syntax). *out is linear on failure. */
int soma_activation_parse(const char *spec, soma_activation *out);
/* Canonical Keras name of the kind ("silu" for swish); "?" when invalid. */
const char *soma_activation_name(const soma_activation *a);
/* Whether backward needs the pre-activation x (gelu, silu, hard_silu, mish,
 * softsign, tanh_shrink, hard_tanh, sparse_sigmoid, relu with a max_value or
 * threshold, elu/celu with alpha <= 0, threshold with default_value >
 * threshold). The others work from the output y alone. */
bool soma_activation_needs_input(const soma_activation *a);

/* y = f(x). y may == x (then x is gone: keep a copy when needs_input). */
void soma_activation_forward(const soma_activation *a, float *y, const float *x,
                             int64_t rows, int64_t cols);
/* dx = dy ⊙ f'(x), from the forward output y and, when needs_input, x (else
 * x may be NULL). dx may == dy. At kinks the derivative follows TensorFlow's
 * gradients (relu'(0) = 0, relu6 and hard_sigmoid 0 at both ends, hard_tanh
 * 1 at ±1). A needs_input activation called with x == NULL yields NaN. */
void soma_activation_backward(const soma_activation *a, float *dx, const float *x,
                              const float *y, const float *dy, int64_t rows, int64_t cols);

/* ---- vector kernels (kernels/<isa>/act_<isa>.c) ------------------------------------
 * One set per ISA, used while the active CPU kernel set (soma_cpu_name()) is
 * one it serves: its own name, and "avx512" for the AVX2 set. Each call
 * returns false, having written nothing, when the set has no vector code for
 * the activation as parametrised; the scalar code then runs. The kernels
 * work on any length and alignment and in place (y == x, dx == dy), allocate
 * nothing and keep no state. Forward results are within 2 ulp of the exact
 * value, and special values (NaN, ±inf, ±0 inputs) give what the scalar code
 * gives. Lanes a kernel cannot get right (tails where results turn subnormal,
 * non-finite inputs where a formula would meet inf·0) are recomputed by
 * soma_activation_forward_scalar / _backward_scalar one element at a time, so
 * an elementwise result depends on the element's value only, never on its
 * position or the length of the call. */
typedef struct soma_act_kernels {
    const char *name; /* "avx2", "neon" */
    bool (*forward)(const soma_activation *a, float *y, const float *x, int64_t rows,
                    int64_t cols);
    /* Called with x != NULL whenever soma_activation_needs_input(a). */
    bool (*backward)(const soma_activation *a, float *dx, const float *x, const float *y,
                     const float *dy, int64_t rows, int64_t cols);
} soma_act_kernels;

/* Which activation kernels the active CPU kernel set runs: "avx2", "avx512",
 * "neon", or "scalar". */
const char *soma_activation_kernels_name(void);

#if defined(__x86_64__)
extern const soma_act_kernels soma_act_kernels_avx2;
extern const soma_act_kernels soma_act_kernels_avx512;
#elif defined(__aarch64__)
extern const soma_act_kernels soma_act_kernels_neon;
#endif

/* The scalar code alone, whatever kernel set is active (the vector kernels'
 * fallback; the same contract as soma_activation_forward / _backward). */
void soma_activation_forward_scalar(const soma_activation *a, float *y, const float *x,
                                    int64_t rows, int64_t cols);
void soma_activation_backward_scalar(const soma_activation *a, float *dx, const float *x,
                                     const float *y, const float *dy, int64_t rows,
                                     int64_t cols);

#endif
