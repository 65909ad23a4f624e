/* adamw — Keras' AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
 * beta_2=0.999, epsilon=1e-7, amsgrad=False).
 * The decoupled decay x −= lr·wd·x (before the update, on the pre-step
 * weights) is the core's: it applies it for every optimizer from the
 * optimizer's `weight_decay` parameter, as Keras' base class does. So this
 * plugin only declares weight_decay with AdamW's default and validates it,
 * and its step is Adam's:
 *   m += (g − m)(1 − β1);  v += (g² − v)(1 − β2);  amsgrad: v̂ = max(v̂, v)
 *   α = lr·sqrt(1 − β2^t)/(1 − β1^t);  x −= α·m/(sqrt(v or v̂) + ε)
 * Slots: m, v, and v̂ with amsgrad. Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_WEIGHT_DECAY, P_BETA_1, P_BETA_2, P_EPSILON, P_AMSGRAD };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "weight_decay", .type = SOMA_PARAM_FLOAT, .def_num = 0.004,
      .doc = "decoupled weight decay x -= lr*wd*x, applied by the core, >= 0" },
    { .name = "beta_1", .type = SOMA_PARAM_FLOAT, .def_num = 0.9,
      .doc = "decay of the first-moment estimate, in [0, 1)" },
    { .name = "beta_2", .type = SOMA_PARAM_FLOAT, .def_num = 0.999,
      .doc = "decay of the second-moment estimate, in [0, 1)" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added to sqrt(v) for numerical stability, >= 0" },
    { .name = "amsgrad", .type = SOMA_PARAM_BOOL, .def_num = 0,
      .doc = "use the running maximum of v (AMSGrad)" },
};

// Keras refuses only weight_decay=None (which a number cannot be here); a
// negative or non-finite decay would grow the weights, and the β/ε ranges
// are Adam's (β = 1 divides by 1 − β^t = 0).
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double wd = p[P_WEIGHT_DECAY].num;
    double b1 = p[P_BETA_1].num, b2 = p[P_BETA_2].num, eps = p[P_EPSILON].num;
    if (!(wd >= 0.0 && isfinite(wd)))
        return host->set_error(SOMA_E_INVALID,
                               "weight_decay must be a finite number >= 0, got %g", wd);
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

    // 1 − β from the Python float (double), β^t from β cast to float32, as
    // Keras does.
    const double b1 = self->params[P_BETA_1].num, b2 = self->params[P_BETA_2].num;
    const double t = (double)info->t;
    const float omb1 = (float)(1.0 - b1), omb2 = (float)(1.0 - b2);
    const float eps = (float)self->params[P_EPSILON].num;
    const float alpha = (float)(info->lr * sqrt(1.0 - pow((double)(float)b2, t)) /
                                (1.0 - pow((double)(float)b1, t)));

    float *m = slots[0], *v = slots[1], *vh = amsgrad ? slots[2] : NULL;
    for (size_t i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * omb1;
        v[i] += (g[i] * g[i] - v[i]) * omb2;
        float den = v[i];
        if (amsgrad) {
            vh[i] = fmaxf(vh[i], v[i]);
            den = vh[i];
        }
        x[i] -= (m[i] * alpha) / (sqrtf(den) + eps);
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "adamw", .create = create,
                                  .slot_count = slot_count, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "adamw",
    .aliases = NULL, .doc = "AdamW (Loshchilov & Hutter): Adam with decoupled weight decay",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, adamw, items, 1)
