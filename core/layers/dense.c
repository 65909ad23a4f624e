// Dense: y = act(x·W + b), W stored (in, units) as Keras does.
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layer.h"

static int dense_build(soma_layer *l, int64_t in) {
    if (in <= 0) return soma_error_set(SOMA_E_SHAPE, "input has %lld features", (long long)in);
    l->in = in;
    return SOMA_OK;
}

static int dense_params(soma_layer *l, soma_param *p, int max) {
    if (max < 2) return 0;
    p[0] = (soma_param){.value = l->w, .grad = l->dw, .numel = l->in * l->out, .ndim = 2,
                        .dims = {l->in, l->out}, .name = "kernel"};
    p[1] = (soma_param){.value = l->b, .grad = l->db, .numel = l->out, .ndim = 1,
                        .dims = {l->out, 0}, .name = "bias"};
    return 2;
}

// fans as Keras' compute_fans: rank 2 → (in, out), rank 1 → (n, n).
static int fill(soma_obj *init, const soma_param *p, uint64_t seed, uint64_t stream) {
    soma_rng rng;
    // An initializer given seed=... draws the same values wherever it is used,
    // as a seeded Keras initializer does.
    for (uint32_t i = 0; i < init->item->n_params; i++)
        if (strcmp(init->item->params[i].name, "seed") == 0 && init->values[i].is_set) {
            seed = (uint64_t)(int64_t)init->values[i].num;
            stream = 0;
        }
    soma_rng_init(&rng, seed, stream);
    soma_ctx ctx = soma_ctx_make(&rng);
    soma_tview v = {.data = p->value, .ndim = p->ndim};
    for (int i = 0; i < p->ndim; i++) v.dims[i] = p->dims[i];
    soma_fans fans = p->ndim == 2 ? (soma_fans){(double)p->dims[0], (double)p->dims[1]}
                                  : (soma_fans){(double)p->dims[0], (double)p->dims[0]};
    int rc = soma_obj_init(init)->fill(&init->inst, &ctx, &v, &fans);
    if (rc) return soma_error_prefix("initializer '%s' on %s", init->item->name, p->name);
    for (int64_t i = 0; i < p->numel; i++)
        if (!isfinite(p->value[i]))
            return soma_error_set(SOMA_E_PLUGIN, "initializer '%s' wrote a non-finite value to %s[%lld]",
                                  init->item->name, p->name, (long long)i);
    return SOMA_OK;
}

static int dense_init(soma_layer *l, uint64_t seed, int layer_index) {
    soma_param p[2];
    dense_params(l, p, 2);
    // Streams 2i and 2i+1 of the model seed: each tensor's values depend only on
    // (seed, layer index), never on build order or thread count.
    int rc = fill(l->kernel_init, &p[0], seed, 2 * (uint64_t)layer_index);
    if (!rc) rc = fill(l->bias_init, &p[1], seed, 2 * (uint64_t)layer_index + 1);
    return rc;
}

static void dense_forward(soma_layer *l, const float *x, float *y, int64_t batch) {
    // x·W with the bias added in the GEMM's epilogue, while the tile is still
    // in registers or L1; plain relu goes there too. The result lands in z
    // when the activation's backward needs the pre-activation.
    float *z = l->z ? l->z : y;
    // Plain relu: no slope, no cap (NaN = None), no threshold (act.h's p[]).
    bool fuse_relu = !l->z && l->act.kind == SOMA_ACT_RELU && l->act.p[0] == 0 && isnan(l->act.p[1]) &&
                     l->act.p[2] == 0;
    soma_sgemm_bias_act(0, 0, batch, l->out, l->in, 1.0f, x, l->in, l->w, l->out, 0.0f, z, l->out,
                        l->b, fuse_relu);
    if (!fuse_relu) soma_activation_forward(&l->act, y, z, batch, l->out);
}

static void dense_backward(soma_layer *l, const float *x, const float *y, float *dy,
                           float *dx, int64_t batch) {
    if (!l->fused_act_grad) soma_activation_backward(&l->act, dy, l->z, y, dy, batch, l->out); // dy := dL/dz
    // dW = xᵀ·dz, db = Σ_rows dz, dx = dz·Wᵀ
    soma_sgemm(1, 0, l->in, l->out, batch, 1.0f, x, l->in, dy, l->out, 0.0f, l->dw, l->out);
    memset(l->db, 0, (size_t)l->out * sizeof(float));
    for (int64_t r = 0; r < batch; r++) {
        const float *dr = dy + r * l->out;
        for (int64_t j = 0; j < l->out; j++) l->db[j] += dr[j];
    }
    if (dx) soma_sgemm(0, 1, batch, l->in, l->out, 1.0f, dy, l->out, l->w, l->out, 0.0f, dx, l->in);
}

static void dense_destroy(soma_layer *l) {
    soma_obj_free(l->kernel_init);
    soma_obj_free(l->bias_init);
    free(l);
}

static const soma_layer_vt dense_vt = {
    .size = sizeof(soma_layer_vt),
    .name = "Dense",
    .build = dense_build,
    .params = dense_params,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = dense_destroy,
};

int soma_dense_create(soma_layer **out, int64_t units, const char *activation,
                      const char *kernel_init, const char *bias_init) {
    *out = NULL;
    if (units <= 0)
        return soma_error_set(SOMA_E_INVALID, "Dense units must be positive, got %lld",
                              (long long)units);
    soma_activation act;
    int rc = soma_activation_parse(activation, &act);
    if (rc) return rc;
    soma_layer *l = calloc(1, sizeof *l);
    if (!l) return soma_error_set(SOMA_E_NOMEM, "out of memory");
    l->vt = &dense_vt;
    l->out = units;
    l->act = act;
    rc = soma_obj_create(SOMA_KIND_INIT, kernel_init ? kernel_init : "glorot_uniform",
                             &l->kernel_init);
    if (!rc)
        rc = soma_obj_create(SOMA_KIND_INIT, bias_init ? bias_init : "zeros", &l->bias_init);
    if (rc) {
        dense_destroy(l);
        return rc;
    }
    *out = l;
    return SOMA_OK;
}
