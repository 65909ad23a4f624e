/* nadam — Keras' Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
 * epsilon=1e-7), Adam with Nesterov momentum (Dozat):
 *   u_s = β1(1 − 0.5·0.96^s)
 *   once per apply, before the per-tensor steps: u_prod *= u_t  (u_prod starts at 1)
 *   m += (g − m)(1 − β1);  v += (g² − v)(1 − β2)
 *   m̂ = u_{t+1}·m/(1 − u_prod·u_{t+1}) + (1 − u_t)·g/(1 − u_prod)
 *   v̂ = v/(1 − β2^t);  x −= lr·m̂/(sqrt(v̂) + ε)
 * u_prod is one scalar for the whole optimizer, so it lives in the state made
 * by create() and is advanced in begin_step; m and v are the slots. Keras casts
 * β1, β2 and 0.96 to float32 before any arithmetic here (unlike Adam, where
 * 1 − β comes from the Python float), and u_prod is a float32 variable. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_BETA_1, P_BETA_2, P_EPSILON };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size" },
    { .name = "beta_1", .type = SOMA_PARAM_FLOAT, .def_num = 0.9,
      .doc = "decay of the first-moment estimate, in [0, 1]" },
    { .name = "beta_2", .type = SOMA_PARAM_FLOAT, .def_num = 0.999,
      .doc = "decay of the second-moment estimate, in [0, 1)" },
    { .name = "epsilon", .type = SOMA_PARAM_FLOAT, .def_num = 1e-7,
      .doc = "added to sqrt(v_hat) for numerical stability, >= 0" },
};

typedef struct nadam_state {
    float u_prod; // Π_{s=1..t} u_s in float32, as Keras' variable
    int64_t t;    // the step u_prod was advanced for; 0 before the first
} nadam_state;

// Keras checks none of these. β2 = 1 divides by 1 − β2^t = 0; β1 = 1 keeps
// every u_s < 1, so it is allowed.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double b1 = p[P_BETA_1].num, b2 = p[P_BETA_2].num, eps = p[P_EPSILON].num;
    if (!(b1 >= 0.0 && b1 <= 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_1 must be in [0, 1], got %g", b1);
    if (!(b2 >= 0.0 && b2 < 1.0))
        return host->set_error(SOMA_E_INVALID, "beta_2 must be in [0, 1), got %g", b2);
    if (!(eps >= 0.0 && isfinite(eps)))
        return host->set_error(SOMA_E_INVALID, "epsilon must be >= 0, got %g", eps);
    nadam_state *s = host->alloc(sizeof *s, 0);
    if (!s) return host->set_error(SOMA_E_NOMEM, "cannot allocate the u_prod state");
    s->u_prod = 1.0f;
    s->t = 0;
    *state = s;
    return SOMA_OK;
}

static void destroy(const soma_host *host, void *state) { host->free(state); }

static uint32_t slot_count(const soma_instance *self) {
    (void)self;
    return 2u;
}

// u_s = β1·(1 − 0.5·0.96^s), every operation in float32 as Keras.
static float u_at(float b1, int64_t s) {
    const float p = (float)pow((double)0.96f, (double)s);
    return b1 * (1.0f - 0.5f * p);
}

static int begin_step(const soma_instance *self, const soma_ctx *ctx,
                      const soma_step_info *info) {
    nadam_state *s = self->state;
    if (!s) return ctx->host->set_error(SOMA_E_STATE, "nadam state missing");
    if (info->t < 1)
        return ctx->host->set_error(SOMA_E_INVALID, "step count t must be >= 1, "
                                    "got %lld", (long long)info->t);
    if (info->t == s->t) return SOMA_OK; // already advanced for this apply
    // Keras multiplies as (u_prod·β1)·(1 − 0.5·0.96^t); the order is kept so
    // the float32 product matches.
    const float b1 = (float)self->params[P_BETA_1].num;
    if (info->t == s->t + 1) {
        const float p = (float)pow((double)0.96f, (double)info->t);
        s->u_prod = (s->u_prod * b1) * (1.0f - 0.5f * p);
    } else {
        // A host that starts over or resumes at step t gets the u_prod Keras
        // would hold after t applies, rebuilt in the same float32 order.
        float up = 1.0f;
        for (int64_t k = 1; k <= info->t; k++) {
            const float p = (float)pow((double)0.96f, (double)k);
            up = (up * b1) * (1.0f - 0.5f * p);
        }
        s->u_prod = up;
    }
    s->t = info->t;
    return SOMA_OK;
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    const nadam_state *s = self->state;
    if (!s) return ctx->host->set_error(SOMA_E_STATE, "nadam state missing");
    if (info->t < 1)
        return ctx->host->set_error(SOMA_E_INVALID, "step count t must be >= 1, "
                                    "got %lld", (long long)info->t);
    if (s->t != info->t)
        return ctx->host->set_error(SOMA_E_STATE, "begin_step was not called for step "
                                    "%lld (u_prod is at step %lld)", (long long)info->t,
                                    (long long)s->t);
    if (!slots || !slots[0] || !slots[1])
        return ctx->host->set_error(SOMA_E_STATE, "moment slots missing");

    const float b1 = (float)self->params[P_BETA_1].num;
    const float b2 = (float)self->params[P_BETA_2].num;
    const float eps = (float)self->params[P_EPSILON].num;
    const float lr = (float)info->lr;
    const float u_t = u_at(b1, info->t), u_t1 = u_at(b1, info->t + 1);
    const float up = s->u_prod, up1 = up * u_t1;
    const float b2t = (float)pow((double)b2, (double)info->t);
    const float omb1 = 1.0f - b1, omb2 = 1.0f - b2, omu_t = 1.0f - u_t;
    const float den1 = 1.0f - up1, den0 = 1.0f - up, bc2 = 1.0f - b2t;

    float *m = slots[0], *v = slots[1];
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        m[i] += (gi - m[i]) * omb1;
        v[i] += (gi * gi - v[i]) * omb2;
        const float mh = (u_t1 * m[i]) / den1 + (omu_t * gi) / den0;
        const float vh = v[i] / bc2;
        x[i] -= (mh * lr) / (sqrtf(vh) + eps);
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "nadam", .create = create,
                                  .destroy = destroy, .slot_count = slot_count,
                                  .begin_step = begin_step, .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "nadam",
    .aliases = NULL, .doc = "Nadam (Dozat): Adam with Nesterov momentum",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, nadam, items, 1)
