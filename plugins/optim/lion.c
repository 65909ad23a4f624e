/* lion — Keras' Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99)
 * (Chen et al., "evolved sign momentum"):
 *   x −= lr·sign(β1·m + (1 − β1)·g);  then m = β2·m + (1 − β2)·g
 * sign(0) = 0. The one slot, m, starts at 0. Keras casts β1 and β2 to float32
 * before forming 1 − β, so all arithmetic here is float32. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_BETA_1, P_BETA_2 };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "beta_1", .type = SOMA_PARAM_FLOAT, .def_num = 0.9,
      .doc = "weight of the momentum in the update direction, in (0, 1]" },
    { .name = "beta_2", .type = SOMA_PARAM_FLOAT, .def_num = 0.99,
      .doc = "decay of the momentum, in [0, 1]" },
};

// β1 is Keras' own check (β1 = 0 degenerates to signSGD). Keras leaves β2
// alone; outside [0, 1] the momentum would grow without bound.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double b1 = p[P_BETA_1].num, b2 = p[P_BETA_2].num;
    if (!(b1 > 0.0 && b1 <= 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_1 must be in (0, 1], got %g "
                               "(0 degenerates to SignSGD)", b1);
    if (!(b2 >= 0.0 && b2 <= 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_2 must be in [0, 1], got %g", b2);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    (void)self;
    return 1u;
}

// NaN stays NaN, as Keras' sign does.
static inline float sign_of(float c) { return c > 0.0f ? 1.0f : c < 0.0f ? -1.0f : c; }

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    if (!slots || !slots[0])
        return ctx->host->set_error(SOMA_E_STATE, "momentum slot missing");
    const float lr = (float)info->lr;
    const float b1 = (float)self->params[P_BETA_1].num;
    const float b2 = (float)self->params[P_BETA_2].num;
    const float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
    float *m = slots[0];
    for (size_t i = 0; i < n; i++) {
        const float c = m[i] * b1 + g[i] * omb1;
        x[i] -= lr * sign_of(c);
        m[i] = m[i] * b2 + g[i] * omb2;
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "lion", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "lion",
    .aliases = NULL, .doc = "Lion (Chen et al.): sign of interpolated momentum",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, lion, items, 1)
