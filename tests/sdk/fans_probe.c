/* fans_probe.c — an initializer that shows soma_init_eval's inputs
 * (tests/test_sdk.c): U[0, 1) from ctx->rng in every element, then fan_in in
 * element 0 and fan_out in element 1, and element `skip` (when >= 0) left as
 * the host gave it, to prove an unwritten element is caught. */
#include <soma/plugin.h>

enum { P_SKIP, P_SEED };
static const soma_param_spec params[] = {
    {.name = "skip", .type = SOMA_PARAM_INT, .def_num = -1, .doc = "element not to write"},
    {.name = "seed", .type = SOMA_PARAM_INT, .def_num = 0, .doc = "overrides the seed"},
};

static int fill(const soma_instance *self, const soma_ctx *ctx, const soma_tview *out,
                const soma_fans *fans) {
    int64_t n = soma_tview_numel(out), skip = (int64_t)self->params[P_SKIP].num;
    float keep = skip >= 0 && skip < n ? out->data[skip] : 0;
    ctx->host->rng_uniform(ctx->rng, out->data, (size_t)n, 0.0f, 1.0f);
    if (n > 0) out->data[0] = (float)fans->fan_in;
    if (n > 1) out->data[1] = (float)fans->fan_out;
    if (skip >= 0 && skip < n) out->data[skip] = keep;
    return SOMA_OK;
}

static const soma_init_vt vt = {.size = sizeof vt, .name = "fans_probe", .fill = fill};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_INIT,
                                   .name = "fans_probe", .vtable = &vt, .params = params,
                                   .n_params = 2, .doc = "shows fans and the random stream"}};
SOMA_PLUGIN_DEFINE(init, fans_probe, items, 1)
