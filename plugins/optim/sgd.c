/* sgd — Keras' SGD(learning_rate=0.01, momentum=0.0, nesterov=False).
 *   momentum 0:  x -= lr·g
 *   momentum μ:  m = μ·m − lr·g;  plain x += m;  nesterov x += μ·m − lr·g
 * (m is the new velocity in both). Arithmetic in float32, as Keras does. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_MOMENTUM, P_NESTEROV };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.01,
      .doc = "step size" },
    { .name = "momentum", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "velocity decay in [0, 1]; 0 disables momentum" },
    { .name = "nesterov", .type = SOMA_PARAM_BOOL, .def_num = 0,
      .doc = "use Nesterov momentum (no effect when momentum is 0)" },
};

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double mu = p[P_MOMENTUM].num;
    // Written so that NaN fails too.
    if (!(mu >= 0.0 && mu <= 1.0))
        return host->set_error(SOMA_E_INVALID, "momentum must be in [0, 1], got %g",
                               mu);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    return self->params[P_MOMENTUM].num > 0.0 ? 1u : 0u;
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    const float lr = (float)info->lr;
    const float mu = (float)self->params[P_MOMENTUM].num;
    if (self->params[P_MOMENTUM].num <= 0.0) {
        for (size_t i = 0; i < n; i++) x[i] -= lr * g[i];
        return SOMA_OK;
    }
    if (!slots || !slots[0])
        return ctx->host->set_error(SOMA_E_STATE, "momentum slot missing");
    float *m = slots[0];
    if (self->params[P_NESTEROV].num != 0.0) {
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] - lr * g[i];
            x[i] += mu * m[i] - lr * g[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] - lr * g[i];
            x[i] += m[i];
        }
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "sgd", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "sgd",
    .aliases = NULL, .doc = "stochastic gradient descent with optional (Nesterov) momentum",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, sgd, items, 1)
