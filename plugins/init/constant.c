/* constant — Keras' Constant(value=0.0): every element is `value`. */
#include <math.h>

#include <soma/plugin.h>

enum { P_VALUE };
static const soma_param_spec params[] = {
    { .name = "value", .type = SOMA_PARAM_FLOAT, .def_num = 0.0,
      .doc = "the value of every element" },
};

// A non-finite constant would silently poison every later computation, so it
// is refused up front (Keras accepts it, but nothing useful can follow).
static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    if (!isfinite(p[P_VALUE].num))
        return host->set_error(SOMA_E_INVALID, "value must be finite, got %g",
                               p[P_VALUE].num);
    return SOMA_OK;
}

static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)ctx; (void)fans;
    float v = (float)self->params[P_VALUE].num;
    int64_t n = soma_tview_numel(out);
    for (int64_t i = 0; i < n; i++) out->data[i] = v;
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "constant",
                                 .create = create, .fill = fill };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "constant",
    .aliases = NULL, .doc = "all elements equal to value (Keras Constant)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, constant, items, 1)
