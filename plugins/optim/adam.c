/* adam — Keras' Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
 * epsilon=1e-7, amsgrad=False):
 *   m += (g − m)(1 − β1);  v += (g² − v)(1 − β2);  amsgrad: v̂ = max(v̂, v)
 *   α = lr·sqrt(1 − β2^t)/(1 − β1^t);  x −= α·m/(sqrt(v or v̂) + ε)
 * ε is added to the un-corrected sqrt(v) (the paper's "epsilon hat").
 * Slots: m, v, and v̂ with amsgrad. Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_BETA_1, P_BETA_2, P_EPSILON, P_AMSGRAD };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "beta_1", .type = SOMA_PARAM_FLOAT, .def_num = 0.9,
      .doc = "decay of the first-moment estimate, in [0, 1)" },
    { .name = "beta_2", .type = SOMA_PARAM_FLOAT, .def_num = 0.999,
      .doc = "decay of the second-moment estimate, in [0, 1)" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added to sqrt(v) for numerical stability" },
    { .name = "amsgrad", .type = SOMA_PARAM_BOOL, .def_num = 0,
      .doc = "use the running maximum of v (AMSGrad)" },
};

// Keras itself checks none of these, but β = 1 divides by 1 − β^t = 0 and a
// negative ε can divide by zero, so they are refused before training starts.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double b1 = p[P_BETA_1].num, b2 = p[P_BETA_2].num, eps = p[P_EPSILON].num;
    if (!(b1 >= 0.0 && b1 < 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_1 must be in [0, 1), got %g", b1);
    if (!(b2 >= 0.0 && b2 < 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_2 must be in [0, 1), got %g", b2);
    if (!(eps >= 0.0 && isfinite(eps)))
        return host->set_error(SOMA_E_INVALID, "epsilon must be >= 0, got %g", eps);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    return self->params[P_AMSGRAD].num != 0.0 ? 3u : 2u;
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    const int amsgrad = self->params[P_AMSGRAD].num != 0.0;
    if (info->t < 1)
        return ctx->host->set_error(SOMA_E_INVALID, "step count t must be >= 1, "
                                    "got %lld", (long long)info->t);
    if (!slots || !slots[0] || !slots[1] || (amsgrad && !slots[2]))
        return ctx->host->set_error(SOMA_E_STATE, "moment slots missing");

    // As Keras does: 1 − β is formed from the Python float (double) and then
    // meets float32 tensors, while β^t is the power of β cast to float32
    // (so 1 − β2^t at t = 1 is 1 − 0.99900001f, not 0.001).
    const double b1 = self->params[P_BETA_1].num, b2 = self->params[P_BETA_2].num;
    const float eps = (float)self->params[P_EPSILON].num;
    const float omb1 = (float)(1.0 - b1), omb2 = (float)(1.0 - b2);
    const double t = (double)info->t;
    const float alpha = (float)(info->lr * sqrt(1.0 - pow((double)(float)b2, t)) /
                                (1.0 - pow((double)(float)b1, t)));

    float *m = slots[0], *v = slots[1];
    if (amsgrad) {
        float *vh = slots[2];
        for (size_t i = 0; i < n; i++) {
            m[i] += (g[i] - m[i]) * omb1;
            v[i] += (g[i] * g[i] - v[i]) * omb2;
            vh[i] = fmaxf(vh[i], v[i]);
            x[i] -= (m[i] * alpha) / (sqrtf(vh[i]) + eps);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            m[i] += (g[i] - m[i]) * omb1;
            v[i] += (g[i] * g[i] - v[i]) * omb2;
            x[i] -= (m[i] * alpha) / (sqrtf(v[i]) + eps);
        }
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "adam", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "adam",
    .aliases = NULL, .doc = "Adam (Kingma & Ba) with optional AMSGrad",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, adam, items, 1)
