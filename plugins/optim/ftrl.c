/* ftrl — Keras' Ftrl(learning_rate=0.001, learning_rate_power=-0.5,
 * initial_accumulator_value=0.1, l1_regularization_strength=0.0,
 * l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
 * beta=0.0), "follow the regularized leader" (McMahan et al.). With p the
 * learning_rate_power:
 *   l2' = l2 + β/(2·lr);  g' = g + 2·l2_shrinkage·x;  n' = n + g²
 *   z  += g' − (n'^(−p) − n^(−p))/lr · x
 *   x   = (clip(z, −l1, l1) − z) / (n'^(−p)/lr + 2·l2');  n = n'
 * (n' grows with the raw g², not g'.) Slots: n (starts at
 * initial_accumulator_value, so it is filled in init_slots) and z (starts
 * at 0). Element arithmetic in float32 as Keras. */
#include <math.h>

#include <soma/plugin.h>

enum { P_LR, P_POWER, P_INITIAL, P_L1, P_L2, P_L2_SHRINKAGE, P_BETA };
static const soma_param_spec params[] = {
    { .name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.001,
      .doc = "step size, > 0" },
    { .name = "learning_rate_power", .type = SOMA_PARAM_FLOAT, .def_num = -0.5,
      .doc = "power of the accumulator that scales the rate, <= 0 (0: fixed rate)" },
    { .name = "initial_accumulator_value", .type = SOMA_PARAM_FLOAT, .def_num = 0.1,
      .doc = "starting value of the sum of squared gradients, >= 0" },
    { .name = "l1_regularization_strength", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "L1 strength, >= 0" },
    { .name = "l2_regularization_strength", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "L2 (stabilization) strength, >= 0" },
    { .name = "l2_shrinkage_regularization_strength", .type = SOMA_PARAM_FLOAT,
      .def_num = 0.0, .doc = "L2 shrinkage (magnitude penalty added to g), >= 0" },
    { .name = "beta", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "the paper's beta, added to l2 as beta/(2*lr)" },
};

// The checks of Keras' Ftrl constructor, written so that NaN fails too; beta
// Keras leaves unchecked, here it only has to be a number.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double pw = p[P_POWER].num, a0 = p[P_INITIAL].num;
    if (!(a0 >= 0.0 && isfinite(a0)))
        return host->set_error(SOMA_E_INVALID,
                               "initial_accumulator_value must be >= 0, got %g", a0);
    if (!(pw <= 0.0 && isfinite(pw)))
        return host->set_error(SOMA_E_INVALID, "learning_rate_power must be <= 0, got %g",
                               pw);
    static const struct { int idx; const char *name; } nonneg[] = {
        { P_L1, "l1_regularization_strength" },
        { P_L2, "l2_regularization_strength" },
        { P_L2_SHRINKAGE, "l2_shrinkage_regularization_strength" },
    };
    for (size_t k = 0; k < sizeof nonneg / sizeof nonneg[0]; k++) {
        double v = p[nonneg[k].idx].num;
        if (!(v >= 0.0 && isfinite(v)))
            return host->set_error(SOMA_E_INVALID, "%s must be >= 0, got %g",
                                   nonneg[k].name, v);
    }
    if (!isfinite(p[P_BETA].num))
        return host->set_error(SOMA_E_INVALID, "beta must be a finite number, got %g",
                               p[P_BETA].num);
    return SOMA_OK;
}

static uint32_t slot_count(const soma_instance *self) {
    (void)self;
    return 2u;
}

static int init_slots(const soma_instance *self, const soma_ctx *ctx,
                      float *const *slots, size_t n) {
    if (!slots || (n > 0 && (!slots[0] || !slots[1])))
        return ctx->host->set_error(SOMA_E_STATE, "ftrl slots missing");
    const float a0 = (float)self->params[P_INITIAL].num;
    for (size_t i = 0; i < n; i++) {
        slots[0][i] = a0;
        slots[1][i] = 0.0f;
    }
    return SOMA_OK;
}

SOMA_VECTORIZE
static int step(const soma_instance *self, const soma_ctx *ctx, float *x,
                const float *g, float *const *slots, size_t n,
                const soma_step_info *info) {
    // Keras divides by lr (and by 2·lr for β): a zero rate gives NaN weights.
    if (!(info->lr > 0.0 && isfinite(info->lr)))
        return ctx->host->set_error(SOMA_E_INVALID, "learning rate must be > 0, got %g",
                                    info->lr);
    if (!slots || !slots[0] || !slots[1])
        return ctx->host->set_error(SOMA_E_STATE, "ftrl slots missing");

    const soma_param_value *p = self->params;
    const float lr = (float)info->lr;
    // As Keras: Python floats meet the float32 rate as float32 (2·lr, then
    // β/(2·lr), then l2 + that), while 2·l2_shrinkage is formed from the
    // Python float first.
    const float l2r = (float)p[P_L2].num + (float)p[P_BETA].num / (2.0f * lr);
    const float twol2 = 2.0f * l2r;
    const float shr2 = (float)(2.0 * p[P_L2_SHRINKAGE].num);
    const float l1 = (float)p[P_L1].num;
    const float e = (float)(-p[P_POWER].num);
    const int half = e == 0.5f;

    float *acc = slots[0], *z = slots[1];
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i], xi = x[i];
        const float gs = gi + shr2 * xi;
        const float an = acc[i] + gi * gi;
        // The default power −0.5 is a square root; sqrtf is exact where powf
        // may be off by an ulp.
        const float pn = half ? sqrtf(an) : powf(an, e);
        const float po = half ? sqrtf(acc[i]) : powf(acc[i], e);
        z[i] += gs - ((pn - po) / lr) * xi;
        const float q = pn / lr + twol2;
        const float zc = fminf(fmaxf(z[i], -l1), l1);
        x[i] = (zc - z[i]) / q;
        acc[i] = an;
    }
    return SOMA_OK;
}

static const soma_optim_vt vt = { .size = sizeof vt, .name = "ftrl", .create = create,
                                  .slot_count = slot_count, .init_slots = init_slots,
                                  .step = step };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "ftrl",
    .aliases = NULL, .doc = "FTRL-Proximal (McMahan et al.) with L1, L2 and L2 shrinkage",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(optim, ftrl, items, 1)
