/* orthogonal — Keras' Orthogonal(gain=1.0): the Q factor of the QR
 * decomposition of a standard normal matrix, sign-fixed so the result is
 * Haar-distributed, reshaped to the tensor and scaled by gain. */
#include <math.h>

#include <soma/plugin.h>

enum { P_GAIN, P_SEED };
static const soma_param_spec params[] = {
    { .name = "gain", .type = SOMA_PARAM_FLOAT, .def_num = 1.0,
      .doc = "multiplies the orthogonal matrix" },
    { .name = "seed", .type = SOMA_PARAM_INT, .def_num = 0,
      .doc = "overrides the model seed for this initializer" },
};

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    if (!isfinite(p[P_GAIN].num))
        return host->set_error(SOMA_E_INVALID, "gain must be finite, got %g",
                               p[P_GAIN].num);
    if (p[P_SEED].is_set && p[P_SEED].num < 0)
        return host->set_error(SOMA_E_INVALID, "seed must be >= 0, got %g",
                               p[P_SEED].num);
    return SOMA_OK;
}

// The min(rows, cols) vectors being orthonormalised live inside the output
// itself: vector j, element i is base[j * vstride + i * estride]. That keeps
// fill free of allocations (the ABI forbids them in compute functions).
typedef struct vecs {
    float *base;
    int64_t len, vstride, estride;
} vecs;

static double dot(const vecs *v, int64_t a, int64_t b) {
    const float *x = v->base + a * v->vstride, *y = v->base + b * v->vstride;
    double s = 0.0;
    for (int64_t i = 0; i < v->len; i++)
        s += (double)x[i * v->estride] * (double)y[i * v->estride];
    return s;
}

// x_b -= r · x_a, with the arithmetic in double and one rounding per element.
static void axpy(const vecs *v, double r, int64_t a, int64_t b) {
    const float *x = v->base + a * v->vstride;
    float *y = v->base + b * v->vstride;
    for (int64_t i = 0; i < v->len; i++) {
        int64_t k = i * v->estride;
        y[k] = (float)((double)y[k] - r * (double)x[k]);
    }
}

static void scale(const vecs *v, int64_t a, double s) {
    float *x = v->base + a * v->vstride;
    for (int64_t i = 0; i < v->len; i++) {
        int64_t k = i * v->estride;
        x[k] = (float)((double)x[k] * s);
    }
}

// Modified Gram-Schmidt with re-orthogonalisation: every vector gets two
// passes (MGS2; the vectors are stored in float, so one pass leaves rounding
// along earlier directions that the second removes), and a third when the
// second still cancelled more than half of the norm (Kahan-Parlett's "twice
// is enough" test). Dot products and updates run in double.
// Gram-Schmidt makes every diagonal entry of R the norm of a residual, hence
// positive: that is already the QR with Keras' sign fix Q *= sign(diag R).
// A residual of exactly zero is R_jj = 0, where Keras' sign(0) = 0 zeroes the
// column; we do the same.
static void orthonormalise(const vecs *v, int64_t count) {
    for (int64_t j = 0; j < count; j++) {
        double before = sqrt(dot(v, j, j)), after = before;
        for (int pass = 0; pass < 3 && j > 0; pass++) {
            for (int64_t k = 0; k < j; k++) axpy(v, dot(v, k, j), k, j);
            after = sqrt(dot(v, j, j));
            if (pass >= 1 && after >= 0.5 * before) break;
            before = after;
        }
        scale(v, j, after > 0.0 ? 1.0 / after : 0.0);
    }
}

static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)fans;
    if (out->ndim < 2)
        return ctx->host->set_error(SOMA_E_SHAPE, "needs a tensor of rank >= 2, "
                                    "got rank %d", (int)out->ndim);
    int64_t cols = out->dims[out->ndim - 1], rows = 1;
    for (int32_t d = 0; d < out->ndim - 1; d++) rows *= out->dims[d];
    if (rows <= 0 || cols <= 0) return SOMA_OK;

    // Keras draws A of shape (max, min), takes Q (max, min) and transposes it
    // when rows < cols. The draws are i.i.d., so we may lay A out however
    // suits us: tall, A is the output read row-major and Q's columns are its
    // columns; wide, the output holds Aᵀ, so Q's columns are its rows and the
    // transposed Q comes out in place.
    ctx->host->rng_normal(ctx->rng, out->data, (size_t)(rows * cols), 0.0f, 1.0f);
    vecs v = { .base = out->data };
    int64_t count;
    if (rows >= cols) {
        v.len = rows; v.vstride = 1; v.estride = cols; count = cols;
    } else {
        v.len = cols; v.vstride = cols; v.estride = 1; count = rows;
    }
    orthonormalise(&v, count);

    float gain = (float)self->params[P_GAIN].num;
    if (gain != 1.0f) {
        int64_t n = rows * cols;
        for (int64_t i = 0; i < n; i++) out->data[i] *= gain;
    }
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "orthogonal",
                                 .create = create, .fill = fill };
// Keras 3 also answers to the class name OrthogonalInitializer.
static const char *const aliases[] = { "orthogonal_initializer", NULL };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "orthogonal",
    .aliases = aliases,
    .doc = "gain times a random orthogonal matrix, rank >= 2 (Keras Orthogonal)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, orthogonal, items, 1)
