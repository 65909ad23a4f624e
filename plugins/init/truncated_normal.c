/* truncated_normal — Keras' TruncatedNormal(mean=0.0, stddev=0.05):
 * N(mean, stddev²) re-drawn until within mean ± 2·stddev. Unlike
 * VarianceScaling there is no correction factor, so the std of the result is
 * about 0.8796·stddev. */
#include <math.h>

#include <soma/plugin.h>

enum { P_MEAN, P_STDDEV, P_SEED };
static const soma_param_spec params[] = {
    { .name = "mean", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "mean of the normal distribution" },
    { .name = "stddev", .type = SOMA_PARAM_FLOAT, .def_num = 0.05,
      .doc = "standard deviation before truncation at mean +- 2 stddev" },
    { .name = "seed", .type = SOMA_PARAM_INT, .def_num = 0,
      .doc = "overrides the model seed for this initializer" },
};

// Keras checks neither value; only what cannot make numbers is refused.
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    if (!isfinite(p[P_MEAN].num) || !isfinite(p[P_STDDEV].num))
        return host->set_error(SOMA_E_INVALID, "mean and stddev must be finite, "
                               "got mean=%g, stddev=%g", p[P_MEAN].num,
                               p[P_STDDEV].num);
    if (p[P_SEED].is_set && p[P_SEED].num < 0)
        return host->set_error(SOMA_E_INVALID, "seed must be >= 0, got %g",
                               p[P_SEED].num);
    return SOMA_OK;
}

static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)fans;
    int64_t n = soma_tview_numel(out);
    if (n <= 0) return SOMA_OK;
    ctx->host->rng_truncated_normal(ctx->rng, out->data, (size_t)n,
                                    (float)self->params[P_MEAN].num,
                                    (float)self->params[P_STDDEV].num);
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "truncated_normal",
                                 .create = create, .fill = fill };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "truncated_normal",
    .aliases = NULL,
    .doc = "normal N(mean, stddev^2) truncated at 2 stddev, no rescaling (Keras TruncatedNormal)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, truncated_normal, items, 1)
