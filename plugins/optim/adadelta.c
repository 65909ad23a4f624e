/* adadelta — Keras' Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7):
 *   Eg  = ρ·Eg + (1 − ρ)·g²
 *   Δ   = −sqrt(Edx + ε)·g / sqrt(Eg + ε)
 *   Edx = ρ·Edx + (1 − ρ)·Δ²
 *   x  += lr·Δ
 * Slots: Eg, Edx (both start at 0). Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_RHO, P_EPSILON };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size (1.0 is the paper's form)" },
    { .name = "rho", .type = SOMA_PARAM_FLOAT, .def_num = 0.95,
      .doc = "decay of both moving averages, in [0, 1]" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added inside both square roots, >= 0" },
};

// Keras checks neither; ρ outside [0, 1] or a negative ε can make the
// averages negative and their square roots NaN, so they are refused here.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double rho = p[P_RHO].num, eps = p[P_EPSILON].num;
    if (!(rho >= 0.0 && rho <= 1.0))
        return host->set_error(SOMA_E_INVALID, "rho must be in [0, 1], got %g", rho);
    if (!(eps >= 0.0 && isfinite(eps)))
        return host->set_error(SOMA_E_INVALID, "epsilon must be >= 0, got %g", eps);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    (void)self;
    return 2u;
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    if (!slots || !slots[0] || !slots[1])
        return ctx->host->set_error(SOMA_E_STATE, "accumulator slots missing");
    const double rho = self->params[P_RHO].num;
    const float rhof = (float)rho, omr = (float)(1.0 - rho);
    const float eps = (float)self->params[P_EPSILON].num;
    const float lr = (float)info->lr;
    float *eg = slots[0], *edx = slots[1];
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        eg[i] = rhof * eg[i] + omr * (gi * gi);
        const float d = -((sqrtf(edx[i] + eps) * gi) / sqrtf(eg[i] + eps));
        edx[i] = rhof * edx[i] + omr * (d * d);
        x[i] += lr * d;
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "adadelta", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "adadelta",
    .aliases = NULL, .doc = "Adadelta (Zeiler): steps scaled by RMS of past updates",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, adadelta, items, 1)
