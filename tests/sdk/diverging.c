/* diverging.c — a deliberately wrong optimizer for `soma plugin check`: it
 * steps along the gradient instead of against it, so a convex quadratic
 * grows. The check must fail it for not decreasing (tests/test_sdk.c). */
#include <soma/plugin.h>

static const soma_param_spec params[] = {
    {.name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.1, .doc = "step size"},
};

static int step(const soma_instance *self, const soma_ctx *ctx, float *param, const float *grad,
                float *const *slots, size_t n, const soma_step_info *info) {
    (void)self, (void)ctx, (void)slots;
    for (size_t i = 0; i < n; i++) param[i] += (float)info->lr * grad[i]; // the bug: += not -=
    return SOMA_OK;
}

static const soma_optim_vt vt = {.size = sizeof vt, .name = "diverging", .step = step};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM,
                                   .name = "diverging", .vtable = &vt, .params = params,
                                   .n_params = 1, .doc = "gradient ascent"}};
SOMA_PLUGIN_DEFINE(optim, diverging, items, 1)
