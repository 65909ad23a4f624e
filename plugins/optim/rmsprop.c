/* rmsprop — Keras' RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0,
 * epsilon=1e-7, centered=False):
 *   v = ρ·v + (1 − ρ)·g²
 *   centered: mg = ρ·mg + (1 − ρ)·g,  den = v − mg² + ε;  else den = v + ε
 *   inc = lr·g / sqrt(den)                       (ε inside the sqrt)
 *   momentum μ > 0: mom = μ·mom + inc, x −= mom;  else x −= inc
 * Slots, in this order: v, then mom when μ > 0, then mg when centered.
 * Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_RHO, P_MOMENTUM, P_EPSILON, P_CENTERED };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "rho", .type = SOMA_PARAM_FLOAT, .def_num = 0.9,
      .doc = "decay of the moving average of g², in [0, 1]" },
    { .name = "momentum", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "velocity decay in [0, 1]; 0 disables momentum" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added inside the square root, > 0" },
    { .name = "centered", .type = SOMA_PARAM_BOOL, .def_num = 0,
      .doc = "divide by the estimated variance instead of the raw second moment" },
};

// The ranges Keras' RMSprop constructor enforces; written so that NaN fails.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double rho = p[P_RHO].num, mu = p[P_MOMENTUM].num, eps = p[P_EPSILON].num;
    if (!(rho >= 0.0 && rho <= 1.0))
        return host->set_error(SOMA_E_INVALID, "rho must be in [0, 1], got %g", rho);
    if (!(mu >= 0.0 && mu <= 1.0))
        return host->set_error(SOMA_E_INVALID, "momentum must be in [0, 1], got %g", mu);
    if (!(eps > 0.0 && isfinite(eps)))
        return host->set_error(SOMA_E_INVALID, "epsilon must be positive, got %g", eps);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    return 1u + (self->params[P_MOMENTUM].num > 0.0 ? 1u : 0u) +
           (self->params[P_CENTERED].num != 0.0 ? 1u : 0u);
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    const int use_mom = self->params[P_MOMENTUM].num > 0.0;
    const int centered = self->params[P_CENTERED].num != 0.0;
    if (!slots || !slots[0] || (use_mom && !slots[1]) ||
        (centered && !slots[1 + use_mom]))
        return ctx->host->set_error(SOMA_E_STATE, "rmsprop slots missing");

    const double rho = self->params[P_RHO].num;
    // ρ, μ and ε meet float32 tensors as float32; 1 − ρ is formed from the
    // Python float first, as in Keras.
    const float rhof = (float)rho, omr = (float)(1.0 - rho);
    const float mu = (float)self->params[P_MOMENTUM].num;
    const float eps = (float)self->params[P_EPSILON].num;
    const float lr = (float)info->lr;
    float *v = slots[0];
    float *mom = use_mom ? slots[1] : NULL;
    float *mg = centered ? slots[1 + use_mom] : NULL;

    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        v[i] = rhof * v[i] + omr * (gi * gi);
        float den;
        if (centered) {
            mg[i] = rhof * mg[i] + omr * gi;
            den = v[i] - mg[i] * mg[i] + eps;
        } else {
            den = v[i] + eps;
        }
        const float inc = (lr * gi) / sqrtf(den);
        if (use_mom) {
            mom[i] = mu * mom[i] + inc;
            x[i] -= mom[i];
        } else {
            x[i] -= inc;
        }
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "rmsprop", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "rmsprop",
    .aliases = NULL, .doc = "RMSprop (Hinton) with optional momentum and centering",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, rmsprop, items, 1)
