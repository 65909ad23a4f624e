/* adagrad — Keras' Adagrad(learning_rate=0.001, initial_accumulator_value=0.1,
 * epsilon=1e-7):
 *   acc += g²;  x −= lr·g / sqrt(acc + ε)
 * The one slot, acc, starts at initial_accumulator_value (not 0), so it is
 * filled in init_slots. Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_INITIAL, P_EPSILON };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "initial_accumulator_value", .type = SOMA_PARAM_FLOAT, .def_num = 0.1,
      .doc = "starting value of the sum of squared gradients, >= 0" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added inside the square root, >= 0" },
};

// Keras documents the accumulator as non-negative without checking it; a
// negative start (or ε) takes the square root of a negative number, so both
// are refused here before training starts.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double a0 = p[P_INITIAL].num, eps = p[P_EPSILON].num;
    if (!(a0 >= 0.0 && isfinite(a0)))
        return host->set_error(SOMA_E_INVALID,
                               "initial_accumulator_value must be >= 0, got %g", a0);
    if (!(eps >= 0.0 && isfinite(eps)))
        return host->set_error(SOMA_E_INVALID, "epsilon must be >= 0, got %g", eps);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    (void)self;
    return 1u;
}

static int init_slots(const soma_instance *self, const soma_ctx *ctx,
                      float *const *slots, size_t n) {
    if (!slots || (n > 0 && !slots[0]))
        return ctx->host->set_error(SOMA_E_STATE, "accumulator slot missing");
    const float a0 = (float)self->params[P_INITIAL].num;
    for (size_t i = 0; i < n; i++) slots[0][i] = a0;
    return SOMA_OK;
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    if (!slots || !slots[0])
        return ctx->host->set_error(SOMA_E_STATE, "accumulator slot missing");
    const float lr = (float)info->lr;
    const float eps = (float)self->params[P_EPSILON].num;
    float *acc = slots[0];
    for (size_t i = 0; i < n; i++) {
        acc[i] += g[i] * g[i];
        x[i] -= (lr * g[i]) / sqrtf(acc[i] + eps);
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "adagrad", .create = create,
                                  .slot_count = slot_count, .init_slots = init_slots,
                                  .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "adagrad",
    .aliases = NULL, .doc = "Adagrad (Duchi et al.): per-parameter rates from summed g²",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, adagrad, items, 1)
