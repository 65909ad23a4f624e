/* adamax — Keras' Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
 * epsilon=1e-7), Adam with the infinity norm:
 *   m += (g − m)(1 − β1);  u = max(β2·u, |g|)
 *   x −= lr·m / ((1 − β1^t)(u + ε))
 * Slots: m, u (both start at 0). Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_BETA_1, P_BETA_2, P_EPSILON };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "beta_1", .type = SOMA_PARAM_FLOAT, .def_num = 0.9,
      .doc = "decay of the first-moment estimate, in [0, 1)" },
    { .name = "beta_2", .type = SOMA_PARAM_FLOAT, .def_num = 0.999,
      .doc = "decay of the infinity norm, in [0, 1]" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added to u for numerical stability, >= 0" },
};

// Keras checks none of these. β1 = 1 divides by 1 − β1^t = 0; β2 = 1 is
// harmless here (no bias correction of u), a negative one is not.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double b1 = p[P_BETA_1].num, b2 = p[P_BETA_2].num, eps = p[P_EPSILON].num;
    if (!(b1 >= 0.0 && b1 < 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_1 must be in [0, 1), got %g", b1);
    if (!(b2 >= 0.0 && b2 <= 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_2 must be in [0, 1], got %g", b2);
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
    if (info->t < 1)
        return ctx->host->set_error(SOMA_E_INVALID, "step count t must be >= 1, "
                                    "got %lld", (long long)info->t);
    if (!slots || !slots[0] || !slots[1])
        return ctx->host->set_error(SOMA_E_STATE, "moment slots missing");

    const double b1 = self->params[P_BETA_1].num;
    const float omb1 = (float)(1.0 - b1);
    const float b2 = (float)self->params[P_BETA_2].num;
    const float eps = (float)self->params[P_EPSILON].num;
    const float lr = (float)info->lr;
    // Keras raises β1 cast to float32 to the power t, in float32, and forms
    // 1 − β1^t in float32.
    const float b1t = (float)pow((double)(float)b1, (double)info->t);
    const float bc1 = 1.0f - b1t;

    float *m = slots[0], *u = slots[1];
    for (size_t i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * omb1;
        u[i] = fmaxf(b2 * u[i], fabsf(g[i]));
        x[i] -= (lr * m[i]) / (bc1 * (u[i] + eps));
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "adamax", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "adamax",
    .aliases = NULL, .doc = "Adamax (Kingma & Ba): Adam with the infinity norm",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, adamax, items, 1)
