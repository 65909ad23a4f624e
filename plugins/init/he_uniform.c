/* he_uniform — Keras' HeUniform: VarianceScaling(scale=2, mode=fan_in,
 * distribution=uniform), i.e. U[-limit, limit] with limit = sqrt(6/fan_in). */
#include <math.h>

#include <soma/plugin.h>

enum { P_SEED };
static const soma_param_spec params[] = {
    { .name = "seed", .type = SOMA_PARAM_INT, .def_num = 0,
      .doc = "overrides the model seed for this initializer" },
};

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    if (p[P_SEED].is_set && p[P_SEED].num < 0)
        return host->set_error(SOMA_E_INVALID, "seed must be >= 0, got %g",
                               p[P_SEED].num);
    return SOMA_OK;
}

static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)self;
    int64_t n = soma_tview_numel(out);
    if (n <= 0) return SOMA_OK;
    // sqrt(3·scale/n) with scale 2, as VarianceScaling writes it.
    double fan = fans->fan_in < 1.0 ? 1.0 : fans->fan_in;
    float limit = (float)sqrt(3.0 * 2.0 / fan);
    ctx->host->rng_uniform(ctx->rng, out->data, (size_t)n, -limit, limit);
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "he_uniform",
                                 .create = create, .fill = fill };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "he_uniform",
    .aliases = NULL,
    .doc = "uniform in [-sqrt(6/fan_in), +same] (Keras HeUniform)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, he_uniform, items, 1)
