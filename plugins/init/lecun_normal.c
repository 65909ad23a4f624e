/* lecun_normal — Keras' LecunNormal: VarianceScaling(scale=1, mode=fan_in,
 * distribution=truncated_normal), i.e. std sqrt(1/fan_in) after truncation
 * at 2 sigma. */
#include <math.h>

#include <soma/plugin.h>

enum { P_SEED };
static const soma_param_spec params[] = {
    { .name = "seed", .type = SOMA_PARAM_INT, .def_num = 0,
      .doc = "overrides the model seed for this initializer" },
};

// Standard deviation of a standard normal truncated to [-2, 2]. Keras divides
// by it so that the std *after* truncation is the target.
#define TRUNC_STD_2SIGMA 0.87962566103423978

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
    double fan = fans->fan_in < 1.0 ? 1.0 : fans->fan_in;
    float sigma = (float)(sqrt(1.0 / fan) / TRUNC_STD_2SIGMA);
    ctx->host->rng_truncated_normal(ctx->rng, out->data, (size_t)n, 0.0f, sigma);
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "lecun_normal",
                                 .create = create, .fill = fill };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "lecun_normal",
    .aliases = NULL,
    .doc = "truncated normal with std sqrt(1/fan_in) after truncation (Keras LecunNormal)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, lecun_normal, items, 1)
