/* random_uniform — Keras' RandomUniform(minval=-0.05, maxval=0.05): U[minval, maxval). */
#include <math.h>

#include <soma/plugin.h>

enum { P_MINVAL, P_MAXVAL, P_SEED };
static const soma_param_spec params[] = {
    { .name = "minval", .type = SOMA_PARAM_FLOAT, .def_num = -0.05,
      .doc = "lower bound (inclusive)" },
    { .name = "maxval", .type = SOMA_PARAM_FLOAT, .def_num = 0.05,
      .doc = "upper bound (exclusive)" },
    { .name = "seed", .type = SOMA_PARAM_INT, .def_num = 0,
      .doc = "overrides the model seed for this initializer" },
};

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double lo = p[P_MINVAL].num, hi = p[P_MAXVAL].num;
    if (!isfinite(lo) || !isfinite(hi))
        return host->set_error(SOMA_E_INVALID, "minval and maxval must be finite, "
                               "got minval=%g, maxval=%g", lo, hi);
    if (hi < lo)
        return host->set_error(SOMA_E_INVALID, "maxval (%g) must be >= minval (%g)",
                               hi, lo);
    // The host turns the seed into an unsigned key; a negative one has no
    // meaning there.
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
    ctx->host->rng_uniform(ctx->rng, out->data, (size_t)n,
                           (float)self->params[P_MINVAL].num,
                           (float)self->params[P_MAXVAL].num);
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "random_uniform",
                                 .create = create, .fill = fill };
static const char *const aliases[] = { "uniform", NULL };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "random_uniform",
    .aliases = aliases, .doc = "uniform in [minval, maxval) (Keras RandomUniform)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, random_uniform, items, 1)
